/**
 * sd_notify(3) for the edge daemon: READY=1 once the pipeline runs, STATUS=… for `systemctl status`, and WATCHDOG=1
 * only while the pipeline makes progress (DESIGN §8).
 *
 * Node has no AF_UNIX datagram sockets, so messages go through systemd's own `systemd-notify` tool, spawned with an
 * argument array (never a shell). It is present wherever NOTIFY_SOCKET is set, needs no native addon and handles
 * abstract ('@…') and path sockets itself. The cost: the sender is a child process, not the main PID, so the unit
 * needs `NotifyAccess=all` (with the default `NotifyAccess=main` systemd drops the messages), and each message costs
 * one short process spawn (a few per WatchdogSec). A native sender (the `unix-dgram` package) could replace
 * `sendWithSystemdNotify` behind the same NotifySender type and allow `NotifyAccess=main`.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';

/** Sends one notification (already formatted `KEY=value` assignments); rejects when it could not be delivered. */
export type NotifySender = (assignments: string[], env: NodeJS.ProcessEnv) => Promise<void>;

export const sendWithSystemdNotify: NotifySender = (assignments, env) =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', assignments, { env, timeout: 5_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`systemd-notify failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });

export interface SystemdNotifierOptions {
  /** Default process.env: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID come from here. */
  env?: NodeJS.ProcessEnv;
  send?: NotifySender;
  /** Our PID, compared with WATCHDOG_PID (default process.pid). */
  pid?: number;
  logger?: Logger;
}

export class SystemdNotifier {
  private readonly env: NodeJS.ProcessEnv;
  private readonly send: NotifySender;
  private readonly pid: number;
  private readonly log: Logger;
  private failures = 0;

  constructor(options: SystemdNotifierOptions = {}) {
    this.env = options.env ?? process.env;
    this.send = options.send ?? sendWithSystemdNotify;
    this.pid = options.pid ?? process.pid;
    this.log = options.logger ?? silentLogger();
  }

  /** False when not started by systemd with Type=notify: every call is then a no-op. */
  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /**
   * The watchdog period systemd expects pings within (WATCHDOG_USEC, ms), or null when the watchdog is off or meant
   * for another process (WATCHDOG_PID).
   */
  watchdogMs(): number | null {
    if (!this.enabled) return null;
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!Number.isFinite(usec) || usec <= 0) return null;
    if (this.env.WATCHDOG_PID && Number(this.env.WATCHDOG_PID) !== this.pid) return null;
    return usec / 1000;
  }

  ready(status?: string): Promise<boolean> {
    return this.notify({ READY: '1', ...(status === undefined ? {} : { STATUS: status }) });
  }

  status(text: string): Promise<boolean> {
    return this.notify({ STATUS: text });
  }

  stopping(): Promise<boolean> {
    return this.notify({ STOPPING: '1' });
  }

  watchdog(status?: string): Promise<boolean> {
    return this.notify({ WATCHDOG: '1', ...(status === undefined ? {} : { STATUS: status }) });
  }

  /**
   * Sends the fields; resolves true when delivered, false when disabled or failed. Never rejects: a lost
   * notification is logged, and a lost watchdog ping is exactly what systemd's watchdog is there to notice.
   */
  async notify(fields: Record<string, string>): Promise<boolean> {
    if (!this.enabled) return false;
    // The protocol is newline-separated KEY=value lines: a newline inside a value would forge another field.
    const assignments = Object.entries(fields).map(([key, value]) => `${key}=${value.replace(/[\r\n]+/g, ' ')}`);
    try {
      await this.send(assignments, this.env);
      this.failures = 0;
      return true;
    } catch (err) {
      // Once per run of failures, so a missing systemd-notify does not flood the journal every watchdog period.
      if (this.failures++ === 0) this.log.warn({ err: (err as Error).message }, 'could not notify systemd');
      return false;
    }
  }
}

/** Progress counters the watchdog compares between checks; EdgeDaemon.stats() provides them. */
export interface ProgressCounters {
  frames: number;
  extracted: number;
}

export interface ProgressWatchdogOptions {
  notifier: SystemdNotifier;
  /** Polled at every check; a counter that grew since the previous check counts as progress of that kind. */
  counters?: () => ProgressCounters;
  /** Check period; default half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. */
  intervalMs?: number;
  /** STATUS= sent with each ping (a one-line summary for `systemctl status`). */
  status?: () => string;
  logger?: Logger;
}

export type ProgressKind = keyof ProgressCounters;

/**
 * Pings WATCHDOG=1 once per period only when both frames arrived and extractions finished since the previous ping:
 * a stuck camera or a hung inference stops the pings and systemd restarts the unit, even though the event loop is
 * still turning. Progress comes from tick() or from polling counters.
 */
export class ProgressWatchdog {
  private readonly seen = new Set<ProgressKind>();
  private lastCounters: ProgressCounters | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<unknown> | undefined;
  private readonly log: Logger;
  private stalled = false;
  readonly intervalMs: number | null;

  constructor(private readonly options: ProgressWatchdogOptions) {
    const watchdogMs = options.notifier.watchdogMs();
    this.intervalMs = options.intervalMs ?? (watchdogMs === null ? null : watchdogMs / 2);
    this.log = options.logger ?? silentLogger();
  }

  /** Records progress of one kind since the last check. */
  tick(kind: ProgressKind): void {
    this.seen.add(kind);
  }

  /** No-op when systemd set no watchdog. */
  start(): void {
    if (this.intervalMs === null || this.timer) return;
    this.lastCounters = this.options.counters?.();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    // The daemon's own work keeps the process alive; the watchdog must not be the reason it stays up.
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** One period's decision: ping when there was progress of every kind, else stay silent. Returns whether it pinged. */
  async check(): Promise<boolean> {
    const counters = this.options.counters?.();
    if (counters && this.lastCounters) {
      for (const kind of ['frames', 'extracted'] as const) if (counters[kind] > this.lastCounters[kind]) this.seen.add(kind);
    }
    if (counters) this.lastCounters = counters;
    const progressed = this.seen.has('frames') && this.seen.has('extracted');
    if (!progressed) {
      if (!this.stalled) {
        this.log.warn({ seen: [...this.seen] }, 'no pipeline progress in this watchdog period: not feeding the systemd watchdog');
      }
      this.stalled = true;
      return false;
    }
    if (this.stalled) this.log.info('pipeline progressing again: feeding the systemd watchdog');
    this.stalled = false;
    // A ping still being delivered is not overtaken; the progress seen stays for the next period's ping.
    if (this.inFlight) return false;
    this.seen.clear();
    const ping = this.options.notifier.watchdog(this.options.status?.());
    this.inFlight = ping;
    try {
      return await ping;
    } finally {
      this.inFlight = undefined;
    }
  }
}
