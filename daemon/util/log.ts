import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The structured logger every long-lived part receives. JSON lines on stderr by default so stdout stays
 * free for command output (the demo's result lines and summary).
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    { name: options.name ?? 'enfpire', level: options.level ?? process.env.ENFPIRE_LOG_LEVEL ?? 'info' },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything: for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
