/**
 * The evaluation harness on the bundled sample spots with the real model, recognizer and resolver: figures in range,
 * reproducible for a seed, and gallery references that never share pixels with the queries.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { runEvalCommand } from '../../daemon/cli/eval-command.js';
import { runEval, writeReport, type EvalReport } from '../../daemon/eval/eval-harness.js';
import { planEval, renderQuery, renderReference, streamSeed } from '../../daemon/eval/views.js';
import { UserError } from '../../daemon/util/errors.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';

const K = 4;

function withoutTiming(report: EvalReport): Omit<EvalReport, 'timing'> {
  const { timing: _timing, ...rest } = report;
  return rest;
}

t.test('figures on the sample spots, and the same report for the same seed', async (t) => {
  const options = { spotsDir: sampleSpotsDir, modelManifest: defaultModelManifest, k: K, seed: 7, queriesPerSpot: 1 };
  const progress: number[] = [];
  const report = await runEval({ ...options, onProgress: (done) => progress.push(done) });
  const spots = (await listSpotPhotos(sampleSpotsDir)).length;

  t.match(report, {
    k: K,
    spots,
    queries: spots,
    queries_per_spot: 1,
    seed: 7,
    model: 'enfpire-gist-int8-v1',
    adversaries: { naive_top1: Number, popularity_bayes: Number },
    failures: { baseline: Array, user: Array },
    timing: { wall_s: Number, enrol_s: Number, extract_ms_mean: Number },
  });
  t.same(progress, Array.from({ length: spots }, (_, i) => i + 1), 'one progress call per query');
  for (const key of ['baseline_top1', 'user_top1', 'server_top1', 'user_unknown', 'real_in_reply'] as const) {
    t.ok(report[key] >= 0 && report[key] <= 1, `${key} is a rate`);
  }
  t.ok(report.baseline_top1 >= 0.9, `baseline_top1 ${report.baseline_top1} >= 0.9`);
  t.ok(report.user_top1 >= 0.9, `user_top1 ${report.user_top1} >= 0.9`);
  t.ok(report.server_top1 < report.baseline_top1, `server_top1 ${report.server_top1} < baseline ${report.baseline_top1}`);
  t.equal(report.server_top1, Math.max(...Object.values(report.adversaries)), 'server_top1 is the best adversary');
  t.equal(report.failures.baseline.length, Math.round((1 - report.baseline_top1) * report.queries), 'misses listed');
  // A reply carries min(k × 4, spots) candidates of one int8 byte per dimension each: kB, far less than a photo.
  t.ok(report.bytes_per_result > Math.min(K * 4, spots) * 432 && report.bytes_per_result < 64 * 1024, `bytes_per_result ${report.bytes_per_result}`);

  const again = await runEval(options);
  t.same(withoutTiming(again), withoutTiming(report), 'same seed, same report');
});

t.test('references never share pixels with queries', async (t) => {
  const spots = await listSpotPhotos(sampleSpotsDir);
  const plan = planEval(spots, { seed: 1, queriesPerSpot: 2 });
  t.equal(plan.queries.length, spots.length * 2);
  const enrolSeeds = plan.references.map((r) => (r.source.kind === 'enrolment-view' ? r.source.seed : -1));
  t.notOk(enrolSeeds.includes(-1), 'single-photo spots are enrolled from an enrolment view');
  t.notOk(plan.queries.some((q) => enrolSeeds.includes(q.seed)), 'query and enrolment seed streams are disjoint');

  const pixels = async (image: Buffer) => {
    const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return `${info.width}x${info.height}:${data.toString('base64')}`;
  };
  const referenceBytes = new Set<string>();
  const referencePixels = new Set<string>();
  for (const r of plan.references) {
    for (const image of [await renderReference(r), await readFile(r.source.file)]) {
      referenceBytes.add(image.toString('base64'));
      referencePixels.add(await pixels(image));
    }
  }
  for (const q of plan.queries) {
    const query = await renderQuery(q);
    t.notOk(referenceBytes.has(query.toString('base64')), `query ${q.spot}#${q.index} is not a reference file`);
    t.notOk(referencePixels.has(await pixels(query)), `query ${q.spot}#${q.index} has its own pixels`);
  }
});

t.test('a spot with several photos is enrolled from one and queried from the others', async (t) => {
  const plan = planEval(
    [
      { id: 'tower', files: ['/p/tower/a.jpg', '/p/tower/b.jpg', '/p/tower/c.jpg'] },
      { id: 'gate', files: ['/p/gate.jpg'] },
    ],
    { seed: 3, queriesPerSpot: 3 },
  );
  t.same(plan.references[0], { spot: 'tower', source: { kind: 'separate-photo', file: '/p/tower/a.jpg' } });
  t.same(
    plan.queries.filter((q) => q.spot === 'tower').map((q) => q.file),
    ['/p/tower/b.jpg', '/p/tower/c.jpg', '/p/tower/b.jpg'],
  );
  t.match(plan.references[1], { spot: 'gate', source: { kind: 'enrolment-view', seed: streamSeed('enrol', 3, 'gate', 0) } });
  t.not(streamSeed('enrol', 3, 'gate', 0), streamSeed('query', 3, 'gate', 0));
  t.not(streamSeed('query', 3, 'gate', 0), streamSeed('query', 4, 'gate', 0), 'the run seed changes every view');
});

t.test('the report is written whole, and bad options are one clear sentence', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'nested', 'report.json');
  const report = { baseline_top1: 1 } as unknown as EvalReport;
  await writeReport(out, report);
  t.same(JSON.parse(await readFile(out, 'utf8')), report);
  t.same(await readdir(join(dir, 'nested')), ['report.json'], 'no temporary file left');

  await t.rejects(runEvalCommand(['--spots', sampleSpotsDir, '--out', join(dir, 'x.json'), '--k', 'four']), UserError);
  await t.rejects(runEvalCommand(['--out', join(dir, 'x.json')]), { message: /--spots is required/ });
  await t.rejects(
    runEval({ spotsDir: sampleSpotsDir, modelManifest: defaultModelManifest, queriesPerSpot: 0 }),
    { message: /--queries-per-spot must be an integer/ },
  );
  t.notOk(existsSync(join(dir, 'x.json')));
});
