import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBenchCommand } from '../../daemon/cli/bench-command.js';
import { BENCH_SCHEMA, type BenchReport } from '../../daemon/bench/run-bench.js';
import { UserError } from '../../daemon/util/errors.js';
import { schemaDefault } from '../../daemon/config/load.js';

/** Every number in the report, with its key path. */
function numbers(value: unknown, path = ''): [string, number][] {
  if (typeof value === 'number') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => numbers(v, `${path}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numbers(v, path ? `${path}.${k}` : k));
  return [];
}

/** Equal up to the 4-significant-digit rounding of the report (each input off by at most 5e-4 relative). */
const close = (a: number, b: number): boolean => Math.abs(a - b) <= 2e-3 * Math.max(Math.abs(a), Math.abs(b));

t.test('the quick bench writes a complete report and a table', async (t) => {
  const out = join(t.testdir(), 'nested', 'bench.json');
  let printed = '';
  const code = await runBenchCommand(['--quick', '--out', out], (text) => (printed += text));
  t.equal(code, 0);
  const report = JSON.parse(await readFile(out, 'utf8')) as BenchReport;

  t.equal(report.schema, BENCH_SCHEMA);
  t.equal(report.quick, true);
  t.match(report.machine, { cpus: Number, cpu_model: String, platform: String, node: String, onnxruntime: String });
  t.match(report.extractor.model, { id: 'enfpire-mnv2-int8-v1', dimension: 256, provider: 'cpu' }, 'the default model');
  t.same(Object.keys(report.extractor.inputs).sort(), ['jpeg', 'yuv420']);
  t.same(
    Object.keys(report.camera),
    ['files', 'libcamera-yuv420', 'libcamera-mjpeg', 'gstreamer-mjpeg', 'ffmpeg-mjpeg', 'still'],
    'camera results are a map by source kind',
  );
  t.same(Object.keys(report).sort(), ['camera', 'created_at', 'extractor', 'machine', 'memory', 'quick', 'recognizer', 'recognizer_scale', 'schema', 'seconds']);

  const all = numbers(report);
  t.ok(all.length > 60, `${all.length} numbers`);
  for (const [path, x] of all) {
    // A difference may go either way, and a drop count is 0 when the consumer keeps up: the only non-positive keys.
    if (path === 'memory.rss_growth_second_half_mb') t.ok(Number.isFinite(x), `${path} = ${x} is finite`);
    else if (/^camera\.[\w-]+\.dropped$/.test(path)) t.ok(Number.isInteger(x) && x >= 0, `${path} = ${x} is a count`);
    // Shares of queries: 0 is a measurement (e.g. no query of a small gallery has all its components in the exact reply).
    else if (/^recognizer_scale\[\d+\]\.(recall\.\w+|synthetic_spots)$/.test(path)) t.ok(Number.isFinite(x) && x >= 0, `${path} = ${x} is ≥ 0`);
    // A shortlist margin of 0 is a setting measured, and a share of replies may be 0.
    else if (/^recognizer_scale\[\d+\]\.int8_onnx\.margins\[\d+\]\.(margin|component_recall|same_reply_as_exact)$/.test(path)) {
      t.ok(Number.isFinite(x) && x >= 0, `${path} = ${x} is ≥ 0`);
    }
    else t.ok(Number.isFinite(x) && x > 0, `${path} = ${x} is finite and positive`);
  }

  const e = report.extractor;
  for (const [kind, k] of Object.entries(e.inputs)) {
    t.match(k.decode, { mean_ms: Number, p50_ms: Number, p99_ms: Number }, `${kind}: decode floor reported`);
    for (const x of Object.values(k.decode)) t.ok(Number.isFinite(x) && x > 0, `${kind}: decode floor ${x} ms is positive`);
    t.ok(k.decode.p50_ms <= k.decode.p99_ms, `${kind}: decode p50 ≤ p99`);
    const floored = k.pipeline.p50_ms / (k.decode.p50_ms + e.inference.p50_ms);
    t.ok(close(k.pipeline_over_decode_plus_inference, floored), `${kind}: target ratio is pipeline p50 / (decode p50 + inference p50)`);
    t.ok(
      close(k.pipeline_over_decode_plus_inference_mean, k.pipeline.mean_ms / (k.decode.mean_ms + e.inference.mean_ms)),
      `${kind}: floored mean ratio from the means`,
    );
    t.ok(close(k.pipeline_over_inference, k.pipeline.p50_ms / e.inference.p50_ms), `${kind}: ratio is pipeline p50 / inference p50`);
    t.ok(close(k.pipeline_over_inference_mean, k.pipeline.mean_ms / e.inference.mean_ms), `${kind}: mean ratio from the means`);
    t.ok(k.pipeline_over_decode_plus_inference < k.pipeline_over_inference, `${kind}: a positive floor makes the target ratio the smaller one`);
    t.equal(e.target_pipeline_over_decode_plus_inference, 1.15);
    t.equal(k.target_met, k.pipeline_over_decode_plus_inference <= e.target_pipeline_over_decode_plus_inference, `${kind}: verdict follows the floored ratio`);
    t.ok(close(k.fps, 1000 / k.pipeline.mean_ms), `${kind}: fps from the mean`);
    t.ok(k.preprocess.mean_ms < k.pipeline.mean_ms && k.inference_in_pipeline.mean_ms < k.pipeline.mean_ms, `${kind}: parts are smaller than the whole`);
    t.ok(k.preprocess_share > 0 && k.preprocess_share < 1, `${kind}: preprocess share is a fraction`);
  }
  t.equal(e.inputs.jpeg.width, 640);
  t.same([e.inputs.yuv420.width, e.inputs.yuv420.height], [640, 480]);

  const r = report.recognizer;
  t.ok(r.hnsw_recall_at_10 >= 0 && r.hnsw_recall_at_10 <= 1, `recall ${r.hnsw_recall_at_10} in [0, 1]`);
  t.ok(close(r.hnsw_speedup, r.exact.mean_us / r.hnsw.mean_us), 'speed-up from the two measured means');
  t.ok(close(r.exact.qps, 1e6 / r.exact.mean_us) && close(r.hnsw.qps, 1e6 / r.hnsw.mean_us), 'q/s from the means');
  for (const x of [r.exact, r.hnsw]) t.ok(x.p50_us <= x.p99_us, 'p50 ≤ p99');
  t.equal(r.dimension, e.model.dimension, 'gallery in the model dimension');

  t.equal(report.recognizer_scale.length, 1, 'quick: one gallery size');
  const scale = report.recognizer_scale[0];
  t.equal(scale.spots, 1000);
  t.equal(scale.real_spots + scale.synthetic_spots, 1000);
  t.ok(scale.recall.component_recall >= 0 && scale.recall.component_recall <= 1);
  t.ok(close(scale.hnsw_speedup, scale.exact.mean_us / scale.hnsw.mean_us), 'scale: speed-up from the two measured means');
  t.ok(scale.bytes_per_result >= scale.bytes_per_reply, 'a result costs its own reply and the dummies\'');
  t.equal(scale.exact_onnx.component_recall, 1, 'exact-onnx is exact');
  const int8 = scale.int8_onnx;
  t.ok(int8.component_recall >= 0 && int8.component_recall <= 1, `int8-onnx component recall ${int8.component_recall}`);
  t.same(int8.throughput.map((x) => [x.threads, x.batch]), scale.exact_onnx.throughput.map((x) => [x.threads, x.batch]), 'both precisions at the same batches');
  t.same(int8.margins.map((x) => x.margin), [0, 16, 32, 64, 128, 256], 'the shortlist margins measured');
  t.equal(int8.shortlist_margin, schemaDefault('recognizer', 'index.shortlistMargin'), "the schema's index.shortlistMargin");

  t.ok(report.camera.files.frames > 0 && report.camera.files.fps <= report.camera.files.requested_fps);
  t.ok(report.memory.rss_peak_mb >= report.memory.rss_after_mb);
  const m = report.memory;
  t.ok(Math.abs(m.rss_growth_second_half_mb - (m.rss_after_mb - m.rss_half_mb)) <= 0.11, 'growth is after minus half (up to rounding)');

  for (const row of ['ORT inference', 'extractor jpeg', 'decode floor jpeg', 'extractor yuv420', 'decode floor yuv420', 'camera files', 'recognizer exact', 'recognizer hnsw', 'recognizer exact-onnx', 'recognizer int8-onnx', 'edge memory']) {
    t.match(printed, row, `table has a ${row} row`);
  }
  t.match(printed, `wrote ${out}`);
});

t.test('bad arguments are one clear sentence', async (t) => {
  await t.rejects(runBenchCommand(['--quick']), new UserError('bench: --out is required.'));
  await t.rejects(runBenchCommand(['--out', 'x.json', '--frames', '1']), { name: 'UserError', message: /--frames must be an integer from 2/ });
  await t.rejects(runBenchCommand(['--out', 'x.json', '--frams', '5']), { name: 'UserError', message: /bench: .*frams/ });
  await t.rejects(runBenchCommand(['--out', 'x.json', '--spots', t.testdir()]), { name: 'UserError', message: /holds no \.jpg/ });
});
