/** The test broker helper itself: it must never leave a broker behind. */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from '../helpers/mosquitto.js';

const helper = fileURLToPath(new URL('../helpers/mosquitto.ts', import.meta.url));
// The child runs TypeScript the way tap runs this file.
const tsLoader = import.meta.resolve('@tapjs/typescript/import');

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

t.test('start, log, stop', async (t) => {
  const b = await startMosquitto();
  t.match(b.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  t.not(b.port, 1883, 'never the system broker port');
  t.ok(await accepts(b.port));
  t.match(await b.log(), /mosquitto version/);
  await b.stop();
  t.notOk(await accepts(b.port), 'the port is closed after stop()');
  t.notOk(existsSync(b.dir), 'the temp folder is removed');
  await b.stop(); // idempotent
});

/** Runs a child that starts a broker, prints its port and, once told to, ends the given way without stop(). */
async function orphanCheck(t: Test, ending: string): Promise<void> {
  const script = `
    const { startMosquitto } = await import(${JSON.stringify(helper)});
    const b = await startMosquitto();
    console.log(JSON.stringify({ port: b.port, dir: b.dir }));
    process.stdin.once('data', () => { ${ending} });
  `;
  const child = spawn(process.execPath, ['--import', tsLoader, '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  const { port, dir } = await new Promise<{ port: number; dir: string }>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as { port: number; dir: string }));
    child.once('exit', () => reject(new Error('child ended before starting a broker')));
  });
  t.ok(await accepts(port), 'the child started a broker');
  const exited = new Promise((r) => child.once('exit', r));
  child.stdin.write('go\n');
  await exited;
  let closed = false;
  for (let i = 0; i < 50 && !closed; i++) {
    closed = !(await accepts(port));
    if (!closed) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(closed, 'the broker died with its test process');
  t.notOk(existsSync(dir), 'and its temp folder is gone');
}

t.test('a broker never outlives its test process', async (t) => {
  await orphanCheck(t, 'process.exit(0);');
  await orphanCheck(t, "process.kill(process.pid, 'SIGTERM');");
  await orphanCheck(t, "throw new Error('test crashed');");
});
