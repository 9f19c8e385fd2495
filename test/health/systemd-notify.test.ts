import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProgressWatchdog, SystemdNotifier } from '../../daemon/health/systemd-notify.js';

const listenerScript = fileURLToPath(new URL('./notify-listener.py', import.meta.url));
const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import socket'], { stdio: 'ignore' }).status === 0);
const haveSystemdNotify = spawnSync('systemd-notify', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = !python ? 'needs python3 for the datagram listener' : !haveSystemdNotify ? 'needs systemd-notify' : false;

/** Socket paths are limited to 108 bytes, which tap's test folders can exceed: a short temp folder instead. */
function socketPath(t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'enf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** A real unix datagram socket that records what systemd would receive (BARRIER handshakes left out). */
async function notifySocket(t: Test, address: string): Promise<{ messages: Map<string, string>[]; next(): Promise<Map<string, string>> }> {
  const child = spawn(python as string, [listenerScript, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill());
  const messages: Map<string, string>[] = [];
  const waiters: ((m: Map<string, string>) => void)[] = [];
  const lines = createInterface({ input: child.stdout });
  let ready!: () => void;
  const listening = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`the notification listener exited with ${code}`)));
  });
  lines.on('line', (line) => {
    const parsed = JSON.parse(line) as { listening?: string; datagram?: string };
    if (parsed.listening) return ready();
    const fields = new Map(parsed.datagram!.split('\n').filter(Boolean).map((kv) => kv.split(/=(.*)/s, 2) as [string, string]));
    if (fields.has('BARRIER')) return;
    messages.push(fields);
    waiters.shift()?.(fields);
  });
  await listening;
  return {
    messages,
    next: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

t.test('without NOTIFY_SOCKET everything is a no-op', async (t) => {
  let sent = 0;
  const notifier = new SystemdNotifier({ env: {}, send: async () => void sent++ });
  t.notOk(notifier.enabled);
  t.equal(await notifier.ready('up'), false);
  t.equal(notifier.watchdogMs(), null);
  const watchdog = new ProgressWatchdog({ notifier, counters: () => ({ frames: 1, extracted: 1 }) });
  t.equal(watchdog.intervalMs, null);
  watchdog.start();
  await watchdog.stop();
  t.equal(sent, 0);
});

t.test('WATCHDOG_USEC and WATCHDOG_PID', async (t) => {
  const env = { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '20000000' };
  t.equal(new SystemdNotifier({ env }).watchdogMs(), 20_000);
  t.equal(new SystemdNotifier({ env: { ...env, WATCHDOG_PID: '1234' }, pid: 1234 }).watchdogMs(), 20_000);
  t.equal(new SystemdNotifier({ env: { ...env, WATCHDOG_PID: '99' }, pid: 1234 }).watchdogMs(), null, 'meant for another process');
  t.equal(new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x' } }).watchdogMs(), null, 'no watchdog configured');
  t.equal(new ProgressWatchdog({ notifier: new SystemdNotifier({ env }) }).intervalMs, 10_000, 'checks every half period');
});

for (const kind of ['path', 'abstract'] as const) {
  t.test(`READY, STATUS and WATCHDOG reach a real ${kind} notification socket`, { skip }, async (t) => {
    const address = kind === 'path' ? socketPath(t, 'notify.sock') : `@enfpire-test-${randomBytes(6).toString('hex')}`;
    const socket = await notifySocket(t, address);
    const notifier = new SystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: address } });
    const ready = socket.next();
    t.equal(await notifier.ready('pipeline running\nFORGED=1'), true);
    const m = await ready;
    t.equal(m.get('READY'), '1');
    t.equal(m.get('STATUS'), 'pipeline running FORGED=1', 'a newline in a value cannot forge another field');
    t.notOk(m.has('FORGED'));
    const ping = socket.next();
    t.equal(await notifier.watchdog('3 results'), true);
    t.same(Object.fromEntries(await ping), { WATCHDOG: '1', STATUS: '3 results' });
  });
}

t.test('a notification socket nobody listens on is reported, not thrown', async (t) => {
  const warnings: string[] = [];
  const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as never;
  const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: socketPath(t, 'nobody.sock') }, logger });
  t.equal(await notifier.watchdog(), false);
  t.equal(await notifier.watchdog(), false);
  t.equal(warnings.length, 1, 'logged once per run of failures');
});

t.test('the watchdog pings only after frames AND extractions progressed', { skip }, async (t) => {
  const address = socketPath(t, 'notify.sock');
  const socket = await notifySocket(t, address);
  const notifier = new SystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: address, WATCHDOG_USEC: '400000' } });
  const counters = { frames: 0, extracted: 0 };
  let results = 0;
  const watchdog = new ProgressWatchdog({ notifier, counters: () => ({ ...counters }), status: () => `${results} results` });
  t.equal(watchdog.intervalMs, 200);

  watchdog.start();
  t.equal(await watchdog.check(), false, 'nothing happened: no ping');
  counters.frames += 3;
  t.equal(await watchdog.check(), false, 'frames arrive but no extraction finishes (hung inference): no ping');
  counters.extracted += 1;
  results = 1;
  t.equal(await watchdog.check(), true, 'extraction finished too: ping');
  t.equal(await watchdog.check(), false, 'no progress since the last ping: no ping');
  watchdog.tick('frames');
  watchdog.tick('extracted');
  t.equal(await watchdog.check(), true, 'explicit ticks count as progress');
  await watchdog.stop();
  // Give the listener a moment to print what it received.
  await new Promise((r) => setTimeout(r, 100));
  t.same(
    socket.messages.map((m) => Object.fromEntries(m)),
    [
      { WATCHDOG: '1', STATUS: '1 results' },
      { WATCHDOG: '1', STATUS: '1 results' },
    ],
    'exactly the two pings reached the socket',
  );
});

t.test('started, it keeps pinging while the pipeline progresses and stops when the pipeline stalls', { skip }, async (t) => {
  const address = socketPath(t, 'notify.sock');
  const socket = await notifySocket(t, address);
  const notifier = new SystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: address, WATCHDOG_USEC: '400000' } });
  const counters = { frames: 0, extracted: 0 };
  const progress = setInterval(() => {
    counters.frames++;
    counters.extracted++;
  }, 20);
  let stalled!: () => void;
  const stallSeen = new Promise<void>((resolve) => (stalled = resolve));
  const logger = { warn: (_o: unknown, msg: string) => msg.startsWith('no pipeline progress') && stalled(), info() {}, debug() {} } as never;
  const watchdog = new ProgressWatchdog({ notifier, counters: () => ({ ...counters }), logger });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  watchdog.start();
  await sleep(1200);
  const whileProgressing = socket.messages.length;
  clearInterval(progress);
  // Once a period without progress was seen, only a ping already in flight may still land.
  await stallSeen;
  await sleep(700);
  const atStall = socket.messages.length;
  await sleep(1000);
  await watchdog.stop();
  t.ok(whileProgressing >= 2, `pinged every period (200 ms) while progressing (${whileProgressing} in 1.2 s)`);
  t.equal(socket.messages.length, atStall, 'no ping once the pipeline stalled, although the event loop kept running');
});
