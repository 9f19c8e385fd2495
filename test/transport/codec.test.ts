import t, { type Test } from 'tap';
import { Encoder } from 'cbor-x';
import { decode, decodeRouted, encode, isCorrelationData, isReplyTopic, WIRE_BOUNDS, WireError } from '../../daemon/transport/codec.js';
import { dequantize, maxAbsDifference, QuantizationError, quantizationErrorBound, quantize } from '../../daemon/domain/quantize.js';
import { TOPICS } from '../../daemon/transport/messages.js';
import type {
  ReplyMessage,
  RegionPackMessage,
  WireLimits,
  WireMessage,
} from '../../daemon/transport/messages.js';
import { packDigests, spotDigest } from '../../daemon/transport/spot-digest.js';
import { cosine, normalize } from '../../daemon/util/vector.js';

const limits: WireLimits = { maxBytes: 64 * 1024, dimension: 256, maxCandidates: 32, maxSpots: 200 };

// Deterministic random numbers (mulberry32) so a failure can be replayed.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(42);
function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
function randomVector(dim = limits.dimension, scale = 1): Float32Array {
  const v = normalize(Float32Array.from({ length: dim }, gaussian));
  return v.map((x) => x * scale);
}

// A raw CBOR encoder for hand-made hostile envelopes (same settings as the codec: plain byte strings).
const raw = new Encoder({ useRecords: false, tagUint8Array: false });
const rawVector = (dim: number, scale: number) => [new Uint8Array(dim).fill(3), scale];
const validQuery = () => ({ v: 1, t: 'q', m: 'model-a', k: 5, f: rawVector(limits.dimension, 0.01) });

function rejects(t: Test, buf: Buffer | Uint8Array, pattern: RegExp, what: string, lim = limits): void {
  try {
    const msg = decode(buf, lim);
    t.fail(`${what}: accepted as ${msg.type}`);
  } catch (err) {
    t.type(err, WireError, `${what}: WireError`);
    t.match((err as Error).message, pattern, `${what}: reason`);
    t.notMatch((err as Error).message, /\n/, `${what}: one-line reason`);
  }
}

function vectorWithin(t: Test, original: Float32Array, decoded: Float32Array, what: string): void {
  t.equal(decoded.length, original.length, `${what}: length`);
  const err = maxAbsDifference(original, decoded);
  t.ok(err <= quantizationErrorBound(original), `${what}: error ${err} within bound ${quantizationErrorBound(original)}`);
  t.ok(cosine(original, decoded) > 0.999, `${what}: cosine ${cosine(original, decoded)}`);
}

t.test('quantisation error stays within the bound at every scale', async (t) => {
  for (const scale of [1e-4, 1, 37, 1e4]) {
    for (let i = 0; i < 20; i++) {
      const v = randomVector(256, scale);
      const q = quantize(v);
      t.equal(q.bytes.length, 256);
      t.ok(Math.max(...q.bytes.map(Math.abs)) === 127, 'the largest component uses the full int8 range');
      const err = maxAbsDifference(v, dequantize(q));
      if (err > quantizationErrorBound(v)) t.fail(`scale ${scale}: error ${err} > bound ${quantizationErrorBound(v)}`);
    }
  }
  // One spike dominates the scale: small components lose precision, but never beyond the bound.
  const spike = randomVector(256, 0.01);
  spike[7] = 5;
  t.ok(maxAbsDifference(spike, dequantize(quantize(spike))) <= quantizationErrorBound(spike));
  // The bound is not vacuous: it is half a step.
  t.ok(quantizationErrorBound(spike) < 5 / 200);
  const zero = new Float32Array(256);
  t.same(Array.from(dequantize(quantize(zero))), Array.from(zero), 'a zero vector stays zero');
  t.throws(() => quantize(Float32Array.of(1, NaN)), QuantizationError, 'NaN can not be quantised');
});

