import { schemaDefaults } from '../config/load.js';
import type { Logger } from '../util/log.js';
import { dot, normalize } from '../util/vector.js';
import { QUERY_ZERO_POINT, buildScanGraph } from './scan-graph.js';
import { InProcessScanSession, type ScanOutputs, type ScanSession } from './scan-session.js';
import { WorkerScanSession } from './worker-scan-session.js';
import { ExactIndex, type IndexEntry, type SpotHit, type SpotIndex } from './spot-index.js';

export interface OnnxScanOptions {
  /** Most queries scored by one matrix product (index.maxBatch). */
  maxBatch?: number;
  /**
   * How long the first query of a batch waits for others (index.batchWaitMs); 0 closes the batch as soon as the
   * queries that arrived together are in (the next turn of the event loop).
   */
  batchWaitMs?: number;
  /** ONNX Runtime intra-op threads (index.threads). */
  threads?: number;
  /**
   * 'float32' (index.kind exact-onnx, the default here): the exact product. 'int8' (int8-onnx): the int8 product ranks
   * a shortlist, which is re-scored exactly (docs/decisions.md #32).
   */
  precision?: 'float32' | 'int8';
  /** int8: rows shortlisted beyond the deepest ask of a batch (index.shortlistMargin); the float32 path ignores it. */
  shortlistMargin?: number;
  /** Where the product runs (index.thread): 'worker', a thread of its own (scan-session.ts), or 'main', the caller's. */
  thread?: 'worker' | 'main';
}

export interface OnnxScanCreateOptions extends OnnxScanOptions {
  /** Where a scan worker that died is reported. */
  logger?: Logger;
}

/** The settings the index starts from when none are given: the schema's. */
export function defaultScanOptions(): Required<OnnxScanOptions> {
  const d = schemaDefaults('recognizer', 'index');
  return {
    maxBatch: d.maxBatch as number,
    batchWaitMs: d.batchWaitMs as number,
    threads: d.threads as number,
    precision: 'float32',
    shortlistMargin: d.shortlistMargin as number,
    thread: d.thread as 'worker' | 'main',
  };
}

interface Pending {
  query: Float32Array;
  k: number;
  resolve: (hits: SpotHit[]) => void;
  reject: (err: Error) => void;
}

/**
 * The scan as one batched matrix product in ONNX Runtime (docs/decisions.md #31): the queries that arrive together are
 * stacked into Q[B, D], scored against the whole gallery in one product and cut to the best in the same graph (TopK),
 * so only [B, topM + margin] scores and rows come back to JS.
 *
 * - precision 'float32' (index.kind exact-onnx): a Gemm. Exact, so its component recall is 1 by definition; and it
 *   returns exactly what ExactIndex returns: the rows whose float32 scores are too close to order are scored again as
 *   ExactIndex scores them (exactOrder).
 * - precision 'int8' (int8-onnx, docs/decisions.md #32): a MatMulInteger of the queries as bytes with the int8 gallery
 *   shortlists `shortlistMargin` rows beyond the ask; the graph scores the shortlisted rows again in float32 and
 *   returns their best, which exactOrder turns into ExactIndex's answer over the shortlist. Approximate: a row the
 *   int8 ranking puts below the shortlist is lost; when none is, the answer is ExactIndex's.
 *
 * `searchAsync` is the batched path the recognizer answers queries on; `search` (synchronous, one query) scans in JS
 * as ExactIndex does, for callers that cannot wait.
 */
export class OnnxScanIndex implements SpotIndex {
  readonly size: number;
  readonly dimension: number;
  readonly options: Required<OnnxScanOptions>;
  /**
   * Matrix products run and the queries they answered (their ratio is the mean batch); queries that were scanned in
   * JS instead because float32 rounding left their cut undecided (exactOrder).
   */
  readonly counters = { batches: 0, queries: 0, fallbacks: 0 };
  private readonly ids: readonly string[];
  private queue: Pending[] = [];
  private running = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  private released: Promise<void> | undefined;

  private constructor(
    private readonly exact: ExactIndex,
    private readonly session: ScanSession | undefined,
    options: Required<OnnxScanOptions>,
  ) {
    this.size = exact.size;
    this.dimension = exact.dimension;
    this.ids = exact.ids;
    this.options = options;
  }

