/**
 * The binary wire codec (DESIGN §5, schema in docs/protocol.md): CBOR maps with short keys, vectors as int8 plus one
 * float32 scale. `decode` is the only door from the network into the program, so it checks every field against the
 * schema and the caller's WireLimits and throws nothing but WireError. In MQTT 3.1.1 compatibility mode the reply
 * address rides in the envelope too (`encode(msg, routing)`, `decodeRouted`), checked by the same rules the recognizer
 * applies to the MQTT v5 properties (`isReplyTopic`, `isCorrelationData`).
 */
import { Decoder, Encoder, FLOAT32_OPTIONS } from 'cbor-x';
import {
  PROTOCOL_VERSION,
  TOPICS,
  type CandidateRef,
  type EnvelopeRouting,
  type ErrorMessage,
  type QueryMessage,
  type RecognizerInfoMessage,
  type RegionPackMessage,
  type RegionRequestMessage,
  type RegionSpot,
  type SpotViewModel,
  MAX_VIEW_DEVIATION,
  MAX_VIEW_DIRECTIONS,
  type ReplyMessage,
  type ServiceInfo,
  type WireLimits,
  type WireMessage,
} from './messages.js';
import { dequantize, quantize, type QuantizedVector } from '../domain/quantize.js';
import { isWireErrorCode, WIRE_ERROR_CODE_LIST } from './error-codes.js';
import { DIGEST_BYTES, packDigests, unpackDigests } from './spot-digest.js';
import { norm } from '../util/vector.js';