t.test('every message type survives a round trip', async (t) => {
  const query = { type: 'query', model: 'enfpire-gist-int8-v1', vector: randomVector(), topM: 8 } as const;
  const q = decode(encode(query), limits);
  t.equal(q.type, 'query');
  if (q.type === 'query') {
    t.equal(q.model, query.model);
    t.equal(q.topM, 8);
    vectorWithin(t, query.vector, q.vector, 'query vector');
  }

  const reply: ReplyMessage = {
    type: 'reply',
    model: 'enfpire-gist-int8-v1',
    galleryVersion: 'v7',
    candidates: Array.from({ length: 8 }, (_, i) => ({ id: `spot-${i}` })),
  };
  const r = decode(encode(reply), limits);
  t.equal(r.type, 'reply');
  if (r.type === 'reply') {
    t.equal(r.candidates.length, 8);
    t.equal(r.galleryVersion, 'v7', 'the gallery version travels in every reply');
    r.candidates.forEach((c, i) => {
      const o = reply.candidates[i];
      t.equal(c.id, o.id);
      t.same(Object.keys(c), ['id'], 'ids only: scores are computed on the device, features and service information come from the pack');
    });
  }

  const pack: RegionPackMessage = {
    type: 'region-pack',
    model: 'm1',
    region: 'Old Town',
    galleryVersion: '2024-05-01T12:00:00Z#17',
    spots: Array.from({ length: 50 }, (_, i) => ({
      id: `s${i}`,
      feature: randomVector(),
      x: i * 12.25,
      y: -i * 3.5,
      popularity: 1 + i / 7,
      info: { name: `Spot ${i}`, description: 'Kiosk\nopen 9-5', url: 'https://example.org', tags: ['a', 'b'], hours: { mon: [9, 17] }, open: true, rating: null },
    })),
  };
  const p = decode(encode(pack), limits);
  t.equal(p.type, 'region-pack');
  if (p.type === 'region-pack') {
    t.equal(p.region, 'Old Town');
    t.equal(p.galleryVersion, pack.galleryVersion);
    p.spots.forEach((s, i) => {
      const o = pack.spots[i];
      t.equal(s.id, o.id);
      t.ok(Math.abs(s.x - o.x) <= Math.abs(o.x) * 1e-6 && Math.abs(s.y - o.y) <= Math.abs(o.y) * 1e-6, 'coordinates');
      t.ok(Math.abs(s.popularity - o.popularity) < 1e-5, 'popularity');
      t.same(s.info, o.info, 'service information');
      vectorWithin(t, o.feature, s.feature, `spot ${i}`);
    });
  }

  // An optional per-spot view model travels int8-quantised and comes back close.
  const unit = (v: Float32Array) => normalize(v);
  const view = { mean: randomVector(256, 0.02), directions: [unit(randomVector()), unit(randomVector())], scales: [0.2, 0.1], residual: 0.15 };
  const withView: RegionPackMessage = { ...pack, spots: [{ ...pack.spots[0], view }, pack.spots[1]] };
  const pv = decode(encode(withView), limits);
  if (pv.type === 'region-pack') {
    const v = pv.spots[0].view!;
    t.ok(v, 'the view model comes back');
    t.equal(pv.spots[1].view, undefined, 'a spot without one stays without');
    vectorWithin(t, view.mean, v.mean, 'view mean');
    v.directions.forEach((d, j) => vectorWithin(t, view.directions[j], d, `view direction ${j}`));
    t.ok(v.scales.every((s, j) => Math.abs(s - view.scales[j]) < 1e-6), 'scales');
    t.ok(Math.abs(v.residual - 0.15) < 1e-6, 'residual');
  } else t.fail('not a region pack');

  const others: WireMessage[] = [
    { type: 'region-request', model: 'm1', region: '*' },
    { type: 'info', model: 'm1', dimension: 256, galleryVersion: 'v3', spots: 1200, regions: ['north', 'south'] },
    { type: 'error', code: 'wrong-model', message: 'this recognizer serves m2' },
  ];
  for (const msg of others) t.same(decode(encode(msg), limits), msg, `${msg.type} round trip`);
});

t.test('a 256-d query is compact', async (t) => {
  const size = encode({ type: 'query', model: 'enfpire-gist-int8-v1', vector: randomVector(), topM: 8 }).length;
  // 256 vector bytes + 5 scale bytes + envelope; a float32 vector alone would be 1024 bytes.
  t.ok(size > 256 && size < 320, `query is ${size} bytes`);
});

t.test('oversize payloads are refused before parsing', async (t) => {
  rejects(t, Buffer.alloc(limits.maxBytes + 1, 0xff), /payload has 65537 bytes, at most 65536/, 'oversize garbage');
  const small = { ...limits, maxBytes: 100 };
  rejects(t, encode({ type: 'query', model: 'm', vector: randomVector(), topM: 1 }), /at most 100 allowed/, 'oversize query', small);
  rejects(t, Buffer.alloc(0), /empty/, 'empty payload');
});