  /** Builds the graph with this gallery as its constant and opens a session over it. */
  static async create(entries: readonly IndexEntry[], options: OnnxScanCreateOptions = {}): Promise<OnnxScanIndex> {
    const d = defaultScanOptions();
    const settings = {
      maxBatch: options.maxBatch ?? d.maxBatch,
      batchWaitMs: options.batchWaitMs ?? d.batchWaitMs,
      threads: options.threads ?? d.threads,
      shortlistMargin: options.shortlistMargin ?? d.shortlistMargin,
    };
    for (const [name, v] of Object.entries(settings)) {
      const least = name === 'batchWaitMs' || name === 'shortlistMargin' ? 0 : 1;
      if (!(Number.isFinite(v) && v >= least)) throw new RangeError(`index.${name} must be a number ≥ ${least}, not ${v}`);
      if (name !== 'batchWaitMs' && !Number.isInteger(v)) throw new RangeError(`index.${name} must be an integer, not ${v}`);
    }
    const precision = options.precision ?? d.precision;
    if (precision !== 'float32' && precision !== 'int8') throw new RangeError(`precision must be 'float32' or 'int8', not '${String(precision)}'`);
    const thread = options.thread ?? d.thread;
    if (thread !== 'worker' && thread !== 'main') throw new RangeError(`index.thread must be 'worker' or 'main', not '${String(thread)}'`);
    const exact = new ExactIndex(entries);
    let session: ScanSession | undefined;
    if (exact.size > 0 && exact.dimension > 0) {
      const buildModel = () => buildScanGraph({ gallery: exact.rows, rows: exact.size, dimension: exact.dimension, precision });
      session =
        thread === 'worker'
          ? await WorkerScanSession.create({ buildModel, threads: settings.threads, logger: options.logger })
          : await InProcessScanSession.create(buildModel(), settings.threads);
    }
    return new OnnxScanIndex(exact, session, { ...settings, precision, thread });
  }

  search(vector: Float32Array, m: number): SpotHit[] {
    return this.exact.search(vector, m);
  }

  /** One query's best m, scored in the next batch. */
  searchAsync(vector: Float32Array, m: number): Promise<SpotHit[]> {
    if (this.dimension > 0 && vector.length !== this.dimension) {
      return Promise.reject(new RangeError(`query has ${vector.length} dimensions, the index ${this.dimension}`));
    }
    const k = Math.min(Math.floor(m), this.size);
    if (!(k > 0) || !this.session) return Promise.resolve([]);
    if (this.closed) return Promise.reject(new Error('the index is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ query: normalize(vector), k, resolve, reject });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    for (const p of this.queue.splice(0)) p.reject(new Error('the index is closed'));
    while (this.running) await new Promise((r) => setImmediate(r));
    this.released ??= this.session?.release() ?? Promise.resolve();
    await this.released;
  }

  /**
   * A full batch goes now; otherwise the first query of a batch starts the wait. One batch runs at a time. Right after
   * a batch (`afterBatch`) with no wait set, the queries that came in meanwhile go at once: they are all there.
   */
  private schedule(afterBatch = false): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queue.length >= this.options.maxBatch || (afterBatch && this.options.batchWaitMs === 0)) {
      this.clearTimer();
      void this.flush();
    } else if (this.timer === undefined) {
      const flush = (): void => {
        this.timer = undefined;
        void this.flush();
      };
      this.timer = this.options.batchWaitMs > 0 ? setTimeout(flush, this.options.batchWaitMs) : setImmediate(flush);
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, this.options.maxBatch);
    let out: { k: number } & ScanOutputs;
    try {
      out = await this.scan(batch);
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    } finally {
      this.running = false;
      // The next batch goes before this one is put in order, so on a scan worker the two overlap.
      this.schedule(true);
    }
    const { k, scores, indices } = out;
    batch.forEach((p, i) => {
      try {
        p.resolve(this.exactOrder(p, scores.subarray(i * k, (i + 1) * k), indices.subarray(i * k, (i + 1) * k)));
      } catch (err) {
        p.reject(err as Error);
      }
    });
  }

