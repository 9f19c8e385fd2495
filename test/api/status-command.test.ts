import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiServer } from '../../daemon/api/api-server.js';
import { formatListenAddress } from '../../daemon/util/listen-address.js';
import type { StatusReport } from '../../daemon/api/status.js';
import { runStatusCommand } from '../../daemon/cli/status-command.js';
import { packageRoot } from '../../daemon/util/paths.js';
import { silentLogger } from '../../daemon/util/log.js';
import { FakePipeline, fakeBroker, shortTempDir } from './helpers.js';

async function daemon(t: Test, listen = '127.0.0.1:0'): Promise<{ api: ApiServer; address: string }> {
  const api = new ApiServer({ listen, pipeline: new FakePipeline(), broker: fakeBroker, model: 'test-model-v1', executionProvider: 'cpu', version: '1.2.3', logger: silentLogger() });
  await api.start();
  t.teardown(() => api.stop());
  return { api, address: formatListenAddress(api.listening) };
}

async function status(args: string[]): Promise<string> {
  let out = '';
  t.equal(await runStatusCommand(args, (text) => (out += text)), 0);
  return out;
}

t.test('--json prints the daemon status with the DESIGN §9 counters', async (t) => {
  const { address } = await daemon(t);
  const report = JSON.parse(await status(['--json', '--api', address])) as StatusReport;
  t.match(report.counters, { frames: 7, real_queries: 3, dummy_queries: 11, results: 5, errors: 1 });
  t.equal(report.broker?.state, 'connected');
  t.equal(report.version, '1.2.3');
});

t.test('without --json a short human summary', async (t) => {
  const { address } = await daemon(t);
  const text = await status(['--api', address]);
  t.match(text, /^enfpire edge 1\.2\.3, model test-model-v1 on cpu, up \d+s$/m);
  t.match(text, /^broker +connected \(sent 14, received 13, timeouts 1, unauthenticated 2\)$/m);
  t.match(text, /^frames +7 \(dropped 2\), extracted 6, errors 1 \(retried 4, failed 1\)$/m);
  t.match(text, /^queries +3 real, 11 dummy, 1 waiting$/m);
  t.ok(text.split('\n').length < 12, 'short');
});

t.test('--config reads api.listen from the profile (a unix socket here)', async (t) => {
  const dir = shortTempDir(t);
  const { address } = await daemon(t, `unix:${join(dir, 'api.sock')}`);
  const profile = join(dir, 'edge.yaml');
  writeFileSync(profile, `transport:\n  url: mqtt://127.0.0.1:1883\n  passwordFile: /root/not-readable-by-status\napi:\n  listen: ${address}\n`);
  const report = JSON.parse(await status(['--json', '--config', profile])) as StatusReport;
  t.equal(report.counters.frames, 7, 'the broker secrets were not needed');
  writeFileSync(profile, 'api:\n  enabled: false\n');
  await t.rejects(runStatusCommand(['--config', profile]), { name: 'UserError', message: /disabled in .*api\.enabled: false/ });
  await t.rejects(runStatusCommand(['--config', join(dir, 'missing.yaml')]), { name: 'UserError', message: /cannot read the profile/ });
});

t.test('no daemon: one clear sentence', async (t) => {
  const dir = shortTempDir(t);
  await t.rejects(runStatusCommand(['--api', '127.0.0.1:1']), { name: 'UserError', message: /^no enfpire edge daemon answers on 127\.0\.0\.1:1 \(connection refused\); is it running/ });
  await t.rejects(runStatusCommand(['--api', `unix:${join(dir, 'none.sock')}`]), { name: 'UserError', message: /no socket there/ });
  await t.rejects(runStatusCommand(['--api', '0.0.0.0:8765']), { name: 'UserError', message: /--api '0\.0\.0\.0:8765' is not a loopback address/ });
  await t.rejects(runStatusCommand(['--api', 'x', '--config', 'y']), { name: 'UserError' });
});

const bin = join(packageRoot, 'bin', 'enfpire.js');
const built = existsSync(join(packageRoot, 'dist', 'cli', 'status-command.js'));

function enfpire(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: packageRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('through the real executable', { skip: built ? false : 'dist/ not built (npm run build)' }, async (t) => {
  const { address } = await daemon(t);
  const ok = await enfpire(['status', '--json', '--api', address]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal((JSON.parse(ok.stdout) as StatusReport).counters.results, 5);
  const down = await enfpire(['status', '--api', '127.0.0.1:1']);
  t.equal(down.code, 1);
  t.equal(down.stdout, '');
  t.match(down.stderr, /^enfpire: no enfpire edge daemon answers on 127\.0\.0\.1:1 .*\n$/);
  t.equal(down.stderr.split('\n').length, 2, 'one line');
});
