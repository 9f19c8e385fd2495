/** Shared pieces of the transport integration tests: a brute-force in-memory recognizer and a log recorder. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type {
  ErrorMessage,
  QueryMessage,
  RecognizerInfoMessage,
  RegionPackMessage,
  RegionRequestMessage,
  ReplyMessage,
  WireLimits,
} from '../../daemon/transport/messages.js';
import type { RecognizerHandler } from '../../daemon/transport/recognizer-endpoint.js';
import { cosine, normalize } from '../../daemon/util/vector.js';

export const MODEL = 'test-model-v1';
export const limits: WireLimits = { maxBytes: 256 * 1024, dimension: 64, maxCandidates: 16, maxSpots: 500 };

/** Deterministic unit vectors (mulberry32 + Box-Muller). */
export function vectors(count: number, seed: number, dimension = limits.dimension): Float32Array[] {
  let s = seed;
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Array.from({ length: count }, () => normalize(Float32Array.from({ length: dimension }, gauss)));
}

export interface Spot {
  id: string;
  region: string;
  feature: Float32Array;
}

/** A recognizer handler answering top-M by cosine over a fixed spot list; counts what it served. */
export class GalleryHandler implements RecognizerHandler {
  served = 0;
  galleryVersion = 'v1';
  /** Milliseconds to wait before answering, to hold requests in flight. */
  delayMs = 0;
  /** When set, query() throws it (a recognizer bug must not crash the endpoint). */
  failWith: Error | undefined;

  constructor(
    readonly spots: Spot[],
    readonly name = 'gallery',
    readonly model = MODEL,
    readonly dimension = limits.dimension,
  ) {}

  async query(q: QueryMessage): Promise<ReplyMessage> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failWith) throw this.failWith;
    this.served++;
    const ranked = this.spots
      .map((s) => ({ s, score: cosine(q.vector, s.feature) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, q.topM);
    return { type: 'reply', model: this.model, galleryVersion: this.galleryVersion, candidates: ranked.map(({ s }) => ({ id: s.id })) };
  }

  region(r: RegionRequestMessage): RegionPackMessage | ErrorMessage {
    const spots = this.spots.filter((s) => r.region === '*' || s.region === r.region);
    if (spots.length === 0) return { type: 'error', code: 'unknown-region', message: `no region ${r.region}` };
    return {
      type: 'region-pack',
      model: this.model,
      region: r.region,
      galleryVersion: this.galleryVersion,
      spots: spots.map((s, i) => ({ id: s.id, feature: s.feature, x: i * 10, y: i * 5, popularity: 1 + i, info: { name: `Spot ${s.id}`, servedBy: this.name } })),
    };
  }

  info(): RecognizerInfoMessage {
    return {
      type: 'info',
      model: this.model,
      dimension: this.dimension,
      galleryVersion: this.galleryVersion,
      spots: this.spots.length,
      regions: [...new Set(this.spots.map((s) => s.region))],
    };
  }
}

export function makeSpots(count: number, seed = 7): Spot[] {
  return vectors(count, seed).map((feature, i) => ({ id: `spot-${i}`, region: i % 2 ? 'east' : 'west', feature }));
}

/** A pino logger that keeps its lines for assertions. */
export function recordingLogger(): { logger: Logger; lines: () => Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines: () => lines };
}

/** Polls until `check` is true or the time is up. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}