  private async scan(batch: Pending[]): Promise<{ k: number } & ScanOutputs> {
    const d = this.dimension;
    const queries = new Float32Array(batch.length * d);
    batch.forEach((p, i) => queries.set(p.query, i * d));
    const deepest = batch.reduce((most, p) => Math.max(most, p.k), 0);
    // int8: the rows the integer product shortlists, scored again in float32 in the graph.
    const shortlist = Math.min(this.size, deepest + this.options.shortlistMargin);
    // A few rows beyond the deepest ask, so a row that float32 rounding put just below the cut can still be seen.
    const k = Math.min(this.options.precision === 'int8' ? shortlist : this.size, deepest + MARGIN);
    const int8 = this.options.precision === 'int8';
    const out = await this.session!.run({
      queries,
      batch: batch.length,
      dimension: d,
      k,
      ...(int8 ? { queryBytes: this.queryBytes(batch), shortlist } : {}),
    });
    this.counters.batches++;
    this.counters.queries += batch.length;
    return { k, ...out };
  }

  /**
   * Each (unit) query as bytes for the int8 product: symmetric on its own scale (max |x| / 127), shifted by the graph's
   * zero point. A query's scale multiplies all its scores alike, so it does not change their order and is dropped.
   */
  private queryBytes(batch: Pending[]): Uint8Array {
    const d = this.dimension;
    const bytes = new Uint8Array(batch.length * d).fill(QUERY_ZERO_POINT);
    batch.forEach((p, i) => {
      let most = 0;
      for (const x of p.query) most = Math.max(most, Math.abs(x));
      if (most === 0) return;
      for (let j = 0; j < d; j++) bytes[i * d + j] = QUERY_ZERO_POINT + Math.round((p.query[j] * 127) / most);
    });
    return bytes;
  }

  /**
   * ExactIndex's answer from the float32 best-first list: rows whose float32 score is within the rounding bound of a
   * neighbour's are scored again as ExactIndex scores them (float64 sums of the same float32 values) and the list is
   * ordered by those, ties to the lower row. A row further than the bound from its neighbours cannot change places
   * with them. Should the rows within the bound of the cut run past the list, the query is scanned in JS instead.
   */
  private exactOrder(p: Pending, scores: Float32Array, rows: BigInt64Array): SpotHit[] {
    const n = scores.length;
    const bound = 2 * this.dimension * 2 ** -24;
    if (n < this.size && p.k < n && scores[n - 1] >= scores[p.k - 1] - bound) {
      this.counters.fallbacks++;
      return this.exact.search(p.query, p.k);
    }
    // Rows past the cut can only move up through a run of neighbours within the bound that reaches across it.
    let m = Math.min(p.k, n);
    while (m < n && scores[m - 1] - scores[m] < bound) m++;
    const order = new Array<number>(m);
    const exact = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      order[j] = Number(rows[j]);
      exact[j] = scores[j];
    }
    // Each run of neighbours within the bound of each other (closed inside [0, m) by the loop above) is scored again
    // and put in ExactIndex's order, ties to the lower row; a row further than the bound from its neighbours keeps
    // its place, so most queries sort nothing.
    for (let start = 0, end = 1; start < m; start = end, end = start + 1) {
      while (end < m && scores[end - 1] - scores[end] < bound) end++;
      if (end - start < 2) continue;
      for (let j = start; j < end; j++) exact[j] = this.exactScore(p.query, order[j]);
      for (let j = start + 1; j < end; j++) {
        const row = order[j];
        const score = exact[j];
        let i = j - 1;
        for (; i >= start && (exact[i] < score || (exact[i] === score && order[i] > row)); i--) {
          order[i + 1] = order[i];
          exact[i + 1] = exact[i];
        }
        order[i + 1] = row;
        exact[i + 1] = score;
      }
    }
    const out = new Array<SpotHit>(Math.min(p.k, m));
    for (let j = 0; j < out.length; j++) out[j] = { id: this.ids[order[j]], score: exact[j] };
    return out;
  }

  /** The row's score as ExactIndex computes it: the same float32 products summed in float64, in the same order. */
  private exactScore(q: Float32Array, row: number): number {
    const d = this.dimension;
    return dot(this.exact.rows.subarray(row * d, (row + 1) * d), q);
  }
}

/** float32: rows asked beyond the deepest query of a batch (see exactOrder). */
const MARGIN = 16;
