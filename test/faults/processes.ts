/**
 * The shipped services as their own processes (`bin/enfpire.js edge|recognizer --config FILE`, over dist/ like the
 * CLI tests), so a fault test can do to them what the operating system does: SIGKILL, SIGSTOP.
 */
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { defaultModelManifest, packageRoot } from '../../daemon/util/paths.js';
import { eventually } from '../transport/fixtures.js';

export interface ServiceProcess {
  pid: number;
  /** Everything it wrote to stderr so far (its JSON log). */
  log(): string;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<void>;
}

/**
 * Starts `enfpire <args>` and resolves once its log says `ready`; SIGKILLed at the end of `t` if still running (a
 * stopped one is continued first, so it can die).
 */
export async function startService(t: Test, args: string[], ready: RegExp, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [join(packageRoot, 'bin', 'enfpire.js'), ...args], { cwd: packageRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  let alive = true;
  let ended = '';
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = `exit code ${code}, signal ${signal}`;
      resolve();
    }),
  );
  void exited.then(() => (alive = false));
  t.teardown(async () => {
    if (!alive) return;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  });
  if (!(await eventually(() => ready.test(log) || !alive, timeoutMs)) || !alive) {
    throw new Error(`enfpire ${args.join(' ')} did not start (${ended || 'still running'}):\n${log}`);
  }
  return { pid: child.pid!, log: () => log, kill: (signal) => void (alive && child.kill(signal)), exited };
}

/** A recognizer process on the broker, serving the gallery, in the default shared-subscription group. */
export async function startRecognizerProcess(t: Test, dir: string, url: string, galleryPath: string, name: string): Promise<ServiceProcess> {
  const profile = join(dir, `${name}.yaml`);
  await writeFile(profile, stringify({ broker: { url }, gallery: galleryPath, model: defaultModelManifest, index: { kind: 'exact' } }));
  return startService(t, ['recognizer', '--config', profile], /"msg":"recognizer ready"/);
}

/** A free loopback port (for a local API a test must reach). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}
