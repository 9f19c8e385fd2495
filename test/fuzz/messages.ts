/**
 * Generators for the fuzz tests: valid wire messages of every type (with and without 3.1.1 envelope routing), encoded
 * by the real encoder, then broken in every way a hostile or broken peer could: byte-level mutations (truncation,
 * flips, splices, oversize), field-level ones (wrong types, NaN, ±Infinity, -0, very long strings, huge arrays),
 * hand-built CBOR bombs (headers claiming 2^32 items or 4 GB strings in 20 bytes, 10k-deep nesting, tags, shared
 * references, duplicated keys) and arbitrary CBOR, both from fast-check values and from a raw CBOR grammar.
 *
 * Every sample says what it is (`kind`, `label`) so a failure names its generator, and fast-check shrinks it.
 */
import fc from 'fast-check';
import { Decoder, Encoder } from 'cbor-x';
import { encode, WIRE_BOUNDS } from '../../daemon/transport/codec.js';
import { isWireErrorCode, WIRE_ERROR_CODE_LIST } from '../../daemon/transport/error-codes.js';
import {
  MAX_VIEW_DEVIATION,
  MAX_VIEW_DIRECTIONS,
  TOPICS,
  type EnvelopeRouting,
  type ServiceInfo,
  type SpotViewModel,
  type WireLimits,
  type WireMessage,
} from '../../daemon/transport/messages.js';

export const FUZZ_MODEL = 'fuzz-model-v1';

export type Kind = 'valid' | 'mutated' | 'hostile-field' | 'bomb' | 'cbor-value' | 'cbor-grammar' | 'random';

export interface Sample {
  kind: Kind;
  /** The generator or mutation that made it, for failure messages and the per-kind report. */
  label: string;
  bytes: Buffer;
}

/** A valid message and its envelope routing, as generated (before encoding). */
export interface ValidMessage {
  msg: WireMessage;
  routing?: EnvelopeRouting;
}

// ---------------------------------------------------------------------------------------------------------------
// Valid messages

/** Deterministic unit vector from a seed (mulberry32 + Box-Muller): cheaper than dimension × fc.float. */
export function seededUnit(seed: number, dimension: number): Float32Array {
  let s = seed | 0;
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const v = new Float32Array(dimension);
  let norm = 0;
  for (let i = 0; i < dimension; i++) {
    v[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dimension; i++) v[i] /= norm;
  return v;
}

// eslint-disable-next-line no-control-regex -- finding control characters is this pattern's purpose.
const CONTROL = /[\u0000-\u001f\u007f]/g;
/** Identifiers: any Unicode without control characters (the decoder's rule), 1..max UTF-16 units. */
const ident = (max: number) =>
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: Math.min(max, 24) })
    .map((s) => s.replace(CONTROL, '_').slice(0, max))
    .filter((s) => s.length > 0 && !/[\ud800-\udfff]$/.test(s));
/** Mostly `model`, sometimes another printable model id. */
const modelIds = (model: string) =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(model) }, { weight: 1, arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,40}$/) });
/** Finite numbers that stay finite as float32 (the encoder sends non-integers as float32). */
const coordinate = fc.double({ min: -1e30, max: 1e30, noNaN: true });
const popularity = fc.double({ min: 1e-3, max: 1e6, noNaN: true });
const vectorOf = (dimension: number) =>
  fc.oneof({ weight: 9, arbitrary: fc.integer().map((seed) => seededUnit(seed, dimension)) }, { weight: 1, arbitrary: fc.constant(new Float32Array(dimension)) });

const infoLeaf = fc.oneof(fc.string({ maxLength: 40 }), fc.boolean(), fc.constant(null), fc.integer(), fc.double({ min: -1e30, max: 1e30, noNaN: true }));
const infoKey = fc.string({ minLength: 1, maxLength: 12 }).map((k) => k.replace(CONTROL, '_'));
const serviceInfo: fc.Arbitrary<ServiceInfo> = fc
  .record(
    {
      name: fc.string({ maxLength: 60 }),
      description: fc.string({ maxLength: 200 }),
      url: fc.webUrl(),
      extra: fc.dictionary(infoKey, fc.oneof(infoLeaf, fc.array(infoLeaf, { maxLength: 4 }), fc.dictionary(infoKey, infoLeaf, { maxKeys: 3 })), { maxKeys: 4 }),
    },
    { requiredKeys: ['name'] },
  )
  .map(({ extra, ...rest }) => ({ ...extra, ...rest }));

function viewModelOf(dimension: number): fc.Arbitrary<SpotViewModel> {
  return fc
    .record({
      meanSeed: fc.integer(),
      meanNorm: fc.double({ min: 0, max: MAX_VIEW_DEVIATION * 0.9, noNaN: true }),
      directions: fc.array(fc.tuple(fc.integer(), fc.double({ min: 0, max: MAX_VIEW_DEVIATION, noNaN: true })), { maxLength: MAX_VIEW_DIRECTIONS }),
      residual: fc.double({ min: 0, max: MAX_VIEW_DEVIATION, noNaN: true }),
    })
    .map(({ meanSeed, meanNorm, directions, residual }) => ({
      mean: seededUnit(meanSeed, dimension).map((x) => x * meanNorm),
      directions: directions.map(([seed]) => seededUnit(seed, dimension)),
      scales: directions.map(([, scale]) => Math.fround(scale)),
      residual: Math.fround(residual),
    }));
}

