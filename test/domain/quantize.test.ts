import t from 'tap';
import { dequantize, QUANT_MAX, QuantizationError, quantize } from '../../daemon/domain/quantize.js';
import { blobToViewModel, viewModelToBlob } from '../../daemon/storage/view-model-blob.js';
import { decode, encode, WireError } from '../../daemon/transport/codec.js';

/**
 * The int8 encoding pinned byte for byte, as the wire codec and the view model BLOB wrote it before both called
 * domain/quantize.ts: a stored SQLite blob or a wire message from an older build must decode to the same values.
 * wire: encode() of a query { model 'm', topM 1, vector }; blob: viewModelToBlob() of { mean: vector, one direction
 * -vector, scales [0.5], residual 0.25 }.
 */
const PINNED: { what: string; values: number[]; wire: string; blob: string }[] = [
  {
    what: 'mixed signs and a zero',
    values: [0.5, -0.25, 0.125, -1, 0.3333, 0],
    wire: 'a561760161746171616d616d616b016166824640e010812a00fa3c010204',
    blob: '01010000803e0000003f0402013c40e010812a000402013cc020f07fd600',
  },
  {
    what: 'exact half steps (Math.round: 2.5 → 3, -2.5 → -2, -0.5 → 0) and ±max',
    values: [127, 2.5, -2.5, 0.5, -0.5, -127],
    wire: 'a561760161746171616d616d616b01616682467f03fe01008101',
    blob: '01010000803e0000003f0000803f7f03fe0100810000803f81fe0300017f',
  },
  {
    what: 'all zeros: scale 0, zero bytes',
    values: [0, 0, 0, 0],
    wire: 'a561760161746171616d616d616b01616682440000000000',
    blob: '01010000803e0000003f00000000000000000000000000000000',
  },
  {
    what: '+max is byte 127',
    values: [1, 0.5, 0.25, -0.001],
    wire: 'a561760161746171616d616d616b01616682447f402000fa3c010204',
    blob: '01010000803e0000003f0402013c7f4020000402013c81c0e000',
  },
  {
    what: '-max is byte -127',
    values: [-3, 1, 2.9999],
    wire: 'a561760161746171616d616d616b0161668243812a7ffa3cc18306',
    blob: '01010000803e0000003f0683c13c812a7f0683c13c7fd681',
  },
  {
    what: 'max|x| / 127 underflows float32: scale 0, zero bytes',
    values: [1.401298464324817e-45, 0],
    wire: 'a561760161746171616d616d616b0161668242000000',
    blob: '01010000803e0000003f000000000000000000000000',
  },
];

t.test('the wire and the view model BLOB encode pinned vectors byte for byte as before', async (t) => {
  for (const { what, values, wire, blob } of PINNED) {
    const vector = Float32Array.from(values);
    t.equal(Buffer.from(encode({ type: 'query', model: 'm', vector, topM: 1 })).toString('hex'), wire, `${what}: wire`);
    const view = { mean: vector, directions: [vector.map((x) => -x)], scales: [0.5], residual: 0.25 };
    t.equal(viewModelToBlob(view).toString('hex'), blob, `${what}: blob`);

    // Both decode to byte × scale, the same float32 values whichever way the vector travelled.
    const expected = Array.from(dequantize(quantize(vector)));
    const received = decode(Buffer.from(wire, 'hex'), { maxBytes: 1024, dimension: values.length, maxCandidates: 1, maxSpots: 1 });
    t.same(received.type === 'query' ? Array.from(received.vector) : null, expected, `${what}: wire decodes to byte × scale`);
    t.same(Array.from(blobToViewModel(Buffer.from(blob, 'hex'), values.length).mean), expected, `${what}: blob decodes to byte × scale`);
  }
});

t.test('quantize: scale, rounding, clamping and the edge cases', async (t) => {
  const zero = quantize(new Float32Array(4));
  t.equal(zero.scale, 0, 'all zeros: scale 0');
  t.same(Array.from(zero.bytes), [0, 0, 0, 0], 'all zeros: zero bytes');
  t.same(Array.from(dequantize(zero)), [0, 0, 0, 0], 'all zeros decode to zeros');

  const max = quantize(Float32Array.of(2, -2, 1));
  t.equal(max.scale, Math.fround(2 / QUANT_MAX), 'scale = max|x| / 127, as float32');
  t.same(Array.from(max.bytes), [127, -127, 64], '±max is ±127; 63.5 rounds up to 64');
  const decoded = dequantize(max);
  t.equal(decoded[0], Math.fround(127 * max.scale), '+max decodes to 127 × scale');
  t.equal(decoded[1], -decoded[0], '-max decodes symmetrically');

  for (const bad of [NaN, Infinity, -Infinity]) {
    t.throws(() => quantize(Float32Array.of(0.5, bad)), new QuantizationError(1), `${bad} is refused, naming its index`);
    t.throws(() => encode({ type: 'query', model: 'm', vector: Float32Array.of(0.5, bad), topM: 1 }), WireError, `${bad}: the codec refuses it as a WireError`);
    const view = { mean: Float32Array.of(0.5, bad), directions: [], scales: [], residual: 0 };
    t.throws(() => viewModelToBlob(view), QuantizationError, `${bad}: the view model BLOB refuses it`);
  }
});
