import t from 'tap';
import * as ort from 'onnxruntime-node';
import { QUERY_ZERO_POINT, buildScanGraph, quantizeGallery } from '../../daemon/recognizer/scan-graph.js';

/** Two rows of 4: the second's largest component is half the first's, so per-row scales differ from a global one. */
const gallery = Float32Array.from([0.5, -0.5, 0.5, -0.5, 0.25, 0.125, -0.25, 0]);

t.test('quantizeGallery: per-row symmetric, seven bits (no int16 saturation on AVX2), transposed to [dimension, rows]', async (t) => {
  const row = quantizeGallery(gallery, 2, 4);
  t.same([...row.scales], [0.5 / 63, 0.25 / 63].map(Math.fround), 'each row its own scale');
  // Column j of the transposed matrix holds row r at j * rows + r.
  t.same([...row.transposed], [63, 63, -63, 32, 63, -63, -63, 0], 'the whole seven-bit range in both rows; halves round up');
  const global = quantizeGallery(gallery, 2, 4, 'global');
  t.same([...global.scales], [0.5 / 63, 0.5 / 63].map(Math.fround), 'one scale for the whole gallery');
  // -0.25 / (0.5 / 63) = -31.5 rounds to -31 (Math.round: halves go up, as the wire's quantize does).
  t.same([...global.transposed], [63, 32, -63, 16, 63, -31, -63, 0], 'the smaller row uses half the range');
  t.same([...quantizeGallery(new Float32Array(4), 1, 4).transposed], [0, 0, 0, 0], 'a zero row stays zero');
});

t.test('buildScanGraph: float32 and int8 graphs that ONNX Runtime runs', async (t) => {
  t.throws(() => buildScanGraph({ gallery, rows: 3, dimension: 4 }), RangeError, 'the gallery must be rows x dimension');

  const float = await ort.InferenceSession.create(buildScanGraph({ gallery, rows: 2, dimension: 4 }));
  t.teardown(() => float.release());
  t.same(float.inputNames, ['queries', 'k']);
  t.same(float.outputNames, ['scores', 'indices']);
  const q = Float32Array.from([1, 0, 0, 0, 0, 0, -1, 0]);
  const k = new ort.Tensor('int64', BigInt64Array.of(2n), [1]);
  let out = await float.run({ queries: new ort.Tensor('float32', q, [2, 4]), k });
  t.same([...(out.scores.data as Float32Array)], [0.5, 0.25, 0.25, -0.5], 'Q · Gᵀ, best first');
  t.same([...(out.indices.data as BigInt64Array)], [0n, 1n, 1n, 0n]);

  // Query bytes b stand for b − 128: the first query's bytes say (127, 0, 0, 0), the second's (0, 0, -127, 0). The
  // float queries disagree with the bytes on purpose: the bytes choose the shortlist, the floats score it.
  const bytes = Uint8Array.from([255, 128, 128, 128, 128, 128, 1, 128]);
  const floats = Float32Array.from([1, 0.5, 0, 0, 0, 0, -1, 0]);
  const one = (name: string, n: bigint) => ({ [name]: new ort.Tensor('int64', BigInt64Array.of(n), [1]) });
  for (const scaling of ['row', 'global'] as const) {
    const int8 = await ort.InferenceSession.create(buildScanGraph({ gallery, rows: 2, dimension: 4, precision: 'int8', scaling }));
    t.teardown(() => int8.release());
    t.same([...int8.inputNames].sort(), ['k', 'queries', 'query_bytes', 'shortlist'], `${scaling}: the float graph's inputs and two more`);
    t.same(int8.outputNames, ['scores', 'indices'], `${scaling}: the float graph's outputs`);
    const feeds = { queries: new ort.Tensor('float32', floats, [2, 4]), query_bytes: new ort.Tensor('uint8', bytes, [2, 4]) };
    // Shortlist of 1: the bytes' best row only, scored with the float query.
    out = await int8.run({ ...feeds, ...one('k', 1n), ...one('shortlist', 1n) });
    const { transposed, scales } = quantizeGallery(gallery, 2, 4, scaling);
    const approx = (query: number[], r: number) => query.reduce((s, x, j) => s + x * transposed[j * 2 + r], 0) * (scaling === 'row' ? scales[r] : 1);
    const best = [
      [127, 0, 0, 0],
      [0, 0, -127, 0],
    ].map((query) => (approx(query, 1) > approx(query, 0) ? 1 : 0));
    t.same([...(out.indices.data as BigInt64Array)].map(Number), best, `${scaling}: the shortlist follows the integer products`);
    const exact = (q: number, r: number) => Math.fround([0, 1, 2, 3].reduce((s, j) => s + floats[q * 4 + j] * gallery[r * 4 + j], 0));
    t.same([...(out.scores.data as Float32Array)], best.map((r, q) => exact(q, r)), `${scaling}: scored with the float query`);
    // The whole gallery shortlisted: the float32 graph's answer.
    out = await int8.run({ ...feeds, ...one('k', 2n), ...one('shortlist', 2n) });
    t.same([...(out.scores.data as Float32Array)], [0.3125, 0.25, 0.25, -0.5], `${scaling}: Q · Gᵀ over the shortlist, best first`);
    t.same([...(out.indices.data as BigInt64Array)], [1n, 0n, 1n, 0n], 'so the first query now finds row 1, which its bytes ranked second');
    await t.rejects(int8.run({ ...feeds, ...one('k', 2n), ...one('shortlist', 1n) }), 'k beyond the shortlist is refused');
  }
  t.equal(QUERY_ZERO_POINT, 128);
});
