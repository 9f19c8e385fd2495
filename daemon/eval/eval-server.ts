/**
 * "The server" as the evaluation loop sees it: one query in, one reply out, and the bytes both took on the wire.
 * The in-process implementation here runs the real Recognizer behind the real wire codec (so the vector is
 * quantised exactly as over MQTT); a broker-backed implementation (issue 4) plugs in behind the same interface.
 */
import { decode, encode } from '../transport/codec.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { QueryMessage, RegionPackMessage, ReplyMessage, WireLimits, WireMessage } from '../transport/messages.js';
import { Recognizer } from '../recognizer/recognizer.js';
import { ExactIndex } from '../recognizer/spot-index.js';
import { SpotStore } from '../recognizer/spot-store.js';

export interface ServerAnswer {
  reply: ReplyMessage;
  /** Encoded size of the query as sent. */
  queryBytes: number;
  /** Encoded size of the reply as received. */
  replyBytes: number;
}

export interface EvalServer {
  /** The gallery's model id (queries must carry it). */
  readonly model: string;
  query(q: QueryMessage): Promise<ServerAnswer>;
  /** The region pack a device fetches for decoy synthesis ('*': every spot). */
  regionPack(region: string): Promise<{ pack: RegionPackMessage; bytes: number }>;
  close(): Promise<void>;
}

/** The recognizer of a gallery file, called in-process through encode/decode of every message. */
export class InProcessServer implements EvalServer {
  readonly model: string;
  private readonly recognizer: Recognizer;
  private readonly limits: WireLimits;

  private constructor(private readonly store: SpotStore) {
    const meta = store.meta();
    this.model = meta.model;
    this.limits = wireLimitsFor(meta.dimension);
    // Exact search: the benchmark measures recognition, not the approximate index's recall.
    this.recognizer = new Recognizer(store, new ExactIndex(store.all()));
  }

  static open(galleryPath: string): InProcessServer {
    return new InProcessServer(SpotStore.open(galleryPath));
  }

  async query(q: QueryMessage): Promise<ServerAnswer> {
    const sent = encode(q);
    const answer = await this.recognizer.query(this.receive(sent, 'query'));
    const returned = encode(answer);
    const reply = this.receive(returned, 'reply');
    return { reply, queryBytes: sent.length, replyBytes: returned.length };
  }

  async regionPack(region: string): Promise<{ pack: RegionPackMessage; bytes: number }> {
    const sent = encode({ type: 'region-request', model: this.model, region });
    const answer = this.recognizer.region(this.receive(sent, 'region-request'));
    const returned = encode(answer);
    return { pack: this.receive(returned, 'region-pack'), bytes: sent.length + returned.length };
  }

  async close(): Promise<void> {
    this.store.close();
  }

  /** Decodes like the receiving side would and insists on the expected type (an error reply is a harness bug). */
  private receive<T extends WireMessage['type']>(buf: Buffer, type: T): Extract<WireMessage, { type: T }> {
    const msg = decode(buf, this.limits);
    if (msg.type !== type) {
      const detail = msg.type === 'error' ? `${msg.code}: ${msg.message}` : msg.type;
      throw new Error(`the recognizer answered ${detail} where a ${type} was expected`);
    }
    return msg as Extract<WireMessage, { type: T }>;
  }
}
