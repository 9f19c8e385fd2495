import type { Logger } from '../util/log.js';

/** Anything with start()/stop() that the CLI runs until SIGINT/SIGTERM. */
export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a service, then stops it cleanly on the first SIGINT/SIGTERM; resolves with the exit code. */
export async function runUntilSignalled(service: Service, logger: Logger, what: string): Promise<number> {
  try {
    await service.start();
  } catch (err) {
    // Whatever started before the failure (a broker connection, a listener) must not keep the process alive.
    await service.stop().catch((stopErr: Error) => logger.warn({ err: stopErr.message }, `${what}: could not stop every part after a failed start`));
    throw err;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal }, `${what} stopping`);
  await service.stop();
  return 0;
}
