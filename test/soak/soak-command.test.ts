/**
 * `enfpire soak` through the real executable (dist/, as the CLI tests use it): a one-minute run with a real Mosquitto,
 * two recognizer processes and the edge process, and every kind of fault. The trends of a one-minute run are mostly
 * warm-up, so here they are checked for shape; the 30-minute figures are in docs/reliability.md.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SoakReport } from '../../daemon/soak/soak.js';
import { CRITERIA } from '../../daemon/soak/soak.js';
import { faultSchedule } from '../../daemon/soak/faults.js';
import { fitSlope, secondHalfTrend } from '../../daemon/soak/trend.js';
import { packageRoot } from '../../daemon/util/paths.js';

t.test('the fault schedule: kinds in turn, edge kills in the first half only, a quiet end', async (t) => {
  t.same(faultSchedule(60, 12, 10), [
    { at_s: 12, kind: 'edge-kill' },
    { at_s: 24, kind: 'recognizer-kill' },
    { at_s: 36, kind: 'broker-restart' },
  ]);
  const long = faultSchedule(1800, 90, 30);
  t.ok(long.filter((f) => f.kind === 'edge-kill').every((f) => f.at_s < 900));
  t.equal(long.filter((f) => f.kind === 'edge-kill').length, 3);
  t.ok(long.every((f) => f.at_s <= 1770));
});

t.test('the trend: a fitted line over the second half, growth held to max(relative × mean, floor)', async (t) => {
  const line = (slope: number) => Array.from({ length: 101 }, (_, i) => ({ t: i, v: 1000 + slope * i }));
  t.ok(Math.abs(fitSlope(line(3)).slope - 3) < 1e-9);
  const flat = secondHalfTrend(line(0), 100, { relative: 0.05, absolute: 1 });
  t.equal(flat.pass, true);
  t.equal(flat.samples, 51);
  // 1 per second over the 50 s window: 50 of growth against an allowance of 2 % of a mean of 1075 (21.5).
  const leak = secondHalfTrend(line(1), 100, { relative: 0.02, absolute: 1 });
  t.ok(Math.abs(leak.change_over_window! - 50) < 1e-6);
  t.equal(leak.pass, false);
  t.equal(secondHalfTrend(line(1), 100, { relative: 0.02, absolute: 60 }).pass, true, 'within the floor');
  t.equal(secondHalfTrend(line(-5), 100, { relative: 0.05, absolute: 1 }).pass, true, 'shrinking is not a leak');
  t.equal(secondHalfTrend(line(0).slice(0, 40), 100, { relative: 0.05, absolute: 1 }).pass, false, 'nothing measured in the window fails');
});

t.test('a one-minute soak: every fault is injected and recovered from, and the report has every figure', async (t) => {
  const out = join(t.testdir(), 'soak.json');
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(packageRoot, 'bin', 'enfpire.js'), 'soak', '--minutes', '1', '--out', out], { cwd: packageRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const report = JSON.parse(await readFile(out, 'utf8')) as SoakReport;
  const summary: unknown = JSON.parse(stdout.trim().split('\n').at(-1)!);
  t.equal(code, report.pass ? 0 : 1, `exit status follows the verdict (${report.problems.join('; ')})`);
  t.same(summary, { pass: report.pass, faults: 3, recovered: 3, answered: report.queries.answered, failed: report.queries.failed });

  t.same(report.faults.map((f) => f.kind), ['edge-kill', 'recognizer-kill', 'broker-restart'], 'every kind of fault happened');
  for (const f of report.faults) {
    t.ok(f.recovered, `${f.kind}: answered again ${f.recovery_ms} ms after the restore`);
    t.ok(f.injected_at_s < f.restored_at_s && f.restored_at_s <= f.recovered_at_s!, `${f.kind}: times in order`);
  }
  const [edgeKill, recognizerKill] = report.faults;
  t.same(edgeKill.crash_check?.integrity_check, ['ok'], 'the file a killed edge left passes SQLite integrity_check');
  t.ok(edgeKill.crash_check!.acknowledged_checked > 0, `${edgeKill.crash_check!.acknowledged_checked} acknowledged results looked for`);
  t.equal(edgeKill.crash_check!.acknowledged_missing, 0, 'none of them lost');
  t.ok(recognizerKill.answered_while_broken > 0, `the other recognizer kept answering (${recognizerKill.answered_while_broken} results meanwhile)`);

  t.ok(report.queries.answered > 100, `${report.queries.answered} queries answered`);
  t.ok(report.queries.sent >= report.queries.answered + report.queries.failed - 1);
  t.ok(report.recognizers.replies > 100, 'the recognizers counted their replies');
  t.ok(report.samples.length >= 30, `${report.samples.length} samples`);
  const first = report.samples[0];
  for (const key of ['edge_rss_bytes', 'edge_heap_used_bytes', 'edge_fds', 'recognizer_a_rss_bytes', 'recognizer_b_fds', 'broker_rss_bytes', 'sqlite_bytes']) {
    t.ok((first[key] ?? 0) > 0, `${key} sampled (${first[key]})`);
  }
  t.ok(report.samples.some((s) => s.edge_rss_bytes === null), 'the killed edge shows as a gap, not a made-up figure');
  t.same(Object.keys(report.trends).sort(), Object.keys(CRITERIA).sort());
  for (const [metric, trend] of Object.entries(report.trends)) {
    t.ok(trend.samples >= 3 && Number.isFinite(trend.slope_per_min), `${metric}: slope ${trend.slope_per_min}/min over ${trend.samples} samples`);
  }
  t.equal(report.pass, report.problems.length === 0);
  t.notMatch(stderr, /unexpected error/);
});