/** A message that can not be encoded, or a payload from the network that fails validation. One-line reason. */
export class WireError extends Error {
  constructor(
    message: string,
    /**
     * Set by decodeRouted when the envelope's reply address was valid although the message was not, so that a
     * recognizer can still tell a 3.1.1 device why, and a device can fail the request the answer belongs to.
     */
    readonly routing?: EnvelopeRouting,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/** Fixed schema bounds that do not depend on the model or deployment (WireLimits holds those that do). */
export const WIRE_BOUNDS = {
  /** Model ids: printable ASCII without spaces. */
  maxModelLength: 128,
  /** Spot ids, gallery versions. */
  maxIdLength: 256,
  maxRegionLength: 128,
  maxRegions: 4096,
  /** Pages of one region pack (decision 68): a million spots at one spot a page. */
  maxRegionPages: 1_000_000,
  maxDimension: 65536,
  maxErrorCodeLength: 64,
  maxErrorMessageLength: 1024,
  /** Service information: nesting depth below the top object, keys per object, items per array, string length. */
  maxInfoDepth: 3,
  maxInfoKeys: 32,
  maxInfoKeyLength: 64,
  maxInfoArrayLength: 64,
  maxInfoStringLength: 4096,
  /** Total values (objects, arrays, leaves) in one candidate's service information. */
  maxInfoNodes: 256,
  /** Reply topics: TOPICS.replyPrefix plus this many characters at most. */
  maxReplySuffixLength: 128,
  /** Correlation data, as MQTT v5 property or envelope field. */
  maxCorrelationBytes: 64,
} as const;

/** Envelope type codes (key `t`). */
const TYPE_CODES = {
  query: 'q',
  reply: 'r',
  'region-request': 'g',
  'region-pack': 'p',
  info: 'i',
  error: 'e',
} as const satisfies Record<WireMessage['type'], string>;

// Standard CBOR only: no record extension, no tag on byte strings, minimal map headers. Non-integers travel as
// float32, which is more precision than a cosine score or a position in metres needs.
const encoder = new Encoder({
  useRecords: false,
  tagUint8Array: false,
  variableMapSize: true,
  useFloat32: FLOAT32_OPTIONS.ALWAYS,
  pack: false,
});
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

// ---------------------------------------------------------------------------------------------------------------
// Reply addresses (MQTT v5 properties or, in 3.1.1 compatibility mode, envelope fields: one set of rules for both)

// Our devices use 32 hex characters; anything else that is short and cannot be a wildcard or a deeper level is fine.
const REPLY_SUFFIX = new RegExp(`^[A-Za-z0-9_-]{1,${WIRE_BOUNDS.maxReplySuffixLength}}$`);
const REPLY_TOPIC_RULE = `${TOPICS.replyPrefix} followed by 1-${WIRE_BOUNDS.maxReplySuffixLength} letters, digits, '-' or '_'`;
const CORRELATION_RULE = `1-${WIRE_BOUNDS.maxCorrelationBytes} bytes`;

/** Whether `x` may be a response topic: one level under TOPICS.replyPrefix, short, no wildcards. */
export function isReplyTopic(x: unknown): x is string {
  return typeof x === 'string' && x.startsWith(TOPICS.replyPrefix) && REPLY_SUFFIX.test(x.slice(TOPICS.replyPrefix.length));
}

/** Whether `x` may be correlation data: 1-64 bytes. */
export function isCorrelationData(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array && x.length > 0 && x.length <= WIRE_BOUNDS.maxCorrelationBytes;
}

const isRequest = (type: WireMessage['type']) => type === 'query' || type === 'region-request';
const label = (type: WireMessage['type']) => type.replace('-', ' ');

// ---------------------------------------------------------------------------------------------------------------
// Encoding

type WireVector = [Uint8Array, number];

function wireVector(v: Float32Array, what: string): WireVector {
  if (!(v instanceof Float32Array)) throw new WireError(`${what} is not a Float32Array`);
  let q: QuantizedVector;
  try {
    q = quantize(v);
  } catch (err) {
    throw new WireError(`${what}: ${(err as Error).message}`);
  }
  // A Uint8Array view over the same bytes: CBOR byte string, two's complement int8.
  return [new Uint8Array(q.bytes.buffer, q.bytes.byteOffset, q.bytes.byteLength), q.scale];
}

/** A spot view model on the wire: { m: mean, d: [directions], s: [scales], r: residual }. */
function wireViewModel(view: SpotViewModel, what: string): Record<string, unknown> {
  if (view.directions.length !== view.scales.length) throw new WireError(`${what} has ${view.directions.length} directions but ${view.scales.length} scales`);
  return {
    m: wireVector(view.mean, `${what} mean`),
    d: view.directions.map((d, j) => wireVector(d, `${what} direction ${j}`)),
    s: view.scales,
    r: view.residual,
  };
}

function envelopeOf(msg: WireMessage): Record<string, unknown> {
  const head = { v: PROTOCOL_VERSION, t: TYPE_CODES[msg.type] };
  switch (msg.type) {
    case 'query':
      // `h` only when asked for: a query for ids stays byte for byte what it was before digests.
      return { ...head, m: msg.model, k: msg.topM, f: wireVector(msg.vector, 'query vector'), ...(msg.digests === true ? { h: true } : {}) };
    case 'reply':
      // One flat array of ids, best first, or one byte string of 4-byte spot digests instead; no scores either way:
      // the device computes them (docs/protocol.md, "Reply").
      if (msg.digests) return { ...head, m: msg.model, gv: msg.galleryVersion, h: packDigests(msg.digests) };
      return { ...head, m: msg.model, gv: msg.galleryVersion, c: msg.candidates.map((c) => c.id) };
    case 'region-request':
      // `pg` only when a page is asked for: a request for the whole pack stays byte for byte what it was before paging.
      return { ...head, m: msg.model, g: msg.region, ...(msg.page !== undefined ? { pg: msg.page } : {}) };
    case 'region-pack':
      return {
        ...head,
        m: msg.model,
        g: msg.region,
        gv: msg.galleryVersion,
        ...(msg.pages !== undefined ? { pg: msg.page ?? 0, np: msg.pages } : {}),
        s: msg.spots.map((s, i) => ({
          i: s.id,
          f: wireVector(s.feature, `spot ${i} feature`),
          x: s.x,
          y: s.y,
          p: s.popularity,
          ...(s.view ? { v: wireViewModel(s.view, `spot ${i} view model`) } : {}),
          ...(s.info ? { n: s.info } : {}),
        })),
      };
    case 'info':
      return {
        ...head,
        m: msg.model,
        d: msg.dimension,
        gv: msg.galleryVersion,
        n: msg.spots,
        rg: msg.regions,
      };
    case 'error':
      if (!isWireErrorCode(msg.code)) throw new WireError(`error code ${JSON.stringify(msg.code)} is not one of ${WIRE_ERROR_CODE_LIST.join(', ')}`);
      return { ...head, c: msg.code, msg: msg.message };
    default:
      throw new WireError(`unknown message type ${JSON.stringify((msg as { type: unknown }).type)}`);
  }
}

/** The envelope fields `rt` (requests) and `cd` for 3.1.1 compatibility mode. */
function routingFields(type: WireMessage['type'], routing: EnvelopeRouting): Record<string, unknown> {
  if (type === 'info') throw new WireError('an info message carries no routing');
  if (!isCorrelationData(routing.correlationData)) throw new WireError(`correlation data must be ${CORRELATION_RULE}`);
  const cd = routing.correlationData;
  if (!isRequest(type)) {
    if (routing.responseTopic !== undefined) throw new WireError(`a ${label(type)} message carries no response topic`);
    return { cd };
  }
  if (!isReplyTopic(routing.responseTopic)) throw new WireError(`${label(type)} response topic must be ${REPLY_TOPIC_RULE}`);
  return { rt: routing.responseTopic, cd };
}

/**
 * Encodes one message; with `routing` (MQTT 3.1.1 compatibility mode only) the reply address goes into the envelope.
 * Throws WireError for what can not travel (a non-finite vector value, an unknown type, an invalid reply address).
 */
export function encode(msg: WireMessage, routing?: EnvelopeRouting): Buffer {
  const envelope = envelopeOf(msg);
  if (routing) Object.assign(envelope, routingFields(msg.type, routing));
  try {
    return encoder.encode(envelope);
  } catch (err) {
    throw new WireError(`cannot encode ${msg.type} message: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding and validation

type Obj = Record<string, unknown>;

/** Largest vector scale whose components (int8 × scale) stay finite float32 values. */
const MAX_SCALE = 3.4028234663852886e38 / 128;

/**
 * Deepest nesting of containers a payload may have. The schema needs 7 (reply → candidates → candidate → service
 * information → 3 levels below it); the rest is room for later versions.
 */
const MAX_NESTING = 16;

/** What checkCborStructure lets through: data items, map entries, nesting depth of containers. */
export interface CborBudget {
  items: number;
  mapEntries: number;
  nesting: number;
}

/**
 * Most CBOR data items (map keys included) a payload may hold: what the largest valid message of each type can need
 * (an info with every region, a reply with every candidate's service information full, a region pack whose every spot
 * has a view model of MAX_VIEW_DIRECTIONS directions, about 57 items a spot), with room for added fields. Without it
 * an 8 MiB payload of one-byte empty maps made cbor-x build 8 million objects: seconds of CPU and half a gigabyte.
 */
function maxItemsFor(limits: WireLimits): number {
  return 64 + WIRE_BOUNDS.maxRegions + limits.maxCandidates * 4 + limits.maxSpots * (64 + 2 * PACK_INFO_NODES_PER_SPOT);
}

/**
 * Service information values a region pack may carry per spot on average (any one spot may have up to
 * WIRE_BOUNDS.maxInfoNodes): a name, a description and a link are 4 with their keys.
 */
const PACK_INFO_NODES_PER_SPOT = 16;

/**
 * Most map entries a payload may hold, for the same reason: cbor-x spends 1-4 µs on each (a property of a plain
 * object), about ten times what an array item costs. A spot has at most 11 (7, and 4 in its view model) plus its
 * service information's keys; a reply has a handful, its candidates none; each is given room for added fields.
 */
function maxMapEntriesFor(limits: WireLimits): number {
  return 64 + limits.maxSpots * (12 + PACK_INFO_NODES_PER_SPOT);
}

/**
 * One pass over the raw CBOR before cbor-x builds anything from it (O(bytes) time, O(nesting) memory); WireError when it
 * fails. It refuses what the schema never holds and what would make the parser recurse or allocate far beyond the
 * payload's size: tags (cbor-x turns them into BigInts built in quadratic time, RegExps, shared references, typed
 * arrays…), nesting, items or map entries beyond the budget (decodeRouted's comes from the limits), lengths and counts
 * beyond the end of the payload, indefinite-length strings. Indefinite-length arrays and maps are a valid encoding of
 * the same values and pass.
 */
export function checkCborStructure(buf: Uint8Array, budget: CborBudget): void {
  const fail = (reason: string): never => {
    throw new WireError(`payload is not valid CBOR: ${reason}`);
  };
  const maxItems = budget.items;
  // Keys and values directly inside maps.
  const maxMapItems = 2 * budget.mapEntries;
  const end = buf.length;
  // Items still expected in each open container, innermost last; -1 for an indefinite-length one (until its break).
  const open: number[] = [];
  // Whether each open container is a map.
  const isMap: boolean[] = [];
  let pos = 0;
  let items = 0;
  let mapItems = 0;
  for (;;) {
    if (pos >= end) fail('unexpected end of CBOR data');
    const initial = buf[pos++];
    const major = initial >> 5;
    const low = initial & 0x1f;
    if (initial === 0xff) {
      if (open.length === 0 || open[open.length - 1] !== -1) fail('a break outside an indefinite-length item');
      open.pop();
      isMap.pop();
    } else {
      if (++items > maxItems) fail(`more than ${maxItems} data items`);
      if (isMap[isMap.length - 1] && ++mapItems > maxMapItems) fail(`more than ${maxMapItems / 2} map entries`);
      let arg = low;
      if (low >= 24 && low <= 27) {
        const size = 1 << (low - 24);
        if (pos + size > end) fail('unexpected end of CBOR data');
        arg = 0;
        // Exact up to 2^53, and any larger count is refused below anyway.
        for (let i = 0; i < size; i++) arg = arg * 256 + buf[pos + i];
        pos += size;
      } else if (low >= 28 && low <= 30) {
        fail(`reserved additional information ${low}`);
      }
      const indefinite = low === 31;
      if (indefinite && (major < 2 || major === 6)) fail(`an indefinite length on major type ${major}`);
      if (major === 6) fail(`a tag (${arg}); the protocol uses none`);
      if (major === 2 || major === 3) {
        if (indefinite) fail('an indefinite-length string');
        if (arg > end - pos) fail(`a string of ${arg} bytes with ${end - pos} left`);
        pos += arg;
      } else if (major === 4 || major === 5) {
        // Every item takes at least one byte: a count beyond what is left is a lie, not a reason to allocate.
        const entries = indefinite ? -1 : major === 5 ? 2 * arg : arg;
        if (entries > end - pos) fail(`${major === 4 ? 'an array' : 'a map'} of ${arg} entries with ${end - pos} bytes left`);
        if (entries !== 0) {
          if (open.length >= budget.nesting) fail(`nested deeper than ${budget.nesting} levels`);
          open.push(entries);
          isMap.push(major === 5);
          continue;
        }
      }
    }
    // An item is complete: count it against its container, closing every container it completes.
    for (;;) {
      if (open.length === 0) {
        if (pos !== end) fail(`${end - pos} bytes after the end of the message`);
        return;
      }
      const top = open.length - 1;
      if (open[top] === -1 || --open[top] > 0) break;
      open.pop();
      isMap.pop();
    }
  }
}

function isPlainObject(x: unknown): x is Obj {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return 'an array';
  if (x instanceof Uint8Array) return 'a byte string';
  if (typeof x === 'object') return `a ${x.constructor?.name ?? 'object'}`;
  if (typeof x === 'string') return 'a string';
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return `${typeof x} ${x}`;
  return typeof x;
}

// C0 controls and DEL: identifiers end up in logs, SQLite keys and file names.
// eslint-disable-next-line no-control-regex -- finding control characters is this pattern's purpose.
const CONTROL = /[\u0000-\u001f\u007f]/;
const MODEL_ID = /^[\x21-\x7e]+$/;
const ERROR_CODE = /^[a-z0-9][a-z0-9-]*$/;

function field(o: Obj, key: string, what: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(o, key)) throw new WireError(`${what} is missing`);
  return o[key];
}

function str(o: Obj, key: string, what: string, maxLength: number, opts: { allowEmpty?: boolean } = {}): string {
  const v = field(o, key, what);
  if (typeof v !== 'string') throw new WireError(`${what} is ${describe(v)}, expected a string`);
  if (v.length > maxLength) throw new WireError(`${what} has ${v.length} characters, at most ${maxLength} allowed`);
  if (!opts.allowEmpty && v.length === 0) throw new WireError(`${what} is empty`);
  return v;
}

function ident(o: Obj, key: string, what: string, maxLength: number): string {
  const v = str(o, key, what, maxLength);
  if (CONTROL.test(v)) throw new WireError(`${what} contains control characters`);
  return v;
}

function modelId(o: Obj, what: string): string {
  const v = str(o, 'm', what, WIRE_BOUNDS.maxModelLength);
  if (!MODEL_ID.test(v)) throw new WireError(`${what} must be printable ASCII without spaces`);
  return v;
}

function finite(o: Obj, key: string, what: string): number {
  const v = field(o, key, what);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WireError(`${what} is ${describe(v)}, expected a finite number`);
  return v;
}

function integer(o: Obj, key: string, what: string, min: number, max: number): number {
  const v = field(o, key, what);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new WireError(`${what} is ${describe(v)}, expected an integer`);
  if (v < min || v > max) throw new WireError(`${what} is ${v}, expected ${min} to ${max}`);
  return v;
}

function array(o: Obj, key: string, what: string, max: number): unknown[] {
  const v = field(o, key, what);
  if (!Array.isArray(v)) throw new WireError(`${what} is ${describe(v)}, expected an array`);
  if (v.length > max) throw new WireError(`${what} has ${v.length} entries, at most ${max} allowed`);
  return v;
}

function object(x: unknown, what: string): Obj {
  if (!isPlainObject(x)) throw new WireError(`${what} is ${describe(x)}, expected a map`);
  return x;
}

function vector(o: Obj, key: string, what: string, dimension: number): Float32Array {
  const v = field(o, key, what);
  if (!Array.isArray(v) || v.length !== 2) throw new WireError(`${what} is ${describe(v)}, expected [bytes, scale]`);
  const [bytes, scale] = v as unknown[];
  if (!(bytes instanceof Uint8Array)) throw new WireError(`${what} values are ${describe(bytes)}, expected a byte string`);
  if (bytes.length !== dimension) throw new WireError(`${what} has ${bytes.length} values, expected ${dimension}`);
  // 128 × scale must stay a finite float32 too: a finite float64 scale such as 1e300 would decode to ±Infinity.
  if (typeof scale !== 'number' || !Number.isFinite(Math.fround(128 * scale)) || scale < 0) {
    throw new WireError(`${what} scale is ${describe(scale)}, expected a finite number ≥ 0 (at most ${MAX_SCALE})`);
  }
  return dequantize({ bytes: new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), scale });
}

/** Service information: plain JSON-like data of bounded size, copied so nothing exotic survives decoding. */
function serviceInfo(x: unknown, what: string): ServiceInfo {
  let nodes = 0;
  const copy = (v: unknown, path: string, depth: number): unknown => {
    if (++nodes > WIRE_BOUNDS.maxInfoNodes) throw new WireError(`${what} has more than ${WIRE_BOUNDS.maxInfoNodes} values`);
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new WireError(`${path} is not a finite number`);
      return v;
    }
    if (typeof v === 'string') {
      if (v.length > WIRE_BOUNDS.maxInfoStringLength) {
        throw new WireError(`${path} has ${v.length} characters, at most ${WIRE_BOUNDS.maxInfoStringLength} allowed`);
      }
      return v;
    }
    if (depth >= WIRE_BOUNDS.maxInfoDepth) throw new WireError(`${what} is nested deeper than ${WIRE_BOUNDS.maxInfoDepth} levels`);
    if (Array.isArray(v)) {
      if (v.length > WIRE_BOUNDS.maxInfoArrayLength) {
        throw new WireError(`${path} has ${v.length} entries, at most ${WIRE_BOUNDS.maxInfoArrayLength} allowed`);
      }
      return v.map((item, i) => copy(item, `${path}[${i}]`, depth + 1));
    }
    if (isPlainObject(v)) return copyObject(v, path, depth + 1);
    throw new WireError(`${path} is ${describe(v)}, expected JSON data`);
  };
  const copyObject = (o: Obj, path: string, depth: number): Obj => {
    const keys = Object.keys(o);
    if (keys.length > WIRE_BOUNDS.maxInfoKeys) {
      throw new WireError(`${path} has ${keys.length} keys, at most ${WIRE_BOUNDS.maxInfoKeys} allowed`);
    }
    const out: Obj = {};
    for (const k of keys) {
      if (k.length > WIRE_BOUNDS.maxInfoKeyLength || CONTROL.test(k)) throw new WireError(`${path} has an invalid key`);
      // defineProperty so that a key like "__proto__" stays an ordinary property.
      Object.defineProperty(out, k, { value: copy(o[k], `${path}.${k}`, depth), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };

  const top = object(x, what);
  nodes++;
  const info = copyObject(top, what, 0);
  if (typeof info.name !== 'string') throw new WireError(`${what}.name is ${describe(info.name)}, expected a string`);
  for (const k of ['description', 'url']) {
    if (info[k] !== undefined && typeof info[k] !== 'string') throw new WireError(`${what}.${k} is ${describe(info[k])}, expected a string`);
  }
  return info as ServiceInfo;
}

function decodeQuery(o: Obj, limits: WireLimits): QueryMessage {
  const query: QueryMessage = {
    type: 'query',
    model: modelId(o, 'query model id'),
    topM: integer(o, 'k', 'query topM', 1, limits.maxCandidates),
    vector: vector(o, 'f', 'query vector', limits.dimension),
  };
  if (o.h === undefined) return query;
  if (typeof o.h !== 'boolean') throw new WireError(`query digest flag is ${describe(o.h)}, expected true or false`);
  // Set only when true, so a query for ids decodes to exactly what it did before digests existed.
  return o.h ? { ...query, digests: true } : query;
}

function decodeReply(o: Obj, limits: WireLimits): ReplyMessage {
  const model = modelId(o, 'reply model id');
  const galleryVersion = ident(o, 'gv', 'reply gallery version', WIRE_BOUNDS.maxIdLength);
  if (o.h !== undefined) return { type: 'reply', model, galleryVersion, candidates: [], digests: replyDigests(o.h, limits) };
  const ids = array(o, 'c', 'reply candidates', limits.maxCandidates);
  const candidates: CandidateRef[] = ids.map((id, i) => {
    if (typeof id !== 'string' || id.length === 0 || id.length > WIRE_BOUNDS.maxIdLength || CONTROL.test(id)) {
      throw new WireError(`reply candidate ${i} is ${describe(id)}, expected a spot id`);
    }
    return { id };
  });
  return { type: 'reply', model, galleryVersion, candidates };
}

/** The reply's `h`: a byte string of whole 4-byte digests, at most maxCandidates of them. */
function replyDigests(h: unknown, limits: WireLimits): Uint32Array {
  if (!(h instanceof Uint8Array)) throw new WireError(`reply candidate digests are ${describe(h)}, expected a byte string`);
  if (h.length % DIGEST_BYTES !== 0) {
    throw new WireError(`reply candidate digests have ${h.length} bytes, not a multiple of ${DIGEST_BYTES} (one ${DIGEST_BYTES}-byte digest a candidate)`);
  }
  const count = h.length / DIGEST_BYTES;
  if (count > limits.maxCandidates) throw new WireError(`reply candidate digests name ${count} candidates, at most ${limits.maxCandidates} allowed`);
  return unpackDigests(h);
}

function decodeRegionRequest(o: Obj): RegionRequestMessage {
  return {
    type: 'region-request',
    model: modelId(o, 'region request model id'),
    region: ident(o, 'g', 'region request region', WIRE_BOUNDS.maxRegionLength),
    ...(o.pg === undefined ? {} : { page: integer(o, 'pg', 'region request page', 0, WIRE_BOUNDS.maxRegionPages - 1) }),
  };
}

/** A page's `pg` and `np`, both or neither; the page one of the pages. */
function regionPage(o: Obj): { page?: number; pages?: number } {
  if (o.pg === undefined && o.np === undefined) return {};
  const pages = integer(o, 'np', 'region pack page count', 1, WIRE_BOUNDS.maxRegionPages);
  const page = integer(o, 'pg', 'region pack page', 0, pages - 1);
  return { page, pages };
}

/** A spot view model: every vector of the expected dimension, at most MAX_VIEW_DIRECTIONS directions, bounded scales. */
function viewModel(raw: unknown, what: string, dimension: number): SpotViewModel {
  const o = object(raw, what);
  const bounded = (x: number, name: string): number => {
    if (!(x >= 0 && x <= MAX_VIEW_DEVIATION)) throw new WireError(`${what} ${name} is ${x}, expected 0 to ${MAX_VIEW_DEVIATION}`);
    return x;
  };
  const mean = vector(o, 'm', `${what} mean`, dimension);
  bounded(norm(mean), 'mean norm');
  const directions = array(o, 'd', `${what} directions`, MAX_VIEW_DIRECTIONS).map((_, j) =>
    vector(o.d as Obj, String(j), `${what} direction ${j}`, dimension),
  );
  const scales = array(o, 's', `${what} scales`, MAX_VIEW_DIRECTIONS).map((x, j) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new WireError(`${what} scale ${j} is ${describe(x)}, expected a finite number`);
    return bounded(x, `scale ${j}`);
  });
  if (scales.length !== directions.length) throw new WireError(`${what} has ${directions.length} directions but ${scales.length} scales`);
  directions.forEach((d, j) => {
    const length = norm(d);
    if (!(Math.abs(length - 1) <= 0.05)) throw new WireError(`${what} direction ${j} has norm ${length}, expected a unit vector`);
  });
  const residual = bounded(finite(o, 'r', `${what} residual`), 'residual');
  return { mean, directions, scales, residual };
}

function decodeRegionPack(o: Obj, limits: WireLimits): RegionPackMessage {
  const model = modelId(o, 'region pack model id');
  const region = ident(o, 'g', 'region pack region', WIRE_BOUNDS.maxRegionLength);
  const galleryVersion = ident(o, 'gv', 'region pack gallery version', WIRE_BOUNDS.maxIdLength);
  const spots: RegionSpot[] = array(o, 's', 'region pack spots', limits.maxSpots).map((raw, i) => {
    const what = `region pack spot ${i}`;
    const s = object(raw, what);
    const spot = {
      id: ident(s, 'i', `${what} id`, WIRE_BOUNDS.maxIdLength),
      feature: vector(s, 'f', `${what} feature`, limits.dimension),
      x: finite(s, 'x', `${what} x`),
      y: finite(s, 'y', `${what} y`),
      popularity: finite(s, 'p', `${what} popularity`),
    };
    if (!(spot.popularity > 0)) throw new WireError(`${what} popularity is ${spot.popularity}, expected > 0`);
    return {
      ...spot,
      ...(s.v === undefined ? {} : { view: viewModel(s.v, `${what} view model`, limits.dimension) }),
      ...(s.n === undefined ? {} : { info: serviceInfo(s.n, `${what} service info`) }),
    };
  });
  return { type: 'region-pack', model, region, galleryVersion, ...regionPage(o), spots };
}

function decodeInfo(o: Obj): RecognizerInfoMessage {
  return {
    type: 'info',
    model: modelId(o, 'info model id'),
    // Any sane dimension is accepted here: the client compares it with its own and refuses clearly.
    dimension: integer(o, 'd', 'info dimension', 1, WIRE_BOUNDS.maxDimension),
    galleryVersion: ident(o, 'gv', 'info gallery version', WIRE_BOUNDS.maxIdLength),
    spots: integer(o, 'n', 'info spot count', 0, 2 ** 31 - 1),
    regions: array(o, 'rg', 'info regions', WIRE_BOUNDS.maxRegions).map((r, i) => {
      if (typeof r !== 'string' || r.length === 0 || r.length > WIRE_BOUNDS.maxRegionLength || CONTROL.test(r)) {
        throw new WireError(`info region ${i} is not a valid region name`);
      }
      return r;
    }),
  };
}

/**
 * A malformed code fails the message. A well-formed code this build does not know (a newer recognizer's) is decoded
 * as 'other', its text kept at the head of the message: the request it answers still fails with the recognizer's
 * sentence, as a recognizer error rather than as a broken payload, and nothing outside the table gets further in.
 */
function decodeError(o: Obj): ErrorMessage {
  const code = str(o, 'c', 'error code', WIRE_BOUNDS.maxErrorCodeLength);
  if (!ERROR_CODE.test(code)) throw new WireError('error code must be lower-case letters, digits and dashes');
  const message = str(o, 'msg', 'error message', WIRE_BOUNDS.maxErrorMessageLength, { allowEmpty: true });
  if (isWireErrorCode(code)) return { type: 'error', code, message };
  return { type: 'error', code: 'other', message: `(unknown code ${code}) ${message}`.slice(0, WIRE_BOUNDS.maxErrorMessageLength) };
}

const TYPES_BY_CODE = new Map<unknown, WireMessage['type']>(
  Object.entries(TYPE_CODES).map(([type, code]) => [code, type as WireMessage['type']]),
);

const DECODERS: Record<WireMessage['type'], (o: Obj, limits: WireLimits) => WireMessage> = {
  query: decodeQuery,
  reply: decodeReply,
  'region-request': decodeRegionRequest,
  'region-pack': decodeRegionPack,
  info: decodeInfo,
  error: decodeError,
};

/** The envelope's `rt`/`cd`, when present; both or neither on a request, `cd` only on an answer, none on info. */
function decodeRouting(o: Obj, type: WireMessage['type']): EnvelopeRouting | undefined {
  if (type === 'info') return undefined;
  const has = (key: string) => Object.prototype.hasOwnProperty.call(o, key);
  const what = label(type);
  if (!has('cd')) {
    if (isRequest(type) && has('rt')) throw new WireError(`${what} has a response topic but no correlation data`);
    return undefined;
  }
  if (!isCorrelationData(o.cd)) {
    const size = o.cd instanceof Uint8Array ? `${o.cd.length} bytes` : describe(o.cd);
    throw new WireError(`${what} correlation data is ${size}, expected ${CORRELATION_RULE}`);
  }
  // A copy: the decoded byte string may be a view into the network buffer.
  const correlationData = Buffer.from(o.cd);
  if (!isRequest(type)) return { correlationData };
  if (!has('rt')) throw new WireError(`${what} has correlation data but no response topic`);
  if (!isReplyTopic(o.rt)) {
    throw new WireError(`${what} response topic is ${typeof o.rt === 'string' ? 'invalid' : describe(o.rt)}, expected ${REPLY_TOPIC_RULE}`);
  }
  return { responseTopic: o.rt, correlationData };
}

/** A decoded message and the reply address its envelope carried (MQTT 3.1.1 compatibility mode), if any. */
export interface RoutedMessage {
  msg: WireMessage;
  routing?: EnvelopeRouting;
}

/**
 * Decodes and validates one payload from the network, envelope routing included. Every failure — oversize, malformed
 * CBOR, wrong version, a missing or ill-typed field, a wrong dimension, a non-finite number, too many entries, an
 * invalid reply address — is a WireError, carrying the reply address when that much was valid.
 */
export function decodeRouted(buf: Buffer | Uint8Array, limits: WireLimits): RoutedMessage {
  if (!(buf instanceof Uint8Array)) throw new WireError('payload is not a byte buffer');
  if (buf.length > limits.maxBytes) throw new WireError(`payload has ${buf.length} bytes, at most ${limits.maxBytes} allowed`);
  if (buf.length === 0) throw new WireError('payload is empty');
  checkCborStructure(buf, { items: maxItemsFor(limits), mapEntries: maxMapEntriesFor(limits), nesting: MAX_NESTING });
  let raw: unknown;
  try {
    raw = decoder.decode(buf);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new WireError(`payload is not valid CBOR: ${reason.split('\n')[0]}`);
  }
  let routing: EnvelopeRouting | undefined;
  try {
    const o = object(raw, 'message');
    const v = field(o, 'v', 'protocol version');
    if (v !== PROTOCOL_VERSION) throw new WireError(`protocol version is ${describe(v)}, expected ${PROTOCOL_VERSION}`);
    const t = field(o, 't', 'message type');
    const type = TYPES_BY_CODE.get(t);
    if (!type) throw new WireError(`message type ${typeof t === 'string' ? JSON.stringify(t.slice(0, 16)) : describe(t)} is unknown`);
    routing = decodeRouting(o, type);
    const msg = DECODERS[type](o, limits);
    return routing ? { msg, routing } : { msg };
  } catch (err) {
    // Defensive: a getter or a stack overflow on a hostile structure must still surface as WireError.
    const reason = err instanceof WireError ? err.message : `payload could not be validated: ${err instanceof Error ? err.message : String(err)}`;
    throw new WireError(reason, routing);
  }
}

/** Decodes and validates one payload from the network (see decodeRouted); any envelope routing is checked, not returned. */
export function decode(buf: Buffer | Uint8Array, limits: WireLimits): WireMessage {
  return decodeRouted(buf, limits).msg;
}
