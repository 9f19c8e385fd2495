/**
 * What the wiretap keeps of the messages it read: one record per query in arrival order, its reply's candidates
 * filled in when the reply passes, and a way to wait until the tap has caught up with the devices. Shared by the
 * in-process `Wiretap` and the `ThreadedWiretap`, which differ only in where a message is read and stamped.
 */
import { digestTable } from '../transport/spot-digest.js';
import type { TappedMessage } from './tap-connection.js';

/** One query as the server saw it (a line of `--record`). */
export interface ServerRecord {
  /** Arrival time: simulated ms, or wall-clock ms in a wall-clock run (since the run's start, as the fleet asks). */
  t: number;
  reply_topic: string;
  /** The query vector, dequantised as the recognizer decoded it (6 decimals: far finer than the int8 wire form). */
  vector: number[];
  topM: number;
  /**
   * Candidate ids of the reply, best first. A reply by spot digest is entered as the ids of the gallery with those
   * digests (every one of them where two share a digest), as the server, which knows its gallery, reads it.
   */
  candidates: string[];
}

/** What the fleet needs of a wiretap, wherever it reads the broker. */
export interface ServerTap {
  readonly records: ServerRecord[];
  start(): Promise<void>;
  stop(): Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<boolean>;
  abandonUnanswered(): number;
  /** Digests in replies that no gallery id has (0 unless the tap was given the wrong gallery). */
  readonly unknownDigests: number;
}

export class TapLedger {
  readonly records: ServerRecord[] = [];
  /** Queries seen and not yet answered, by correlation data; their record is already in `records`. */
  private readonly open = new Map<string, ServerRecord>();
  private answered = 0;
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  /** The gallery's ids by spot digest, to read replies by digest as the server would. */
  private readonly idsByDigest: Map<number, string[]>;
  private unknown = 0;

  /** `galleryIds`: every spot id of the recognizer's gallery (what the server knows). */
  constructor(galleryIds: Iterable<string> = []) {
    this.idsByDigest = digestTable(galleryIds);
  }

  /** Enters one message read at time `t` (ignored for an answer: it carries the time of its query). */
  add(message: TappedMessage, t: number): void {
    if (message.kind === 'query') {
      // Kept in arrival order, the order the server sees them in; candidates are filled in when the reply passes.
      const record: ServerRecord = { t, reply_topic: message.reply_topic, vector: message.vector, topM: message.topM, candidates: [] };
      this.records.push(record);
      this.open.set(message.key, record);
      return;
    }
    const query = this.open.get(message.key);
    if (!query) return;
    this.open.delete(message.key);
    this.answered++;
    if (message.candidates) query.candidates = message.candidates;
    if (message.digests) query.candidates = message.digests.flatMap((d) => this.idsOf(d));
    this.wake();
  }

  /**
   * Resolves true once `count` queries have been seen and every one seen so far has its reply; false when
   * `timeoutMs` passed first (a query nobody answered stays in the record with no candidates, as the server saw it).
   */
  waitFor(count: number, timeoutMs = 10_000): Promise<boolean> {
    if (this.caughtUp(count)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { count, resolve: () => {} };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve(false);
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * Stops waiting for the replies of the queries seen so far that have none, and returns how many. A query can go
   * unanswered for good: the broker drops it once its message expiry (the device's timeout) passes, as it did on a
   * machine starved of CPU. Without this every later wait timed out too (10 s each), and the run crawled. Their
   * records stay, with no candidates, as the server saw them; a late reply is ignored.
   */
  abandonUnanswered(): number {
    const count = this.open.size;
    this.open.clear();
    this.answered += count;
    this.wake();
    return count;
  }

  get unknownDigests(): number {
    return this.unknown;
  }

  private idsOf(digest: number): string[] {
    const ids = this.idsByDigest.get(digest);
    if (!ids) this.unknown++;
    return ids ?? [];
  }

  private caughtUp(count: number): boolean {
    return this.records.length >= count && this.answered >= this.records.length;
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (!this.caughtUp(w.count)) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}