t.test('garbage, truncated and mutated CBOR only ever gives WireError', async (t) => {
  rejects(t, Buffer.from('not cbor at all, just text'), /./, 'text');
  rejects(t, Buffer.from([0xff, 0xff, 0xff]), /not valid CBOR/, 'break bytes');
  rejects(t, Buffer.from([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), /not valid CBOR/, 'array claiming 2^64 items');
  rejects(t, Buffer.from([0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00]), /not valid CBOR/, 'byte string claiming 2 GB');
  rejects(t, raw.encode([1, 2, 3]), /message is an array, expected a map/, 'top-level array');
  rejects(t, raw.encode(12), /expected a map/, 'top-level number');
  rejects(t, Buffer.concat([encode({ type: 'error', code: 'busy', message: 'y' }), Buffer.from([0])]), /not valid CBOR/, 'trailing bytes');
  // Deep nesting must not overflow the stack into a RangeError.
  rejects(t, Buffer.concat([Buffer.alloc(60000, 0x81), Buffer.from([0])]), /./, 'deeply nested arrays');

  const valid = encode({
    type: 'region-pack',
    model: 'm1',
    region: 'north',
    galleryVersion: 'v1',
    spots: [{ id: 'a', feature: randomVector(), x: 1, y: 2, popularity: 1, info: { name: 'A', tags: ['x'] } }],
  });
  for (let end = 0; end < valid.length; end++) rejects(t, valid.subarray(0, end), /./, `truncated to ${end} bytes`);

  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.from(valid);
    for (let j = 0, n = 1 + Math.floor(rand() * 4); j < n; j++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
    try {
      decode(buf, limits);
      accepted++;
    } catch (err) {
      if (!(err instanceof WireError)) t.fail(`mutation ${i} threw ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
  for (let i = 0; i < 2000; i++) {
    const buf = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
    try {
      decode(buf, limits);
      t.fail('random bytes accepted');
    } catch (err) {
      if (!(err instanceof WireError)) t.fail(`random bytes threw ${(err as Error).name}`);
    }
  }
  t.ok(accepted < 3000, `${accepted} of 3000 mutated payloads still valid (mutations inside vector bytes are harmless)`);
});

t.test('envelope checks: version, type, required fields', async (t) => {
  rejects(t, raw.encode({ ...validQuery(), v: 2 }), /protocol version is number 2, expected 1/, 'version 2');
  rejects(t, raw.encode({ ...validQuery(), v: '1' }), /protocol version is a string/, 'version as string');
  const { v: _v, ...noVersion } = validQuery();
  rejects(t, raw.encode(noVersion), /protocol version is missing/, 'no version');
  rejects(t, raw.encode({ ...validQuery(), t: 'z' }), /message type "z" is unknown/, 'unknown type');
  rejects(t, raw.encode({ ...validQuery(), t: 7 }), /message type number 7 is unknown/, 'numeric type');
  const { m: _m, ...noModel } = validQuery();
  rejects(t, raw.encode(noModel), /query model id is missing/, 'no model');
  rejects(t, raw.encode({ ...validQuery(), m: 'has space' }), /printable ASCII/, 'model id with a space');
  rejects(t, raw.encode({ ...validQuery(), m: 'm'.repeat(10_000) }), /query model id has 10000 characters, at most 128/, 'huge model id');
  t.equal(decode(raw.encode({ ...validQuery(), extra: 'ignored' }), limits).type, 'query', 'unknown keys are ignored');
});

t.test('query checks: dimension, scale, topM', async (t) => {
  rejects(t, encode({ type: 'query', model: 'm', vector: randomVector(128), topM: 3 }), /query vector has 128 values, expected 256/, 'wrong dimension');
  for (const scale of [NaN, Infinity, -Infinity, -0.5]) {
    rejects(t, raw.encode({ ...validQuery(), f: rawVector(256, scale) }), /query vector scale is .* expected a finite number ≥ 0/, `scale ${scale}`);
  }
  rejects(t, raw.encode({ ...validQuery(), f: [Array(256).fill(1), 0.1] }), /query vector values are an array, expected a byte string/, 'vector as number array');
  rejects(t, raw.encode({ ...validQuery(), f: new Uint8Array(256) }), /expected \[bytes, scale\]/, 'vector without scale');
  for (const k of [-1, 0, 1.5, 33, '5', NaN]) rejects(t, raw.encode({ ...validQuery(), k }), /query topM/, `topM ${String(k)}`);
});

t.test('reply checks: counts, ids, gallery version', async (t) => {
  const replyWith = (ids: unknown[], over: Record<string, unknown> = {}) => raw.encode({ v: 1, t: 'r', m: 'm1', gv: 'v1', c: ids, ...over });
  t.equal(decode(replyWith(['spot']), limits).type, 'reply', 'the baseline is valid');
  rejects(t, replyWith(Array.from({ length: 33 }, (_, i) => `s${i}`)), /reply candidates has 33 entries, at most 32/, 'too many candidates');
  const earlier = decode(replyWith(['a', 'b'], { s: [0.9, NaN] }), limits);
  t.same(earlier.type === 'reply' && earlier.candidates, [{ id: 'a' }, { id: 'b' }], 'scores of the earlier format are ignored, never passed on');
  rejects(t, replyWith(['x'.repeat(WIRE_BOUNDS.maxIdLength + 1)]), /reply candidate 0 is .*expected a spot id/, 'huge id');
  rejects(t, replyWith(['a\u0000b']), /reply candidate 0 is .*expected a spot id/, 'id with NUL');
  rejects(t, replyWith(['']), /reply candidate 0 is .*expected a spot id/, 'empty id');
  rejects(t, replyWith([7]), /reply candidate 0 is number 7, expected a spot id/, 'numeric id');
  rejects(t, replyWith(['a'], { gv: undefined }), /reply gallery version/, 'no gallery version');
  rejects(t, replyWith(['a'], { c: 'a' }), /reply candidates is a string/, 'candidates not an array');
});

t.test('replies by spot digest: the query asks with h: true, the reply answers with h and no c', async (t) => {
  const query = { type: 'query', model: 'enfpire-gist-int8-v1', vector: randomVector(), topM: 8 } as const;
  const byId = encode(query);
  t.same(Object.keys(raw.decode(byId) as object).sort(), ['f', 'k', 'm', 't', 'v'], 'a query for ids carries no h');
  t.notOk('digests' in decode(byId, limits), 'and decodes without the field');
  t.notOk('h' in (raw.decode(encode({ ...query, digests: false })) as object), 'digests: false is not sent either');
  const asked = encode({ ...query, digests: true });
  t.equal((raw.decode(asked) as { h: unknown }).h, true, 'h: true');
  t.equal(asked.length, byId.length + 3, 'costs 3 bytes');
  const q = decode(asked, limits);
  t.ok(q.type === 'query' && q.digests === true && q.topM === 8, 'decodes with digests: true');
  const f = decode(raw.encode({ ...validQuery(), h: false }), limits);
  t.notOk('digests' in f, 'h: false decodes as a query for ids');

  const digests = Uint32Array.from([0, 1, 0xdeadbeef, 0xffffffff, spotDigest('arch')]);
  const reply: ReplyMessage = { type: 'reply', model: 'm1', galleryVersion: 'v7', candidates: [], digests };
  const encoded = encode(reply);
  const envelope = raw.decode(encoded) as Record<string, unknown>;
  t.notOk('c' in envelope, 'no c beside h');
  t.same(Array.from(envelope.h as Uint8Array), Array.from(packDigests(digests)), 'h is the packed digests');
  const r = decode(encoded, limits);
  t.same(r, { type: 'reply', model: 'm1', galleryVersion: 'v7', candidates: [], digests }, 'round trip: the digests in order, no candidates');
  t.type(r.type === 'reply' && r.digests, Uint32Array);
  const none = decode(encode({ ...reply, digests: new Uint32Array(0) }), limits);
  t.ok(none.type === 'reply' && none.digests?.length === 0, 'an empty reply by digest stays one');
  const both = decode(raw.encode({ v: 1, t: 'r', m: 'm1', gv: 'v1', c: ['a'], h: packDigests([5]) }), limits);
  t.same(both.type === 'reply' && [both.candidates, Array.from(both.digests ?? [])], [[], [5]], 'h wins over a c beside it');
});

t.test('digest checks: a boolean flag in queries, whole 4-byte digests in replies, at most M of them', async (t) => {
  for (const [h, what] of [[1, 'number 1'], ['yes', 'a string'], [null, 'null'], [new Uint8Array(1), 'a byte string']] as const) {
    rejects(t, raw.encode({ ...validQuery(), h }), new RegExp(`query digest flag is ${what}, expected true or false`), `query h ${what}`);
  }
  const replyWith = (h: unknown) => raw.encode({ v: 1, t: 'r', m: 'm1', gv: 'v1', h });
  rejects(t, replyWith('abcd'), /reply candidate digests are a string, expected a byte string/, 'h as text');
  rejects(t, replyWith([1, 2]), /reply candidate digests are an array, expected a byte string/, 'h as an array of numbers');
  rejects(t, replyWith(7), /reply candidate digests are number 7, expected a byte string/, 'h as a number');
  rejects(t, replyWith(new Uint8Array(7)), /reply candidate digests have 7 bytes, not a multiple of 4/, '7 bytes');
  rejects(t, replyWith(new Uint8Array(4 * 33)), /reply candidate digests name 33 candidates, at most 32 allowed/, '33 digests');
  t.equal(decode(replyWith(new Uint8Array(4 * 32)), limits).type, 'reply', '32 digests are fine');
  rejects(t, raw.encode({ v: 1, t: 'r', m: 'm1', gv: 'v1' }), /reply candidates is missing/, 'neither c nor h');
});

t.test('a 256-candidate reply by digest is less than half the size of one by 8-character ids', async (t) => {
  const reply = { type: 'reply', model: 'enfpire-gist-int8-v1', galleryVersion: 'a9ec95f950c3c7c9' } as const;
  const ids = Array.from({ length: 256 }, (_, i) => `s${String(i).padStart(7, '0')}`);
  const byId = encode({ ...reply, candidates: ids.map((id) => ({ id })) }).length;
  const byDigest = encode({ ...reply, candidates: [], digests: Uint32Array.from(ids, spotDigest) }).length;
  t.comment(`256 candidates: ${byId} bytes by 8-character id, ${byDigest} by digest`);
  t.ok(byDigest < 1_100, `by digest ${byDigest} bytes`);
  t.ok(byId > 2_000, `by id ${byId} bytes`);
  t.equal(decode(encode({ ...reply, candidates: [], digests: Uint32Array.from(ids, spotDigest) }), { ...limits, maxCandidates: 256 }).type, 'reply', 'and decodes under the deployed limit of 256');
});

t.test('service information in region packs: types, sizes, nesting, no tags, no prototype pollution', async (t) => {
  const infoPack = (n: unknown) => raw.encode({ v: 1, t: 'p', m: 'm1', g: 'north', gv: 'v1', s: [{ i: 's', f: rawVector(256, 0.01), x: 1, y: 2, p: 1, n }] });
  t.equal(decode(infoPack({ name: 'Spot' }), limits).type, 'region-pack', 'the baseline is valid');
  rejects(t, infoPack('just text'), /service info is a string, expected a map/, 'info not a map');
  rejects(t, infoPack({}), /service info.name is undefined, expected a string/, 'info without name');
  rejects(t, infoPack({ name: 'x', description: 5 }), /description/, 'description not a string');
  rejects(t, infoPack({ name: 'x', d: 'y'.repeat(5000) }), /has 5000 characters, at most 4096/, 'huge info string');
  t.equal(decode(infoPack({ name: 'x', a: { b: [{ d: 1 }] } }), limits).type, 'region-pack', 'three levels of nesting are fine');
  rejects(t, infoPack({ name: 'x', a: { b: { c: { d: { e: 1 } } } } }), /nested deeper than 3/, 'deep info');
  rejects(t, infoPack({ name: 'x', list: Array(65).fill(1) }), /65 entries, at most 64/, 'long info array');
  rejects(t, infoPack(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]).concat([['name', 'x']]))), /41 keys, at most 32/, 'too many info keys');
  // A Date travels as a tag (1): refused before cbor-x builds anything from it.
  rejects(t, infoPack({ name: 'x', when: new Date(0) }), /a tag \(1\); the protocol uses none/, 'a Date in info');
  rejects(t, infoPack({ name: 'x', bytes: new Uint8Array(4) }), /expected JSON data/, 'bytes in info');
  // Tag 27 would make cbor-x build a RegExp: refused before parsing, like every tag.
  const withRegExp = infoPack({ name: 'x', r: 'PLACEHOLDER' });
  const placeholder = raw.encode('PLACEHOLDER');
  const regexp = Buffer.concat([Buffer.from([0xd8, 0x1b]), raw.encode(['RegExp', '(a+)+$'])]);
  const at = withRegExp.indexOf(placeholder);
  rejects(t, Buffer.concat([withRegExp.subarray(0, at), regexp, withRegExp.subarray(at + placeholder.length)]), /a tag \(27\)/, 'a RegExp in info');

  const proto = decode(infoPack(JSON.parse('{"name":"x","__proto__":{"polluted":true}}')), limits);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  if (proto.type === 'region-pack') t.equal(Object.getPrototypeOf(proto.spots[0].info), Object.prototype, 'info keeps a plain prototype');
});

t.test('region pack, info and error checks', async (t) => {
  const spot = (over: Record<string, unknown> = {}) => ({ i: 's', f: rawVector(256, 0.01), x: 1, y: 2, p: 1, ...over });
  const pack = (spots: unknown[]) => raw.encode({ v: 1, t: 'p', m: 'm1', g: 'north', gv: 'v1', s: spots });
  t.equal(decode(pack([spot()]), limits).type, 'region-pack');
  rejects(t, pack(Array.from({ length: 201 }, () => spot())), /region pack spots has 201 entries, at most 200/, 'too many spots');
  for (const p of [0, -1, NaN, Infinity]) rejects(t, pack([spot({ p })]), /popularity/, `popularity ${p}`);
  rejects(t, pack([spot({ x: NaN })]), /spot 0 x is number NaN, expected a finite number/, 'NaN x');
  rejects(t, pack([spot({ y: undefined })]), /spot 0 y/, 'undefined y');
  const dir = () => [new Uint8Array(256).fill(8), 1 / (8 * 16)]; // unit: 256 × (1/16)²
  const view = (over: Record<string, unknown> = {}) => ({ m: rawVector(256, 0.001), d: [dir()], s: [0.2], r: 0.1, ...over });
  t.equal(decode(pack([spot({ v: view() })]), limits).type, 'region-pack', 'a valid view model');
  rejects(t, pack([spot({ v: view({ m: rawVector(255, 0.001) }) })]), /view model mean has 255 values, expected 256/, 'view mean dimension');
  rejects(t, pack([spot({ v: view({ d: [[new Uint8Array(128).fill(8), 0.01]] }) })]), /direction 0 has 128 values/, 'direction dimension');
  rejects(t, pack([spot({ v: view({ d: Array.from({ length: 9 }, dir), s: Array(9).fill(0.1) }) })]), /directions has 9 entries, at most 8/, 'too many directions');
  rejects(t, pack([spot({ v: view({ s: [0.2, 0.1] }) })]), /1 directions but 2 scales/, 'scales per direction');
  rejects(t, pack([spot({ v: view({ s: [NaN] }) })]), /scale 0 is number NaN/, 'NaN scale');
  rejects(t, pack([spot({ v: view({ s: [-1] }) })]), /scale 0 is -1/, 'negative scale');
  rejects(t, pack([spot({ v: view({ r: Infinity }) })]), /residual is number Infinity/, 'infinite residual');
  rejects(t, pack([spot({ v: view({ r: 50 }) })]), /residual is 50, expected 0 to 4/, 'unbounded residual');
  rejects(t, pack([spot({ v: view({ d: [rawVector(256, 0.01)] }) })]), /direction 0 has norm .* expected a unit vector/, 'non-unit direction');
  rejects(t, pack([spot({ v: 'x' })]), /view model is .*expected a map/, 'view model not a map');
  rejects(t, raw.encode({ v: 1, t: 'g', m: 'm1', g: 'r'.repeat(500) }), /region request region has 500 characters/, 'huge region name');

  // Pages (decision 68): a request names one, a pack says which of how many; both or neither.
  t.same(decode(encode({ type: 'region-request', model: 'm1', region: 'north', page: 3 }), limits), { type: 'region-request', model: 'm1', region: 'north', page: 3 });
  t.notOk('page' in decode(encode({ type: 'region-request', model: 'm1', region: 'north' }), limits), 'a request for the whole pack names no page');
  for (const pg of [-1, 1.5, 'x', 1e7]) rejects(t, raw.encode({ v: 1, t: 'g', m: 'm1', g: 'r', pg }), /region request page/, `request page ${String(pg)}`);
  const paged = (over: Record<string, unknown>) => raw.encode({ v: 1, t: 'p', m: 'm1', g: 'north', gv: 'v1', s: [spot()], ...over });
  t.match(decode(paged({ pg: 2, np: 5 }), limits), { type: 'region-pack', page: 2, pages: 5 });
  rejects(t, paged({ pg: 5, np: 5 }), /region pack page is 5, expected 0 to 4/, 'page past the last');
  rejects(t, paged({ pg: 0 }), /region pack page count/, 'a page without the page count');
  rejects(t, paged({ np: 0 }), /region pack page count is 0/, 'no pages');

  const info = (over: Record<string, unknown> = {}) => raw.encode({ v: 1, t: 'i', m: 'm1', d: 128, gv: 'v1', n: 10, rg: ['a'], ...over });
  const ok = decode(info(), limits);
  t.equal(ok.type === 'info' && ok.dimension, 128, 'info may announce another dimension: the client decides');
  for (const d of [0, -5, 1.5, 1e9]) rejects(t, info({ d }), /info dimension/, `dimension ${d}`);
  rejects(t, info({ n: -1 }), /info spot count/, 'negative spot count');
  rejects(t, info({ rg: [''] }), /info region 0/, 'empty region');
  rejects(t, info({ rg: 'north' }), /info regions is a string, expected an array/, 'regions not an array');

  rejects(t, raw.encode({ v: 1, t: 'e', c: 'Bad Code', msg: 'x' }), /error code must be/, 'error code with spaces');
  rejects(t, raw.encode({ v: 1, t: 'e', c: 'x', msg: 'm'.repeat(2000) }), /error message has 2000 characters/, 'huge error message');
});

t.test('encode refuses what can not travel', async (t) => {
  t.throws(() => encode({ type: 'query', model: 'm', vector: Float32Array.of(1, Infinity), topM: 1 }), WireError);
  t.throws(() => encode({ type: 'nope' } as unknown as WireMessage), WireError);
});

t.test('3.1.1 routing: requests carry rt and cd, answers cd, and both survive a round trip', async (t) => {
  const replyTopic = TOPICS.replyPrefix + 'ab'.repeat(16);
  const correlationData = Uint8Array.from({ length: 16 }, (_, i) => 255 - i * 7);
  const query = { type: 'query', model: 'm1', vector: randomVector(), topM: 4 } as const;
  const plain = encode(query);
  const routed = encode(query, { responseTopic: replyTopic, correlationData });
  t.same(Object.keys(raw.decode(plain) as object).sort(), ['f', 'k', 'm', 't', 'v'], 'without routing the envelope is exactly the v5 one');
  t.same(Object.keys(raw.decode(routed) as object).sort(), ['cd', 'f', 'k', 'm', 'rt', 't', 'v']);
  const extra = routed.length - plain.length;
  t.ok(extra > 16 + 49 && extra < 90, `routing adds ${extra} bytes (16 correlation + 49 topic characters + keys)`);

  const q = decodeRouted(routed, limits);
  t.equal(q.msg.type, 'query');
  t.equal(q.routing?.responseTopic, replyTopic);
  t.same(Array.from(q.routing?.correlationData ?? []), Array.from(correlationData));
  t.equal(decode(routed, limits).type, 'query', 'plain decode accepts a routed payload');
  t.equal(decodeRouted(plain, limits).routing, undefined, 'no routing, none returned');

  const request = decodeRouted(encode({ type: 'region-request', model: 'm1', region: 'north' }, { responseTopic: replyTopic, correlationData }), limits);
  t.same(request, { msg: { type: 'region-request', model: 'm1', region: 'north' }, routing: { responseTopic: replyTopic, correlationData: Buffer.from(correlationData) } });
  for (const answer of [
    { type: 'reply', model: 'm1', galleryVersion: 'v1', candidates: [] },
    { type: 'region-pack', model: 'm1', region: 'north', galleryVersion: 'v1', spots: [] },
    { type: 'error', code: 'busy', message: 'later' },
  ] as WireMessage[]) {
    const a = decodeRouted(encode(answer, { correlationData }), limits);
    t.same(a.msg, answer, `${answer.type} round trip`);
    t.same(a.routing, { correlationData: Buffer.from(correlationData) }, `${answer.type} carries the correlation only`);
  }
});

t.test('3.1.1 routing: the reply address follows the recognizer rules', async (t) => {
  const good = TOPICS.replyPrefix + 'device_1-A';
  t.ok(isReplyTopic(good));
  for (const bad of ['elsewhere/x', TOPICS.replyPrefix, `${TOPICS.replyPrefix}a/b`, `${TOPICS.replyPrefix}#`, `${TOPICS.replyPrefix}+`,
    TOPICS.replyPrefix + 'x'.repeat(129), 5, undefined]) {
    t.notOk(isReplyTopic(bad), `not a reply topic: ${String(bad).slice(0, 40)}`);
  }
  t.ok(isCorrelationData(new Uint8Array(64)) && isCorrelationData(Buffer.alloc(1)));
  for (const bad of [new Uint8Array(0), new Uint8Array(65), 'abc', [1, 2]]) t.notOk(isCorrelationData(bad));

  const cd = new Uint8Array(8).fill(9);
  const q = { ...validQuery(), rt: good, cd };
  t.equal(decodeRouted(raw.encode(q), limits).routing?.responseTopic, good, 'the baseline is valid');
  rejects(t, raw.encode({ ...q, rt: 'elsewhere/topic' }), /query response topic is invalid, expected enfpire\/v1\/reply\/ followed by 1-128/, 'foreign topic');
  rejects(t, raw.encode({ ...q, rt: `${TOPICS.replyPrefix}a/b` }), /response topic is invalid/, 'deeper level');
  rejects(t, raw.encode({ ...q, rt: `${TOPICS.replyPrefix}#` }), /response topic is invalid/, 'wildcard');
  rejects(t, raw.encode({ ...q, rt: TOPICS.replyPrefix + 'x'.repeat(129) }), /response topic is invalid/, 'oversize suffix');
  rejects(t, raw.encode({ ...q, rt: 42 }), /query response topic is number 42/, 'topic not a string');
  rejects(t, raw.encode({ ...q, cd: new Uint8Array(65) }), /query correlation data is 65 bytes, expected 1-64 bytes/, 'oversize correlation');
  rejects(t, raw.encode({ ...q, cd: new Uint8Array(0) }), /correlation data is 0 bytes/, 'empty correlation');
  rejects(t, raw.encode({ ...q, cd: 'abc' }), /correlation data is a string/, 'correlation as text');
  const { cd: _cd, ...noCorrelation } = q;
  rejects(t, raw.encode(noCorrelation), /query has a response topic but no correlation data/, 'topic alone');
  const { rt: _rt, ...noTopic } = q;
  rejects(t, raw.encode(noTopic), /query has correlation data but no response topic/, 'correlation alone');
  rejects(t, raw.encode({ v: 1, t: 'g', m: 'm1', g: 'r', rt: 'x/y', cd }), /region request response topic is invalid/, 'region request');
  rejects(t, raw.encode({ v: 1, t: 'e', c: 'busy', msg: '', cd: new Uint8Array(100) }), /error correlation data is 100 bytes/, 'answer correlation');
  t.equal(decodeRouted(raw.encode({ v: 1, t: 'e', c: 'busy', msg: '', rt: 'not/checked', cd }), limits).routing?.responseTopic, undefined,
    'an answer has no response topic; an unknown rt is ignored like any unknown key');
  t.equal(decodeRouted(raw.encode({ v: 1, t: 'i', m: 'm1', d: 8, gv: 'v', n: 0, rg: [], cd: 'x' }), limits).routing, undefined, 'info carries no routing');

  // A valid address on an invalid message travels with the error, so the recognizer can still answer.
  try {
    decodeRouted(raw.encode({ ...q, f: rawVector(100, 0.1) }), limits);
    t.fail('accepted a wrong dimension');
  } catch (err) {
    t.type(err, WireError);
    t.match((err as WireError).message, /query vector has 100 values/);
    t.equal((err as WireError).routing?.responseTopic, good, 'the reply address survives the failure');
  }
  try {
    decodeRouted(raw.encode({ ...q, rt: 'x', f: rawVector(100, 0.1) }), limits);
  } catch (err) {
    t.equal((err as WireError).routing, undefined, 'an invalid address is never handed out');
  }
});

t.test('encode refuses routing that would not decode', async (t) => {
  const q = { type: 'query', model: 'm', vector: randomVector(), topM: 1 } as const;
  const cd = new Uint8Array(4);
  t.throws(() => encode(q, { responseTopic: 'elsewhere/x', correlationData: cd }), { name: 'WireError', message: /response topic must be/ });
  t.throws(() => encode(q, { correlationData: cd }), { name: 'WireError', message: /response topic must be/ });
  t.throws(() => encode(q, { responseTopic: TOPICS.replyPrefix + 'a', correlationData: new Uint8Array(65) }), { name: 'WireError', message: /1-64 bytes/ });
  t.throws(() => encode({ type: 'error', code: 'busy', message: '' }, { responseTopic: TOPICS.replyPrefix + 'a', correlationData: cd }), /carries no response topic/);
  t.throws(() => encode({ type: 'info', model: 'm', dimension: 1, galleryVersion: 'v', spots: 0, regions: [] }, { correlationData: cd }), /no routing/);
});
