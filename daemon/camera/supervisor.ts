import { spawn, type ChildProcess } from 'node:child_process';
import { silentLogger, type Logger } from '../util/log.js';

export interface RestartPolicy {
  /** Delay before the first restart; doubles per failure in a row. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface ProcessSupervisorOptions {
  /** Absolute path of the program (see findExecutable). */
  command: string;
  /** Argument array: never joined into a shell string. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  restart: RestartPolicy;
  /** No call to frameArrived() for this long: log, mark stalled, restart the program. */
  stallMs: number;
  /** Every stdout chunk. */
  onData: (chunk: Buffer) => void;
  /** The program ended (before a restart): partial frames must be forgotten. */
  onExit?: () => void;
  /** Grace period between SIGTERM and SIGKILL on stop. Default 2000 ms. */
  killTimeoutMs?: number;
  /** stderr lines logged per minute; the rest are counted and summarised. Default 20. */
  stderrLinesPerMinute?: number;
  logger?: Logger;
}

export interface SupervisorStats {
  running: boolean;
  restarts: number;
  lastFrameAt: number | null;
  stalled: boolean;
  /** Times the program went stallMs without a frame (each one restarted it). */
  stalls: number;
  lastError?: string;
}

/**
 * Keeps one capture program running: spawns it with an argument array, restarts it with capped exponential
 * backoff when it dies or cannot start, restarts it when it stalls, and logs its stderr without letting
 * a chatty program flood the log. stop() ends it (SIGTERM, then SIGKILL) and leaves no timer or handle.
 */
export class ProcessSupervisor {
  private readonly options: ProcessSupervisorOptions;
  private readonly logger: Logger;
  private child: ChildProcess | null = null;
  private childExited: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private stopped = true;
  private failuresInRow = 0;
  private restarts = 0;
  private spawnedAt = 0;
  private lastFrameAt: number | null = null;
  private stalled = false;
  private stalls = 0;
  /** Why the supervisor itself ended the running program (a stall), for health's lastError. */
  private killedBecause: string | null = null;
  /** Why the program last ended, with its last stderr line. */
  private lastError: string | undefined;
  private lastStderr: string | undefined;
  private stderrWindowStart = 0;
  private stderrLogged = 0;
  private stderrSuppressed = 0;

  constructor(options: ProcessSupervisorOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.launch();
    const check = Math.max(50, Math.min(1000, this.options.stallMs / 4));
    this.stallTimer = setInterval(() => this.checkStall(), check);
    this.stallTimer.unref();
  }

  /** The consumer got a whole frame from this program's output: it works. */
  frameArrived(): void {
    this.lastFrameAt = Date.now();
    this.failuresInRow = 0;
    if (this.stalled) {
      this.stalled = false;
      this.logger.info('camera: frames flow again');
    }
  }

  stats(): SupervisorStats {
    return {
      running: this.child !== null,
      restarts: this.restarts,
      lastFrameAt: this.lastFrameAt,
      stalled: this.stalled,
      stalls: this.stalls,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.restartTimer = null;
    this.stallTimer = null;
    await this.kill();
  }

  private launch(): void {
    this.restartTimer = null;
    if (this.stopped) return;
    const { command, args, env } = this.options;
    this.spawnedAt = Date.now();
    this.lastStderr = undefined;
    this.logger.info({ command, args }, 'camera: starting capture program');
    const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let exitDone!: () => void;
    this.childExited = new Promise((resolve) => (exitDone = resolve));
    let ended = false;
    const onEnd = (why: string): void => {
      if (ended) return;
      ended = true;
      if (this.child === child) this.child = null;
      exitDone();
      this.options.onExit?.();
      this.scheduleRestart(why);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!this.stopped) this.options.onData(chunk);
    });
    this.attachStderr(child);
    child.on('error', (error) => onEnd(`could not run ${command}: ${error.message}`));
    // 'close' (not 'exit'): stdout is drained, so the last whole frame was delivered before the restart.
    child.on('close', (code, signal) => {
      const how = signal ? `ended by ${signal}` : `exited with code ${code}`;
      const because = this.killedBecause;
      this.killedBecause = null;
      onEnd(because ? `${because}; ${how}` : how);
    });
  }

  private scheduleRestart(why: string): void {
    if (this.stopped) return;
    this.failuresInRow++;
    const { initialDelayMs, maxDelayMs } = this.options.restart;
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(this.failuresInRow - 1, 30));
    this.lastError = this.lastStderr ? `${why}; last stderr: ${this.lastStderr}` : why;
    this.logger.warn({ why, restartInMs: delay, failuresInRow: this.failuresInRow }, 'camera: capture program ended; restarting');
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      this.launch();
    }, delay);
  }

  private checkStall(): void {
    if (this.stopped || !this.child) return;
    const since = Math.max(this.lastFrameAt ?? 0, this.spawnedAt);
    if (Date.now() - since < this.options.stallMs) return;
    this.stalled = true;
    this.stalls++;
    this.logger.warn({ stallSeconds: this.options.stallMs / 1000 }, 'camera: no frames; restarting the capture program');
    // The restart follows from the exit, with backoff, like any other death.
    this.killedBecause = `no frames for ${this.options.stallMs / 1000} s (stalled)`;
    this.child.kill('SIGTERM');
    this.spawnedAt = Date.now();
  }

  private attachStderr(child: ChildProcess): void {
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      const lines = (partial + text).split(/\r?\n/);
      partial = lines.pop() ?? '';
      // A program that never ends a line still must not grow this string without bound.
      if (partial.length > 4096) partial = partial.slice(-4096);
      for (const line of lines) this.stderrLine(line.trim());
    });
    child.stderr?.on('end', () => this.stderrLine(partial.trim()));
  }

  private stderrLine(line: string): void {
    if (!line) return;
    this.lastStderr = line.slice(0, 500);
    const now = Date.now();
    if (now - this.stderrWindowStart >= 60_000) {
      if (this.stderrSuppressed > 0) this.logger.warn({ suppressed: this.stderrSuppressed }, 'camera: stderr lines not logged');
      this.stderrWindowStart = now;
      this.stderrLogged = 0;
      this.stderrSuppressed = 0;
    }
    if (this.stderrLogged < (this.options.stderrLinesPerMinute ?? 20)) {
      this.stderrLogged++;
      this.logger.warn({ stderr: this.lastStderr }, 'camera: capture program says');
    } else {
      this.stderrSuppressed++;
    }
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.options.killTimeoutMs ?? 2000);
      void this.childExited.then(() => clearTimeout(timer));
    });
    if ((await Promise.race([this.childExited.then(() => 'exited' as const), timeout])) === 'timeout') {
      this.logger.warn({ pid: child.pid }, 'camera: capture program ignored SIGTERM; killing it');
      child.kill('SIGKILL');
      await this.childExited;
    }
  }
}