const replyTopic = fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{1,${WIRE_BOUNDS.maxReplySuffixLength}}$`)).map((s) => TOPICS.replyPrefix + s);
const correlationData = fc.uint8Array({ minLength: 1, maxLength: WIRE_BOUNDS.maxCorrelationBytes }).map((b) => Buffer.from(b));

/** Valid messages of every type for `limits`, half of the routable ones with 3.1.1 envelope routing. */
export function validMessage(limits: WireLimits, model = FUZZ_MODEL): fc.Arbitrary<ValidMessage> {
  const d = limits.dimension;
  const modelId = modelIds(model);
  const query = fc.record({ model: modelId, topM: fc.integer({ min: 1, max: limits.maxCandidates }), vector: vectorOf(d) }).map((q) => ({ type: 'query' as const, ...q }));
  // Candidates carry their feature and service information and the reply a gallery version, so that the reply is
  // valid for both reply schemas (full candidates, or ids and scores with the gallery version: issue #12).
  const reply = fc
    .record({
      model: modelId,
      galleryVersion: ident(WIRE_BOUNDS.maxIdLength),
      candidates: fc.array(fc.record({ id: ident(WIRE_BOUNDS.maxIdLength), score: fc.double({ min: -1, max: 1, noNaN: true }), feature: vectorOf(d), info: serviceInfo }), {
        maxLength: Math.min(limits.maxCandidates, 12),
      }),
    })
    .map((r) => ({ type: 'reply' as const, ...r }));
  const regionRequest = fc.record({ model: modelId, region: ident(WIRE_BOUNDS.maxRegionLength) }).map((r) => ({ type: 'region-request' as const, ...r }));
  const spot = fc
    .record({
      id: ident(WIRE_BOUNDS.maxIdLength),
      feature: vectorOf(d),
      x: coordinate,
      y: coordinate,
      popularity,
      view: fc.option(viewModelOf(d), { nil: undefined }),
      info: fc.option(serviceInfo, { nil: undefined }),
    })
    .map(({ view, info, ...s }) => ({ ...s, ...(view ? { view } : {}), ...(info ? { info } : {}) }));
  const regionPack = fc
    .record({ model: modelId, region: ident(WIRE_BOUNDS.maxRegionLength), galleryVersion: ident(WIRE_BOUNDS.maxIdLength), spots: fc.array(spot, { maxLength: Math.min(limits.maxSpots, 12) }) })
    .map((p) => ({ type: 'region-pack' as const, ...p }));
  const info = fc
    .record({
      model: modelId,
      dimension: fc.oneof(fc.constant(d), fc.integer({ min: 1, max: WIRE_BOUNDS.maxDimension })),
      galleryVersion: ident(WIRE_BOUNDS.maxIdLength),
      spots: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      regions: fc.array(ident(WIRE_BOUNDS.maxRegionLength), { maxLength: 8 }),
    })
    .map((i) => ({ type: 'info' as const, ...i }));
  const error = fc
    .record({ code: fc.constantFrom(...WIRE_ERROR_CODE_LIST), message: fc.string({ maxLength: 200 }) })
    .map((e) => ({ type: 'error' as const, ...e }));

  const request = fc.oneof(query, regionRequest);
  const answer = fc.oneof(reply, regionPack, error);
  return fc.oneof(
    fc.tuple(request, fc.option(fc.record({ responseTopic: replyTopic, correlationData }), { nil: undefined })),
    fc.tuple(answer, fc.option(fc.record({ correlationData }), { nil: undefined })),
    fc.tuple(info, fc.constant(undefined)),
  ).map(([msg, routing]) => (routing ? { msg, routing } : { msg }));
}

export function encodeValid(v: ValidMessage): Buffer {
  return encode(v.msg, v.routing);
}

// ---------------------------------------------------------------------------------------------------------------
// Raw CBOR building blocks

/** A CBOR head: major type and argument (up to 2^64 − 1), shortest form unless `width` forces one (1, 2, 4, 8 bytes). */
export function head(major: number, n: number | bigint, width?: 0 | 1 | 2 | 4 | 8): Buffer {
  const v = BigInt(n);
  const w = width ?? (v < 24n ? 0 : v < 0x100n ? 1 : v < 0x10000n ? 2 : v < 0x100000000n ? 4 : 8);
  const m = major << 5;
  if (w === 0) return Buffer.from([m | Number(v)]);
  const out = Buffer.alloc(1 + w);
  out[0] = m | { 1: 24, 2: 25, 4: 26, 8: 27 }[w];
  if (w === 1) out[1] = Number(v & 0xffn);
  else if (w === 2) out.writeUInt16BE(Number(v & 0xffffn), 1);
  else if (w === 4) out.writeUInt32BE(Number(v & 0xffffffffn), 1);
  else out.writeBigUInt64BE(v & 0xffffffffffffffffn, 1);
  return out;
}

export const tstr = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([head(3, b.length), b]);
};
export const bstr = (b: Uint8Array) => Buffer.concat([head(2, b.length), b]);
export const uint = (n: number | bigint) => head(0, n);
export const arr = (items: Buffer[]) => Buffer.concat([head(4, items.length), ...items]);
/** A map from raw key/value pairs: duplicated keys and non-string keys allowed. */
export const map = (pairs: Array<[Buffer, Buffer]>) => Buffer.concat([head(5, pairs.length), ...pairs.flat()]);
export const tag = (n: number | bigint, item: Buffer) => Buffer.concat([head(6, n), item]);
export const f16 = (bits: number) => Buffer.from([0xf9, bits >> 8, bits & 0xff]);
export const f32 = (x: number) => {
  const b = Buffer.alloc(5);
  b[0] = 0xfa;
  b.writeFloatBE(x, 1);
  return b;
};
export const f64 = (x: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0xfb;
  b.writeDoubleBE(x, 1);
  return b;
};

/** Hostile number encodings: NaN, ±Infinity and -0 in every float width, the largest integers, a NaN with payload. */
export const HOSTILE_NUMBERS: Array<[string, Buffer]> = [
  ['NaN16', f16(0x7e00)],
  ['Inf16', f16(0x7c00)],
  ['-Inf16', f16(0xfc00)],
  ['-0f16', f16(0x8000)],
  ['NaN32', f32(NaN)],
  ['Inf32', f32(Infinity)],
  ['-Inf32', f32(-Infinity)],
  ['-0f32', f32(-0)],
  ['NaN64', f64(NaN)],
  ['NaN64-payload', Buffer.from([0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 1])],
  ['Inf64', f64(Infinity)],
  ['-Inf64', f64(-Infinity)],
  ['-0f64', f64(-0)],
  ['max-float64', f64(Number.MAX_VALUE)],
  ['min-subnormal', f64(Number.MIN_VALUE)],
  ['uint64-max', head(0, 2n ** 64n - 1n)],
  ['nint64-max', head(1, 2n ** 64n - 1n)],
  ['2^53+1', head(0, 2n ** 53n + 1n)],
  ['non-minimal-1', head(0, 1, 8)],
  ['undefined', Buffer.from([0xf7])],
  ['simple-0', Buffer.from([0xe0])],
  ['simple-255', Buffer.from([0xf8, 0xff])],
  ['reserved-1c', Buffer.from([0xfc])],
  ['lone-break', Buffer.from([0xff])],
];

/** The map of a valid envelope, as raw pairs, so that bombs can be planted in one field with the rest intact. */
function envelopePairs(type: string, fields: Array<[string, Buffer]>): Array<[Buffer, Buffer]> {
  return [[tstr('v'), uint(1)], [tstr('t'), tstr(type)], ...fields.map(([k, v]): [Buffer, Buffer] => [tstr(k), v])];
}

/** A valid query envelope (dimension `d`) with field `key` replaced by `value`. */
export function queryWith(d: number, key: string, value: Buffer): Buffer {
  const fields: Record<string, Buffer> = { m: tstr(FUZZ_MODEL), k: uint(3), f: arr([bstr(new Uint8Array(d).fill(5)), f32(0.01)]) };
  fields[key] = value;
  return map(envelopePairs('q', Object.entries(fields)));
}

/** A valid one-candidate reply envelope whose service information is `info`. */
export function replyWithInfo(d: number, info: Buffer): Buffer {
  const candidate = map([
    [tstr('i'), tstr('spot-1')],
    [tstr('s'), f32(0.5)],
    [tstr('f'), arr([bstr(new Uint8Array(d).fill(1)), f32(0.01)])],
    [tstr('n'), info],
  ]);
  return map(envelopePairs('r', [['m', tstr(FUZZ_MODEL)], ['c', arr([candidate])]]));
}

/** `depth` nested containers around `leaf`; `open` is one level's head (e.g. 0x81, 0x9f…0xff, a tag). */
export function nested(depth: number, open: Buffer, leaf: Buffer, close: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.alloc(depth * open.length).fill(open), leaf, Buffer.alloc(depth * close.length).fill(close)]);
}

/**
 * Hand-built hostile payloads, each with a name. Sizes stay within `limits.maxBytes` unless the point is the size.
 * The decoder must reject every one of them quickly (tested one by one as regression cases, and mixed into the runs).
 */
export function bombs(limits: WireLimits): Array<[string, Buffer]> {
  const d = limits.dimension;
  const pad = Buffer.alloc(16);
  const out: Array<[string, Buffer]> = [];
  // Declared sizes far beyond the payload, at the top and inside an otherwise valid envelope.
  for (const [name, n] of [
    ['2^32-1', 2n ** 32n - 1n],
    ['2^32', 2n ** 32n],
    ['2^63', 2n ** 63n],
    ['2^64-1', 2n ** 64n - 1n],
  ] as const) {
    for (const [what, major] of [
      ['bytes', 2],
      ['text', 3],
      ['array', 4],
      ['map', 5],
    ] as const) {
      out.push([`top ${what} of ${name}`, Buffer.concat([head(major, n), pad])]);
      out.push([`query vector ${what} of ${name}`, queryWith(d, 'f', Buffer.concat([head(4, 2), head(major, n), pad]))]);
    }
  }
  out.push(['4 GB byte string in 20 bytes', Buffer.concat([head(2, 2n ** 32n - 1n, 4), Buffer.alloc(15)])]);
  out.push(['reply with 2^32 candidates', map(envelopePairs('r', [['m', tstr(FUZZ_MODEL)], ['c', Buffer.concat([head(4, 2n ** 32n), pad])]]))]);
  out.push(['pack with 2^31 spots', map(envelopePairs('p', [['m', tstr(FUZZ_MODEL)], ['g', tstr('r')], ['gv', tstr('v')], ['s', Buffer.concat([head(4, 2n ** 31n), pad])]]))]);
  out.push(['info with 2^32 regions', map(envelopePairs('i', [['m', tstr(FUZZ_MODEL)], ['d', uint(d)], ['gv', tstr('v')], ['n', uint(1)], ['rg', Buffer.concat([head(4, 2n ** 32n), pad])]]))]);
  // Deep nesting: definite and indefinite arrays and maps, tags, at the top and inside service information.
  for (const depth of [100, 1_000, 10_000, 100_000]) {
    out.push([`${depth} nested arrays`, nested(depth, Buffer.from([0x81]), uint(0))]);
    out.push([`${depth} nested maps`, nested(depth, Buffer.from([0xa1, 0x00]), uint(0))]);
    out.push([`${depth} nested indefinite arrays`, nested(depth, Buffer.from([0x9f]), uint(0), Buffer.from([0xff]))]);
    out.push([`${depth} nested indefinite maps`, nested(depth, Buffer.from([0xbf, 0x00]), uint(0), Buffer.from([0xff]))]);
    out.push([`${depth} nested tags`, nested(depth, Buffer.from([0xc6]), uint(0))]);
    out.push([`${depth} unterminated indefinite arrays`, Buffer.alloc(depth, 0x9f)]);
    out.push([`service info ${depth} deep`, replyWithInfo(d, map([[tstr('name'), tstr('x')], [tstr('deep'), nested(depth, Buffer.from([0x81]), uint(0))]]))]);
  }
  // Tags: none is part of the schema; some of them make cbor-x build BigInts, RegExps, Sets, Maps, typed arrays…
  for (const size of [1_000, 100_000, 1_000_000]) {
    if (size + 64 > limits.maxBytes) continue;
    out.push([`bigint tag 2 of ${size} bytes`, queryWith(d, 'k', tag(2, bstr(new Uint8Array(size).fill(0xab))))]);
    out.push([`negative bigint tag 3 of ${size} bytes`, tag(3, bstr(new Uint8Array(size).fill(0xcd)))]);
    out.push([`bigint as map key, ${size} bytes`, map([[tag(2, bstr(new Uint8Array(size).fill(0x7f))), uint(1)]])]);
    out.push([`RegExp tag 27 of ${size} characters`, queryWith(d, 'm', tag(27, arr([tstr('RegExp'), tstr('(a+)+'.repeat(size / 5)), tstr('u')])))]);
    out.push([`decimal fraction tag 4, exponent string ${size}`, queryWith(d, 'k', tag(4, arr([tstr('9'.repeat(size)), uint(1)])))]);
  }
  out.push(['Error tag 27', tag(27, arr([tstr('Error'), tstr('boom')]))]);
  out.push(['date tag 0', queryWith(d, 'k', tag(0, tstr('not a date')))]);
  out.push(['date tag 1 NaN', queryWith(d, 'k', tag(1, f64(NaN)))]);
  out.push(['set tag 258', queryWith(d, 'f', tag(258, arr([uint(1), uint(2)])))]);
  out.push(['map tag 259 with array keys', tag(259, map([[arr([uint(1)]), uint(1)], [tstr('v'), uint(1)]]))]);
  out.push(['typed array tag 64 as vector bytes', queryWith(d, 'f', arr([tag(64, bstr(new Uint8Array(d))), f32(0.01)]))]);
  for (const t of [65, 66, 67, 69, 70, 71, 72, 77, 78, 79, 81, 82, 85, 86, 87]) {
    out.push([`typed array tag ${t}, odd length`, queryWith(d, 'f', arr([tag(t, bstr(new Uint8Array(d + 3).fill(0xff))), f32(0.01)]))]);
  }
  out.push(['shared reference to nothing (tag 29)', queryWith(d, 'k', tag(29, uint(7)))]);
  out.push(['self-referencing map (tags 28/29)', tag(28, map([[tstr('v'), uint(1)], [tstr('t'), tstr('q')], [tstr('self'), tag(29, uint(0))]]))]);
  // "Billion laughs" through shared references: each level an array of four references to the level below.
  let laughs = tag(28, arr([tstr('lol')]));
  for (let level = 1; level < 30; level++) laughs = tag(28, arr([laughs, tag(29, uint(level - 1)), tag(29, uint(level - 1)), tag(29, uint(level - 1))]));
  out.push(['shared-reference laughs', replyWithInfo(d, map([[tstr('name'), tstr('x')], [tstr('lol'), laughs]]))]);
  out.push(['packed table tag 51', tag(51, arr([arr([tstr('v')]), arr([]), arr([]), map([])]))]);
  out.push(['packed reference tag 6', queryWith(d, 'm', tag(6, uint(0)))]);
  out.push(['record definition tag 0xe000', tag(0xe000, arr([arr([tstr('v'), tstr('t')]), uint(1), tstr('q')]))]);
  out.push(['legacy record tag 105', tag(105, arr([uint(0xe000), arr([tstr('v')]), uint(1)]))]);
  out.push(['bundled strings tag 14', queryWith(d, 'm', tag(14, uint(3)))]);
  out.push(['unknown tag 2^64-1', tag(2n ** 64n - 1n, uint(0))]);
  out.push(['stringref tag 256', tag(256, queryWith(d, 'k', uint(3)))]);
  // Duplicated keys, where the second one is hostile or the first one is.
  out.push(['duplicated k', map([...envelopePairs('q', [['m', tstr(FUZZ_MODEL)], ['k', uint(3)], ['f', arr([bstr(new Uint8Array(d)), f32(0)])]]), [tstr('k'), f64(NaN)]])]);
  out.push(['duplicated t', map([...envelopePairs('q', [['m', tstr(FUZZ_MODEL)], ['k', uint(3)], ['f', arr([bstr(new Uint8Array(d)), f32(0)])]]), [tstr('t'), tstr('r')]])]);
  out.push(['__proto__ key', map([[tstr('__proto__'), map([[tstr('v'), uint(1)]])], [tstr('t'), tstr('i')]])]);
  out.push(['numeric and null keys', map([[uint(0), uint(1)], [Buffer.from([0xf6]), uint(1)], [Buffer.from([0xf5]), uint(1)]])]);
  // Very long strings and counts within the byte limit.
  const long = Math.min(1_000_000, limits.maxBytes - 64);
  out.push([`model id of ${long} characters`, queryWith(d, 'm', tstr('m'.repeat(long)))]);
  out.push([`reply topic of ${long} characters`, map([...envelopePairs('q', [['m', tstr(FUZZ_MODEL)], ['k', uint(3)], ['f', arr([bstr(new Uint8Array(d)), f32(0)])]]), [tstr('rt'), tstr(TOPICS.replyPrefix + 'a'.repeat(long))], [tstr('cd'), bstr(new Uint8Array(8))]])]);
  out.push([`vector of ${long} bytes`, queryWith(d, 'f', arr([bstr(new Uint8Array(long)), f32(0.01)]))]);
  out.push(['invalid UTF-8 model id', queryWith(d, 'm', Buffer.from([0x64, 0xff, 0xfe, 0xc0, 0x80]))]);
  out.push(['lone surrogate model id', queryWith(d, 'm', Buffer.from([0x63, 0xed, 0xa0, 0x80]))]);
  out.push([`map of ${Math.floor(long / 2)} null keys`, Buffer.concat([head(5, Math.floor(long / 2)), Buffer.alloc(Math.floor(long / 2) * 2, 0xf6)])]);
  out.push([`array of ${long} zeros`, queryWith(d, 'k', Buffer.concat([head(4, long - 16), Buffer.alloc(long - 16)]))]);
  out.push(['indefinite byte string', Buffer.from([0x5f, 0x41, 0x00, 0xff])]);
  out.push(['indefinite text string', Buffer.from([0x7f, 0x61, 0x61, 0xff])]);
  out.push(['break inside definite array', Buffer.from([0x82, 0x00, 0xff])]);
  out.push(['trailing bytes', Buffer.concat([queryWith(d, 'k', uint(3)), Buffer.from([0x00])])]);
  // Hostile numbers in every numeric field of a query.
  for (const [name, num] of HOSTILE_NUMBERS) {
    out.push([`query k = ${name}`, queryWith(d, 'k', num)]);
    out.push([`query scale = ${name}`, queryWith(d, 'f', arr([bstr(new Uint8Array(d).fill(3)), num]))]);
    out.push([`version = ${name}`, map([[tstr('v'), num], [tstr('t'), tstr('i')]])]);
  }
  // Size: one byte over the limit, and a valid-looking message padded past it.
  out.push(['one byte over maxBytes', Buffer.alloc(limits.maxBytes + 1, 0xa0)]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

const pick = <T>(xs: readonly T[], r: number): T => xs[Math.floor(r * xs.length) % xs.length];

/** Byte-level mutations of one encoding; `other` is a second valid encoding for splices. */
export const MUTATIONS = {
  truncate: (b: Buffer, r: number[]) => b.subarray(0, Math.floor(r[0] * b.length)),
  flip: (b: Buffer, r: number[]) => {
    const out = Buffer.from(b);
    const n = 1 + Math.floor(r[0] * 8);
    for (let i = 0; i < n; i++) out[Math.floor(r[(i % 3) + 1] * out.length * (i + 1)) % out.length] ^= 1 << Math.floor(r[i % 4] * 8);
    return out;
  },
  setByte: (b: Buffer, r: number[]) => {
    const out = Buffer.from(b);
    out[Math.floor(r[0] * out.length)] = Math.floor(r[1] * 256);
    return out;
  },
  insert: (b: Buffer, r: number[]) => {
    const at = Math.floor(r[0] * b.length);
    return Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(r[1] * 256), Math.floor(r[2] * 256)]), b.subarray(at)]);
  },
  remove: (b: Buffer, r: number[]) => {
    const at = Math.floor(r[0] * b.length);
    return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(r[1] * 16))]);
  },
  splice: (b: Buffer, r: number[], other: Buffer) =>
    Buffer.concat([b.subarray(0, Math.floor(r[0] * b.length)), other.subarray(Math.floor(r[1] * other.length))]),
  repeat: (b: Buffer, r: number[]) => {
    const at = Math.floor(r[0] * b.length);
    const slice = b.subarray(at, at + 1 + Math.floor(r[1] * 32));
    return Buffer.concat([b.subarray(0, at), ...Array.from({ length: 2 + Math.floor(r[2] * 200) }, () => slice), b.subarray(at)]);
  },
  appendGarbage: (b: Buffer, r: number[]) => Buffer.concat([b, Buffer.from(r.map((x) => Math.floor(x * 256)))]),
  /** A head claiming ~2^32 or 2^64 items or bytes, written over the payload at a random place. */
  bombHeader: (b: Buffer, r: number[]) => {
    const out = Buffer.from(b);
    const h = head(2 + Math.floor(r[1] * 4), r[2] < 0.5 ? 2n ** 32n - 1n : 2n ** 64n - 1n);
    h.copy(out, Math.floor(r[0] * out.length));
    return out;
  },
  /** Every float32 in the payload (scales, scores, coordinates) becomes NaN, ±Infinity or -0 with some probability. */
  poisonFloats: (b: Buffer, r: number[]) => {
    const out = Buffer.from(b);
    const values = [NaN, Infinity, -Infinity, -0, 3.4e38, -1];
    for (let i = 0; i + 4 < out.length; i++) {
      if (out[i] === 0xfa && r[i % r.length] < 0.5) out.writeFloatBE(pick(values, r[(i + 1) % r.length]), i + 1);
    }
    return out;
  },
  /** A byte string or text string head changed to claim one more or one fewer byte. */
  shiftLength: (b: Buffer, r: number[]) => {
    const out = Buffer.from(b);
    const starts = [...out.keys()].filter((i) => out[i] >> 5 === 2 || out[i] >> 5 === 3 || out[i] >> 5 === 4);
    if (starts.length === 0) return out;
    const i = pick(starts, r[0]);
    const low = out[i] & 0x1f;
    if (low < 23 && low > 0) out[i] += r[1] < 0.5 ? 1 : -1;
    else if (low === 24 && i + 1 < out.length) out[i + 1] ^= 0x80;
    return out;
  },
} satisfies Record<string, (b: Buffer, r: number[], other: Buffer) => Buffer>;

// ---------------------------------------------------------------------------------------------------------------
// Field-level (structural) mutations: decode a valid envelope, replace one value somewhere, re-encode.

const permissive = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true, pack: false });
const plainDecoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Values no field of the schema accepts everywhere: wrong types, non-finite and extreme numbers, huge containers. */
const hostileValue: fc.Arbitrary<[string, unknown]> = fc.oneof(
  fc.constantFrom<[string, unknown]>(
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['-0', -0],
    ['MAX_VALUE', Number.MAX_VALUE],
    ['2^53+1', 2 ** 53 + 2],
    ['-1', -1],
    ['0', 0],
    ['null', null],
    ['undefined', undefined],
    ['true', true],
    ['empty string', ''],
    ['control characters', 'a\u0000b\u001b[31m'],
    ['empty array', []],
    ['empty map', {}],
    ['bigint 2^70', 2n ** 70n],
    ['date', new Date(0)],
    ['set', new Set([1, 2])],
    ['map with object key', new Map<unknown, unknown>([[{ a: 1 }, 1]])],
    ['float32array', new Float32Array([NaN, Infinity])],
    ['string of 100k', 'x'.repeat(100_000)],
    ['array of 100k', new Array(100_000).fill(0)],
    ['map of 10k keys', Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]))],
    ['bytes of 100k', new Uint8Array(100_000)],
  ),
  fc.anything({ maxDepth: 3, maxKeys: 5, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }).map((v): [string, unknown] => ['fc.anything', v]),
);

/** All paths to values inside a decoded envelope (keys of maps, indices of arrays), byte strings as leaves. */
function paths(value: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  if (prefix.length > 0) out.push(prefix);
  if (value instanceof Uint8Array || value === null || typeof value !== 'object' || out.length > 2000) return out;
  for (const [k, v] of Object.entries(value)) paths(v, [...prefix, Array.isArray(value) ? Number(k) : k], out);
  return out;
}

/** Replaces (or deletes, or adds beside) the value at a random path of `bytes`' envelope; undefined if it cannot encode. */
export function replaceField(bytes: Buffer, r: number, [, value]: [string, unknown], op: 'replace' | 'delete' | 'add'): Buffer | undefined {
  const root = plainDecoder.decode(bytes) as Record<string, unknown>;
  const all = paths(root);
  const path = pick(all, r);
  let parent: Record<string | number, unknown> = root;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (op === 'delete') delete parent[last];
  else if (op === 'add') parent[`${String(last)}x`] = value;
  else parent[last] = value;
  try {
    return permissive.encode(root);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Arbitrary CBOR from a raw grammar: every major type, non-minimal heads, indefinite lengths, tags, simple values.

const rawCbor: fc.Arbitrary<Buffer> = fc.letrec<{ item: Buffer }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.integer({ min: 0, max: 1 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom<undefined | 1 | 2 | 4 | 8>(undefined, 1, 2, 4, 8)).map(([m, n, w]) =>
      head(m, n, w !== undefined && n < 2n ** BigInt(8 * w) && (w > 0 || n < 24n) ? w : undefined),
    ),
    fc.uint8Array({ maxLength: 40 }).map((b) => bstr(b)),
    fc.string({ maxLength: 20 }).map((s) => tstr(s)),
    fc.constantFrom(...HOSTILE_NUMBERS.map(([, b]) => b), f32(0.5), Buffer.from([0xf4]), Buffer.from([0xf5]), Buffer.from([0xf6])),
    fc.array(tie('item'), { maxLength: 6 }).map((items) => arr(items)),
    fc.array(tie('item'), { maxLength: 6 }).map((items) => Buffer.concat([Buffer.from([0x9f]), ...items, Buffer.from([0xff])])),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom('v', 't', 'm', 'k', 'f', 'c', 'h', 's', 'g', 'gv', 'n', 'rg', 'd', 'rt', 'cd').map(tstr), tie('item')), tie('item')), { maxLength: 6 }).map((pairs) => map(pairs)),
    fc.array(fc.tuple(tie('item'), tie('item')), { maxLength: 4 }).map((pairs) => Buffer.concat([Buffer.from([0xbf]), ...pairs.flat(), Buffer.from([0xff])])),
    fc.tuple(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 27, 28, 29, 64, 72, 81, 258, 259, 0xe000, 2 ** 32), tie('item')).map(([n, item]) => tag(n, item)),
  ),
})).item;

/** A raw-grammar map that starts like an envelope (v = 1 and a type code), so it gets past the first checks. */
const rawEnvelope: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom('q', 'r', 'g', 'p', 'i', 'e'), fc.array(fc.tuple(fc.constantFrom('m', 'k', 'f', 'c', 'h', 's', 'g', 'gv', 'n', 'rg', 'd', 'rt', 'cd', 'msg', 'zz'), rawCbor), { maxLength: 6 }))
  .map(([t, fields]) => map(envelopePairs(t, fields.map(([k, v]) => [k, v]))));

// ---------------------------------------------------------------------------------------------------------------
// The mixed stream of samples

export interface SampleOptions {
  /** Weight of each kind (relative); defaults below. */
  weights?: Partial<Record<Kind, number>>;
  /** The model id most valid messages carry (default FUZZ_MODEL). */
  model?: string;
}

const DEFAULT_WEIGHTS: Record<Kind, number> = {
  valid: 10,
  mutated: 40,
  'hostile-field': 20,
  bomb: 4,
  'cbor-value': 8,
  'cbor-grammar': 12,
  random: 6,
};

/** The whole mix of valid, mutated, hostile, bomb and arbitrary payloads for decoders with `limits`. */
export function wireSamples(limits: WireLimits, options: SampleOptions = {}): fc.Arbitrary<Sample> {
  const w = { ...DEFAULT_WEIGHTS, ...options.weights };
  const valid = validMessage(limits, options.model);
  const bombList = bombs(limits);
  const names = Object.keys(MUTATIONS) as Array<keyof typeof MUTATIONS>;
  const arbitraries: Record<Kind, fc.Arbitrary<Sample>> = {
    valid: valid.map((v) => ({ kind: 'valid', label: `valid ${v.msg.type}${v.routing ? ' routed' : ''}`, bytes: encodeValid(v) })),
    mutated: fc
      .tuple(valid, valid, fc.constantFrom(...names), fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 6, maxLength: 6 }), fc.integer({ min: 1, max: 3 }))
      .map(([a, b, first, r, rounds]) => {
        let bytes = encodeValid(a);
        const other = encodeValid(b);
        const applied: string[] = [];
        for (let i = 0; i < rounds; i++) {
          const name = i === 0 ? first : pick(names, r[(i + 2) % r.length]);
          bytes = Buffer.from(MUTATIONS[name](bytes, i === 0 ? r : r.map((x) => (x * 7.31) % 1), other));
          applied.push(name);
          if (bytes.length === 0) break;
        }
        return { kind: 'mutated' as const, label: `${a.msg.type}: ${applied.join('+')}`, bytes };
      }),
    'hostile-field': fc
      .tuple(valid, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), hostileValue, fc.constantFrom<'replace' | 'delete' | 'add'>('replace', 'replace', 'replace', 'delete', 'add'))
      .map(([v, r, value, op]) => {
        const bytes = replaceField(encodeValid(v), r, value, op) ?? encodeValid(v);
        return { kind: 'hostile-field' as const, label: `${v.msg.type}: ${op} ${value[0]}`, bytes };
      }),
    bomb: fc.constantFrom(...bombList).map(([label, bytes]) => ({ kind: 'bomb' as const, label, bytes })),
    'cbor-value': fc
      .anything({ maxDepth: 4, maxKeys: 8, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true })
      .chain((x) => fc.constantFrom<[string, unknown]>(['value', x], ['envelope', { v: 1, t: 'q', m: FUZZ_MODEL, x }], ['fields', typeof x === 'object' && x !== null ? { v: 1, t: 'r', ...x } : x]))
      .map(([how, x]) => {
        let bytes: Buffer;
        try {
          bytes = permissive.encode(x);
        } catch {
          bytes = Buffer.from([0xf7]);
        }
        return { kind: 'cbor-value' as const, label: `fc.anything ${how}`, bytes };
      }),
    'cbor-grammar': fc.oneof(rawCbor, rawEnvelope).map((bytes) => ({ kind: 'cbor-grammar' as const, label: 'raw CBOR', bytes })),
    random: fc
      .tuple(fc.constantFrom(Buffer.alloc(0), Buffer.from([0xa6, 0x61, 0x76, 0x01]), Buffer.from([0xbf])), fc.uint8Array({ maxLength: 300 }))
      .map(([prefix, rest]) => ({ kind: 'random' as const, label: 'random bytes', bytes: Buffer.concat([prefix, rest]) })),
  };
  return fc.oneof(...(Object.keys(arbitraries) as Kind[]).filter((k) => w[k] > 0).map((k) => ({ weight: w[k], arbitrary: arbitraries[k] })));
}

/** A deterministic stream of `count` samples (seeded), for the endpoint runs where fast-check's runner is not used. */
export function sampleStream(limits: WireLimits, count: number, seed: number, options: SampleOptions = {}): Sample[] {
  return fc.sample(wireSamples(limits, options), { numRuns: count, seed });
}

// ---------------------------------------------------------------------------------------------------------------
// What an accepted message must look like, whatever it was made from

/** Problems with a decoded message that the decoder should have refused; [] when it is sound. */
export function unsound(msg: WireMessage, limits: WireLimits): string[] {
  const problems: string[] = [];
  const vec = (v: unknown, what: string) => {
    if (!(v instanceof Float32Array) || v.length !== limits.dimension) problems.push(`${what} is not a ${limits.dimension}-d Float32Array`);
    else if (!v.every(Number.isFinite)) problems.push(`${what} has a non-finite value`);
  };
  const num = (x: unknown, what: string) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) problems.push(`${what} is not finite`);
  };
  const text = (s: unknown, what: string, max: number) => {
    if (typeof s !== 'string' || s.length > max) problems.push(`${what} is not a string of ≤ ${max}`);
  };
  const sane = (info: ServiceInfo | undefined, what: string) => {
    text(info?.name, `${what} name`, WIRE_BOUNDS.maxInfoStringLength);
    if (JSON.stringify(info).length > 2_000_000) problems.push(`${what} too big`);
  };
  if ('model' in msg) text(msg.model, 'model', WIRE_BOUNDS.maxModelLength);
  switch (msg.type) {
    case 'query':
      vec(msg.vector, 'query vector');
      if (!Number.isInteger(msg.topM) || msg.topM < 1 || msg.topM > limits.maxCandidates) problems.push('topM out of range');
      if (msg.digests !== undefined && msg.digests !== true) problems.push('digest flag other than true');
      break;
    case 'reply':
      if (msg.candidates.length > limits.maxCandidates) problems.push('too many candidates');
      if (msg.digests !== undefined) {
        if (!(msg.digests instanceof Uint32Array)) problems.push('digests are not a Uint32Array');
        else if (msg.digests.length > limits.maxCandidates) problems.push('too many digests');
        if (msg.candidates.length > 0) problems.push('candidates beside digests');
      }
      msg.candidates.forEach((c: { id: string; feature?: Float32Array; info?: ServiceInfo }, i) => {
        text(c.id, `candidate ${i} id`, WIRE_BOUNDS.maxIdLength);
        // Only in the full-candidate reply schema.
        if (c.feature !== undefined) vec(c.feature, `candidate ${i}`);
        if (c.info !== undefined) sane(c.info, `candidate ${i} info`);
      });
      break;
    case 'region-pack':
      if (msg.spots.length > limits.maxSpots) problems.push('too many spots');
      msg.spots.forEach((s, i) => {
        vec(s.feature, `spot ${i}`);
        num(s.x, `spot ${i} x`);
        num(s.y, `spot ${i} y`);
        if (!(s.popularity > 0) || !Number.isFinite(s.popularity)) problems.push(`spot ${i} popularity`);
        if ((s as { info?: ServiceInfo }).info !== undefined) sane((s as { info?: ServiceInfo }).info, `spot ${i} info`);
        if (s.view) {
          vec(s.view.mean, `spot ${i} mean`);
          s.view.directions.forEach((d, j) => vec(d, `spot ${i} direction ${j}`));
          if (s.view.directions.length > MAX_VIEW_DIRECTIONS || s.view.scales.length !== s.view.directions.length) problems.push(`spot ${i} view shape`);
          for (const x of [...s.view.scales, s.view.residual]) if (!(x >= 0 && x <= MAX_VIEW_DEVIATION)) problems.push(`spot ${i} view bound`);
        }
      });
      break;
    case 'info':
      if (!Number.isInteger(msg.dimension) || msg.dimension < 1) problems.push('info dimension');
      if (!Array.isArray(msg.regions) || msg.regions.length > WIRE_BOUNDS.maxRegions) problems.push('info regions');
      break;
    case 'error':
      text(msg.code, 'error code', WIRE_BOUNDS.maxErrorCodeLength);
      if (!isWireErrorCode(msg.code)) problems.push('error code outside the table');
      text(msg.message, 'error message', WIRE_BOUNDS.maxErrorMessageLength);
      break;
    case 'region-request':
      text(msg.region, 'region', WIRE_BOUNDS.maxRegionLength);
      break;
  }
  return problems;
}
