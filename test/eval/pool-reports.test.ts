/**
 * scripts/pool-reports.mjs on small reports of its input format: the pooled best attack, the interval over worlds
 * (which must hold the pooled figure and widen when the worlds disagree), and the central-spot floor.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '../../scripts/pool-reports.mjs');

function report(seed: number, central: number, floor: number) {
  return {
    seed,
    device_seed: 3,
    spots: 25,
    k: 4,
    real_queries: 1_000,
    user_top1: 1,
    baseline_top1: 1,
    server_top1: Math.max(central, 0.25),
    dummy_auc: 0.5,
    central_spot_floor: floor,
    adversaries: { central_spot_exhaustive: central, path_attack: 0.25 },
  };
}

async function pool(reports: object[]): Promise<Map<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'pool-'));
  const files = await Promise.all(
    reports.map(async (r, i) => {
      const file = join(dir, `r${i}.json`);
      await writeFile(file, JSON.stringify(r));
      return file;
    }),
  );
  const { stdout } = await run(process.execPath, [SCRIPT, '--markdown', ...files]);
  return new Map(
    stdout
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('|  |'))
      .map((l) => l.split('|').map((c) => c.trim()))
      .map((cells) => [cells[1], cells[2]]),
  );
}

const interval = (text: string | undefined): [number, number] => {
  const m = /\[([\d.]+), ([\d.]+)\]/.exec(text ?? '');
  if (!m) throw new Error(`no interval in ${text}`);
  return [Number(m[1]), Number(m[2])];
};

t.test('the interval over worlds holds the pooled figure and widens when the worlds disagree', async (t) => {
  const alike = await pool([0.3, 0.31, 0.29, 0.3].map((c, i) => report(i + 1, c, 0.26)));
  const apart = await pool([0.1, 0.5, 0.2, 0.4].map((c, i) => report(i + 1, c, 0.26)));
  t.match(alike.get('server_top1, pooled best attack'), /^0\.300 \(central_spot_exhaustive\)/);
  const [lo, hi] = interval(alike.get('server_top1, 95 % over worlds'));
  t.ok(lo <= 0.3 && hi >= 0.3 && hi - lo < 0.03, `alike worlds: a narrow interval around 0.300 (${lo}, ${hi})`);
  const [lo2, hi2] = interval(apart.get('server_top1, 95 % over worlds'));
  t.ok(hi2 - lo2 > 0.1, `worlds that disagree: a wide one (${lo2}, ${hi2})`);
  t.equal(alike.get('central_spot: with uniform decoys / above that'), '0.260 / +0.040', 'the floor pooled, and the guess above it');
});

t.test('two worlds give no interval: too few to resample', async (t) => {
  const two = await pool([report(1, 0.3, 0.25), report(2, 0.3, 0.25)]);
  t.equal(two.get('server_top1, 95 % over worlds'), undefined);
});

t.test("the floor over other worlds is the mean of the reports' own, marked when only some have it", async (t) => {
  const withWorlds = (seed: number, mean: number) => ({ ...report(seed, 0.3, 0.3), central_spot_floor_worlds: { mean, sd: 0.05, worlds: 50 } });
  const all = await pool([withWorlds(1, 0.26), withWorlds(2, 0.28)]);
  t.equal(all.get('central_spot: uniform-decoy floor over other worlds'), '0.270 (sd of one world 0.050)');
  const some = await pool([withWorlds(1, 0.26), report(2, 0.3, 0.3)]);
  t.equal(some.get('central_spot: uniform-decoy floor over other worlds'), '0.260 (sd of one world 0.050) (1 of 2 runs)');
  const none = await pool([report(1, 0.3, 0.3), report(2, 0.3, 0.3)]);
  t.equal(none.get('central_spot: uniform-decoy floor over other worlds'), undefined, 'reports before it: no row');
});
