/**
 * A private Mosquitto broker for `enfpire soak` and the integration tests: own loopback port, own config and log in a
 * temp folder, killed on stop() and, as a safety net, when the process exits or is terminated. Never the system
 * broker on :1883. Restartable on the same port (the broker-restart fault).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError } from '../util/errors.js';

export interface MosquittoOptions {
  /** Extra mosquitto.conf lines appended to the listener block (e.g. TLS settings, max_packet_size). */
  extraConfig?: string[];
  /** Listen on this port instead of a free one (e.g. to restart a broker where clients expect it). */
  port?: number;
  /** How long to wait for the broker to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

export interface Mosquitto {
  url: string;
  port: number;
  /** The broker process, for sampling its memory and open files. */
  pid: number | undefined;
  /** The temp folder holding mosquitto.conf and mosquitto.log (removed on stop). */
  dir: string;
  /** The broker's log so far (connections, subscriptions, errors) — useful in assertions and failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Live brokers and their temp folders, for the exit hook. */
const running = new Map<ChildProcess, string>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const [child, dir] of running) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    running.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Kill the brokers, then let the signal do what it would have done without us.
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

function findMosquitto(): string {
  const candidates = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'mosquitto'));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new UserError('mosquitto is not installed: install it (Debian: apt-get install mosquitto); the soak and the MQTT tests start their own broker.');
  }
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tail(file: string, lines = 10): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A failed start that is worth retrying: another process took the port between freePort() and the bind. */
class PortTaken extends Error {}

async function startOnce(binary: string, opts: MosquittoOptions): Promise<Mosquitto> {
  const port = opts.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-mosquitto-'));
  const logFile = join(dir, 'mosquitto.log');
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'per_listener_settings false',
      // Started as root, mosquitto would switch to the 'mosquitto' user, which can not write our temp folder.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'allow_anonymous true',
      'persistence false',
      `log_dest file ${logFile}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
      `listener ${port} 127.0.0.1`,
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  // A broker left running by a forgotten stop() must not keep the test process alive; the exit hook kills it.
  child.unref();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  (child.stderr as Socket | null)?.unref();
  running.set(child, dir);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
    child.once('error', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exitedPromise;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (exited) break;
    if (await canConnect(port)) {
      return { url: `mqtt://127.0.0.1:${port}`, port, pid: child.pid, dir, log: () => readFile(logFile, 'utf8').catch(() => ''), stop };
    }
    await sleep(50);
  }
  const why = `${stderr.trim()}\n${await tail(logFile)}`.trim();
  await stop();
  const message = `mosquitto did not start on 127.0.0.1:${port}: ${why || 'no output'}`;
  throw exited && /address already in use/i.test(why) ? new PortTaken(message) : new Error(message);
}

/** Starts a private Mosquitto on a free loopback port and resolves once it accepts connections. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const binary = findMosquitto();
  installExitHooks();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, opts);
    } catch (err) {
      if (attempt >= 3 || opts.port || !(err instanceof PortTaken)) throw err;
    }
  }
}
