/**
 * The wire messages (DESIGN §5), independent of their binary encoding (see codec.ts and docs/protocol.md).
 * Vectors are carried quantised (int8 with one float scale per vector) on the wire and appear here as
 * Float32Array after decoding.
 */
import type { CandidateRef, RegionPack } from '../domain/spot.js';
import type { WireErrorCode } from './error-codes.js';

/** The spots the messages carry are the domain's (daemon/domain/spot.ts); the wire's users find them here too. */
export { MAX_VIEW_DEVIATION, MAX_VIEW_DIRECTIONS } from '../domain/spot.js';
export type { Candidate, CandidateRef, RegionSpot, ServiceInfo, SpotViewModel } from '../domain/spot.js';
export type { WireErrorCode } from './error-codes.js';

export const PROTOCOL_VERSION = 1;

/**
 * Requests go to `<query|region>/<clientId>` and answers to `reply/<clientId>`, both named after the connection's
 * random client id, so a broker ACL (`pattern write enfpire/v1/query/%c`, `pattern read enfpire/v1/reply/%c`) keeps
 * each device to its own topics and the recognizer only ever answers a request on the requester's own reply topic.
 */
export const TOPICS = {
  /** Base of query topics: requestTopic('query', clientId). */
  query: 'enfpire/v1/query',
  /** Base of region request topics: requestTopic('region', clientId). */
  region: 'enfpire/v1/region',
  info: 'enfpire/v1/recognizer/info',
  replyPrefix: 'enfpire/v1/reply/',
} as const;

export type RequestKind = 'query' | 'region';

/** The topic a device with this client id publishes its requests of this kind to. */
export function requestTopic(kind: RequestKind, clientId: string): string {
  return `${TOPICS[kind]}/${clientId}`;
}

/** The subscription filter for every device's requests of this kind. */
export function requestFilter(kind: RequestKind): string {
  return `${TOPICS[kind]}/+`;
}

/** Kind and client id of a request topic, or undefined for any other topic. */
export function parseRequestTopic(topic: string): { kind: RequestKind; clientId: string } | undefined {
  for (const kind of ['query', 'region'] as const) {
    const base = `${TOPICS[kind]}/`;
    if (topic.startsWith(base) && topic.length > base.length && !topic.includes('/', base.length)) {
      return { kind, clientId: topic.slice(base.length) };
    }
  }
  return undefined;
}

export interface QueryMessage {
  type: 'query';
  model: string;
  vector: Float32Array;
  /** Number of candidates wanted. */
  topM: number;
  /**
   * Ask for the reply's candidates as 32-bit spot digests (ReplyMessage.digests) rather than ids: 4 bytes a candidate
   * (transport/spot-digest.ts). Absent or false: ids. A recognizer that predates digests ignores it and answers ids.
   */
  digests?: boolean;
}

/**
 * The answer to a query: the candidates, best first, named by id or (when the query asked for them) by spot digest,
 * and the gallery version they come from; no scores. The device already holds every spot's feature and service
 * information in its region pack, so a reply is 9-21 bytes a candidate by id, 4 by digest, instead of about 500
 * (docs/protocol.md, "Reply").
 */
export interface ReplyMessage {
  type: 'reply';
  model: string;
  galleryVersion: string;
  /** The candidates by id, best first; empty when `digests` is present. */
  candidates: CandidateRef[];
  /**
   * The candidates by spot digest (transport/spot-digest.ts), best first, instead of `candidates`: only in answer to
   * a query that asked for digests. Several spots may share a digest; the device takes every pack spot that has it.
   */
  digests?: Uint32Array;
}

export interface RegionRequestMessage {
  type: 'region-request';
  model: string;
  /** Region name, or '*' for the whole gallery. */
  region: string;
  /**
   * 0-based page of the pack (decision 68): the answer then holds that page's spots and says how many pages there are.
   * Absent: the whole pack in one message, as devices before paging ask (a recognizer before paging ignores the field
   * and answers the whole pack, without `pages`).
   */
  page?: number;
}

/** The answer to a region request: the region's pack of spots, or one page of it when the request named a page. */
export type RegionPackMessage = RegionPack & {
  /** The page these spots are (the request's), with `pages`; both absent when the whole pack is in this message. */
  page?: number;
  /** How many pages the whole pack has at the recognizer's page size (recognizer regionPageSpots). */
  pages?: number;
};

export interface RecognizerInfoMessage {
  type: 'info';
  model: string;
  dimension: number;
  galleryVersion: string;
  spots: number;
  regions: string[];
}

export interface ErrorMessage {
  type: 'error';
  /** Machine-readable: one of WIRE_ERROR_CODES (error-codes.ts), which says what each means to a device. */
  code: WireErrorCode;
  message: string;
}

export type WireMessage =
  | QueryMessage
  | ReplyMessage
  | RegionRequestMessage
  | RegionPackMessage
  | RecognizerInfoMessage
  | ErrorMessage;

/**
 * The reply address carried inside the CBOR envelope in MQTT 3.1.1 compatibility mode, where the broker has no
 * Response Topic and Correlation Data properties (docs/protocol.md). A request carries both; a reply, region pack
 * or error carries only the correlation data of the request it answers. In MQTT v5 mode it is never sent.
 */
export interface EnvelopeRouting {
  /** enfpire/v1/reply/<suffix>; requests only. */
  responseTopic?: string;
  /** 1-64 bytes, returned unchanged with the answer. */
  correlationData: Uint8Array;
}

/** Validation limits applied to every inbound message before it is trusted. */
export interface WireLimits {
  /** Largest accepted payload in bytes. */
  maxBytes: number;
  /** Expected vector dimension (every vector in the message must have it). */
  dimension: number;
  /** Largest candidate count in a reply / topM in a query. */
  maxCandidates: number;
  /** Largest spot count in a region pack. */
  maxSpots: number;
}
