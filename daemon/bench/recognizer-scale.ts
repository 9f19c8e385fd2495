/**
 * The recognizer at city scale, in-process (issue #12): galleries of real photo windows plus synthetic spots
 * (load/gallery.ts), the k-mix queries devices of the gallery's regions send (load/queries.ts, the real transform),
 * each answered by Recognizer.handleQuery over the exact scan and over HNSW with the recognizer's own index settings
 * (recognizer.schema.json), alternating which goes first. Reported per size: speed of both, the component recall of
 * HNSW against the exact scan (load/recall.ts), and the reply bytes per result.
 */
import { performance } from 'node:perf_hooks';
import { schemaDefault } from '../config/load.js';
import { componentRecall, type ComponentRecall, type RecallSample } from '../load/recall.js';
import { onWire, prepareWorkload, type WorkloadOptions } from '../load/workload.js';
import { Recognizer } from '../recognizer/recognizer.js';
import { ExactIndex, HnswIndex, defaultIndexOptions, hnswCacheFile } from '../recognizer/spot-index.js';
import { OnnxScanIndex, defaultScanOptions, type OnnxScanOptions } from '../recognizer/onnx-scan-index.js';
import { SpotStore, type StoredSpot } from '../recognizer/spot-store.js';
import { perturb } from '../privacy/decoys.js';
import { seededRandom } from '../util/random.js';
import { encode } from '../transport/codec.js';
import type { QueryMessage } from '../transport/messages.js';
import { round, summarize, usFields } from '../util/stats.js';

export interface RecognizerScaleOptions extends Omit<WorkloadOptions, 'spots' | 'nextEdition'> {
  /** Gallery sizes, e.g. [10_000, 100_000]. */
  sizes: number[];
  /** Timed passes over the query pool per index (default 1). */
  passes?: number;
  /** exact-onnx and int8-onnx: batch sizes and intra-op thread counts measured (default [1, 8, 32, 64] and [1, 2]). */
  onnxBatches?: number[];
  onnxThreads?: number[];
  /** exact-onnx and int8-onnx: offered rate and batch waits of the open-loop latency run (default 500 q/s, waits [0, 2] ms). */
  offeredQps?: number;
  batchWaits?: number[];
  /** int8-onnx: shortlist margins measured at the shipped batch and threads (default [0, 16, 32, 64, 128, 256]). */
  int8Margins?: number[];
}

export interface OpenLoopResult {
  offered_qps: number;
  answered_qps: number;
  mean_batch: number;
  p50_ms: number;
  p99_ms: number;
}

/**
 * The batched scan in ONNX Runtime: index.kind 'exact-onnx' (float32, docs/decisions.md #31) or 'int8-onnx' (int8
 * product, shortlist re-scored exactly, #32), measured in the same rounds, alternating which goes first.
 */
export interface OnnxScanResult {
  /** Graph build and session creation, the slower thread count. */
  build_ms: number;
  /** The pool in batches of exactly `batch` queries through `Recognizer.handleQueryAsync`, per thread count. */
  throughput: { threads: number; batch: number; qps: number; over_hnsw: number; over_exact: number }[];
  /**
   * The pool twice, all submitted at once, with the shipped settings (maxBatch, threads), the scan on the recognizer's
   * thread and on its worker (index.thread): the rate a recognizer sustains with a backlog, when one batch is put in
   * order while the next is scored.
   */
  sustained: { main_qps: number; worker_qps: number };
  /** Over every batch and thread count: the figure against the exact scan, and replies identical to its. */
  component_recall: number;
  same_reply_as_exact: number;
  /**
   * Open loop, by index.batchWaitMs, with the shipped maxBatch and threads: queries arrive at `offered_qps` (Poisson),
   * each timed from when it was due to its answer, so the wait for a batch and any backlog are counted.
   */
  latency: Record<`wait_${number}ms`, OpenLoopResult>;
}

/** int8-onnx: the figures above at the shipped shortlist margin, and the margin's trade of speed for recall. */
export interface Int8OnnxResult extends OnnxScanResult {
  shortlist_margin: number;
  /** Per margin, the pool in batches of the shipped maxBatch at the shipped threads; exact-onnx measured alongside. */
  margins: { margin: number; qps: number; over_exact_onnx: number; component_recall: number; same_reply_as_exact: number }[];
}

export interface ScaleIndexResult {
  qps: number;
  mean_us: number;
  p50_us: number;
  p99_us: number;
  /** Building (or, for HNSW with a cached graph, reading) the index. */
  build_ms: number;
}

export interface RecognizerScaleResult {
  spots: number;
  real_spots: number;
  synthetic_spots: number;
  queries: number;
  /** Candidates asked for, mean and most (the transform grows a query up to the device's maxCandidates). */
  top_m_mean: number;
  top_m_max: number;
  index: ReturnType<typeof defaultIndexOptions>;
  /** Whether the HNSW graph was read from its cache file rather than built. */
  hnsw_graph_cached: boolean;
  exact: ScaleIndexResult;
  hnsw: ScaleIndexResult;
  hnsw_speedup: number;
  exact_onnx: OnnxScanResult;
  int8_onnx: Int8OnnxResult;
  /** HNSW against the exact scan (load/recall.ts); `component_recall` is the figure. */
  recall: ComponentRecall;
  /**
   * The anchor: the same HNSW graph on the queries HNSW is usually published for — one camera view of one spot,
   * top 10 — with recall@10 against the exact scan and speed, so the k-mix figures can be read against it.
   */
  plain_top10: { queries: number; hnsw_recall_at_10: number; hnsw_qps: number; exact_qps: number };
  /** Encoded reply bytes per real query's result, dummies' replies included (DESIGN §7), and per reply. */
  bytes_per_result: number;
  bytes_per_reply: number;
}

export async function runRecognizerScale(options: RecognizerScaleOptions): Promise<RecognizerScaleResult[]> {
  const out: RecognizerScaleResult[] = [];
  for (const spots of options.sizes) out.push(await measureSize(spots, options));
  return out;
}

async function measureSize(spots: number, options: RecognizerScaleOptions): Promise<RecognizerScaleResult> {
  const w = await prepareWorkload({ ...options, spots });
  const say = options.progress ?? (() => undefined);
  const store = SpotStore.open(w.gallery.path);
  try {
    const settings = defaultIndexOptions();
    let t0 = performance.now();
    const exactIndex = new ExactIndex(w.gallery.spots);
    const exactBuild = performance.now() - t0;
    say(`HNSW over ${spots} spots (m ${settings.m}, efConstruction ${settings.efConstruction})`);
    t0 = performance.now();
    const hnswIndex = new HnswIndex(w.gallery.spots, { ...settings, cacheFile: hnswCacheFile(w.gallery.path, w.gallery.version, settings) });
    const hnswBuild = performance.now() - t0;
    // The service's reply cap (recognizer.schema.json maxTopM), so a query for 96 candidates gets 96.
    const maxTopM = schemaDefault('recognizer', 'maxTopM') as number;
    const recognizers = { exact: new Recognizer(store, exactIndex, { maxTopM }), hnsw: new Recognizer(store, hnswIndex, { maxTopM }) };

    const pool = [...w.queries.values()].flat();
    const times = { exact: [] as number[], hnsw: [] as number[] };
    const samples: RecallSample[] = [];
    const exactReplies: string[][] = [];
    let bytes = 0;
    let real = 0;
    const passes = options.passes ?? 1;
    say(`${pool.length * passes} queries through both indexes`);
    for (let pass = 0; pass < passes; pass++) {
      pool.forEach((q, i) => {
        // As the recognizer gets it off the wire (int8), like the exact answers it is compared with.
        const query: QueryMessage = { type: 'query', model: w.manifest.id, vector: onWire(q.vector), topM: q.topM };
        const order = (i + pass) % 2 === 0 ? (['exact', 'hnsw'] as const) : (['hnsw', 'exact'] as const);
        for (const kind of order) {
          const start = performance.now();
          const reply = recognizers[kind].handleQuery(query);
          times[kind].push(performance.now() - start);
          if (reply.type !== 'reply') throw new Error(`recognizer scale bench: ${kind} answered ${reply.type}: ${reply.message}`);
          if (kind === 'exact' && pass === 0) exactReplies[i] = reply.candidates.map((c) => c.id);
          if (kind === 'hnsw' && pass === 0) {
            samples.push({ components: q.components, exact: w.exact.get(q)!, reply: reply.candidates.map((c) => c.id) });
            bytes += encode(reply).length;
            if (q.real) real++;
          }
        }
      });
    }
    const qps = (x: number[]): number => 1000 / summarize(x).mean;
    const onnx = await measureOnnxScans(
      store,
      w.gallery.spots,
      pool.map((q) => ({ type: 'query', model: w.manifest.id, vector: onWire(q.vector), topM: q.topM })),
      (i, ids) => ({ components: pool[i].components, exact: w.exact.get(pool[i])!, reply: ids }),
      exactReplies,
      { hnsw: qps(times.hnsw), exact: qps(times.exact), maxTopM },
      options,
    );
    const plain = plainTop10(w.gallery.spots, exactIndex, hnswIndex, w.manifest.viewVariation?.sigma ?? 0.4);
    const exact = summarize(times.exact);
    const hnsw = summarize(times.hnsw);
    const result = (s: typeof exact, buildMs: number): ScaleIndexResult => ({ qps: round(1000 / s.mean), ...usFields(s), build_ms: round(buildMs) });
    const recall = componentRecall(samples);
    return {
      spots,
      real_spots: Math.min(spots, w.features.count),
      synthetic_spots: Math.max(0, spots - w.features.count),
      queries: pool.length,
      top_m_mean: round(pool.reduce((s, q) => s + q.topM, 0) / pool.length),
      top_m_max: Math.max(...pool.map((q) => q.topM)),
      index: settings,
      hnsw_graph_cached: hnswIndex.loaded,
      exact: result(exact, exactBuild),
      hnsw: result(hnsw, hnswBuild),
      hnsw_speedup: round(exact.mean / hnsw.mean),
      exact_onnx: onnx.float32,
      int8_onnx: onnx.int8,
      recall: Object.fromEntries((Object.entries(recall) as [string, number][]).map(([k, v]) => [k, Number.isInteger(v) ? v : round(v)])) as unknown as ComponentRecall,
      plain_top10: plain,
      bytes_per_result: real === 0 ? NaN : Math.round(bytes / real),
      bytes_per_reply: Math.round(bytes / samples.length),
    };
  } finally {
    store.close();
  }
}

/** One noisy view of a random spot, top 10: exact against HNSW at the recognizer's settings. */
function plainTop10(spots: readonly StoredSpot[], exact: ExactIndex, hnsw: HnswIndex, sigma: number, n = 300): RecognizerScaleResult['plain_top10'] {
  const random = seededRandom(4242);
  const queries = Array.from({ length: n }, () => perturb(spots[random.int(spots.length)].feature, sigma, random));
  let t0 = performance.now();
  const want = queries.map((q) => exact.search(q, 10).map((h) => h.id));
  const exactMs = performance.now() - t0;
  t0 = performance.now();
  const got = queries.map((q) => hnsw.search(q, 10).map((h) => h.id));
  const hnswMs = performance.now() - t0;
  const recall = want.reduce((sum, ids, i) => sum + ids.filter((id) => got[i].includes(id)).length / ids.length, 0) / n;
  return { queries: n, hnsw_recall_at_10: round(recall), hnsw_qps: round((1000 * n) / hnswMs), exact_qps: round((1000 * n) / exactMs) };
}

const PRECISIONS = ['float32', 'int8'] as const;
type Precision = (typeof PRECISIONS)[number];
const KIND: Record<Precision, string> = { float32: 'exact-onnx', int8: 'int8-onnx' };

/** exact-onnx and int8-onnx on the same queries, in the same rounds, alternating which goes first. */
async function measureOnnxScans(
  store: SpotStore,
  spots: readonly StoredSpot[],
  queries: QueryMessage[],
  sample: (i: number, ids: string[]) => RecallSample,
  exactReplies: string[][],
  anchors: { hnsw: number; exact: number; maxTopM: number },
  options: RecognizerScaleOptions,
): Promise<{ float32: OnnxScanResult; int8: Int8OnnxResult }> {
  const say = options.progress ?? (() => undefined);
  const acc = Object.fromEntries(
    PRECISIONS.map((p) => [
      p,
      { throughput: [] as OnnxScanResult['throughput'], samples: [] as RecallSample[], same: 0, buildMs: 0, latency: {} as OnnxScanResult['latency'], sustained: { main_qps: 0, worker_qps: 0 } },
    ]),
  ) as Record<
    Precision,
    { throughput: OnnxScanResult['throughput']; samples: RecallSample[]; same: number; buildMs: number; latency: OnnxScanResult['latency']; sustained: OnnxScanResult['sustained'] }
  >;
  const open = async (precision: Precision, settings: OnnxScanOptions) => {
    const t0 = performance.now();
    const index = await OnnxScanIndex.create(spots, { ...settings, precision });
    return { index, recognizer: new Recognizer(store, index, { maxTopM: anchors.maxTopM }), ms: performance.now() - t0 };
  };
  /** Recall samples of one pass, and how many replies were the exact scan's. */
  const judge = (replies: string[][]) => {
    const samples = replies.map((ids, i) => sample(i, ids));
    const same = replies.filter((ids, i) => ids.length === exactReplies[i].length && ids.every((id, j) => id === exactReplies[i][j])).length;
    return { samples, same };
  };
  let turn = 0;
  for (const threads of options.onnxThreads ?? [1, 2]) {
    // maxBatch above every measured batch: each group below, submitted together, is exactly one product.
    const opened = { float32: await open('float32', { maxBatch: 1024, threads }), int8: await open('int8', { maxBatch: 1024, threads }) };
    try {
      for (const p of PRECISIONS) acc[p].buildMs = Math.max(acc[p].buildMs, opened[p].ms);
      for (const batch of options.onnxBatches ?? [1, 8, 32, 64]) {
        for (const p of turn++ % 2 === 0 ? PRECISIONS : [...PRECISIONS].reverse()) {
          say(`${KIND[p]} over ${spots.length} spots: ${threads} thread(s), batches of ${batch}`);
          const { qps, replies } = await inBatches(opened[p].recognizer, queries, batch);
          acc[p].throughput.push({ threads, batch, qps: round(qps), over_hnsw: round(qps / anchors.hnsw), over_exact: round(qps / anchors.exact) });
          const j = judge(replies);
          acc[p].samples.push(...j.samples);
          acc[p].same += j.same;
        }
      }
    } finally {
      await Promise.all(PRECISIONS.map((p) => opened[p].index.close()));
    }
  }
  for (const thread of ['main', 'worker'] as const) {
    for (const p of turn++ % 2 === 0 ? PRECISIONS : [...PRECISIONS].reverse()) {
      const { index, recognizer } = await open(p, { thread });
      try {
        say(`${KIND[p]} over ${spots.length} spots: a backlog of ${2 * queries.length} queries, scan on the ${thread} thread`);
        await recognizer.handleQueryAsync(queries[0]);
        const start = performance.now();
        await Promise.all([...queries, ...queries].map((q) => recognizer.handleQueryAsync(q)));
        acc[p].sustained[`${thread}_qps`] = round((2000 * queries.length) / (performance.now() - start));
      } finally {
        await index.close();
      }
    }
  }
  for (const batchWaitMs of options.batchWaits ?? [0, 2]) {
    for (const p of PRECISIONS) {
      const { index, recognizer } = await open(p, { batchWaitMs });
      try {
        say(`${KIND[p]} over ${spots.length} spots: ${options.offeredQps ?? 500} q/s offered, batches wait ${batchWaitMs} ms`);
        acc[p].latency[`wait_${batchWaitMs}ms`] = await openLoop(recognizer, index, queries, options.offeredQps ?? 500);
      } finally {
        await index.close();
      }
    }
  }
  // The shortlist margin: int8 at each margin against exact-onnx, both at the shipped batch and threads.
  const shipped = defaultScanOptions();
  const margins: Int8OnnxResult['margins'] = [];
  const float = await open('float32', { maxBatch: 1024 });
  try {
    for (const margin of options.int8Margins ?? [0, 16, 32, 64, 128, 256]) {
      const int8 = await open('int8', { maxBatch: 1024, shortlistMargin: margin });
      try {
        say(`int8-onnx over ${spots.length} spots: shortlist margin ${margin}, batches of ${shipped.maxBatch}`);
        const reference = await inBatches(float.recognizer, queries, shipped.maxBatch);
        const got = await inBatches(int8.recognizer, queries, shipped.maxBatch);
        const j = judge(got.replies);
        margins.push({
          margin,
          qps: round(got.qps),
          over_exact_onnx: round(got.qps / reference.qps),
          component_recall: round(componentRecall(j.samples).component_recall),
          same_reply_as_exact: round(j.same / queries.length),
        });
      } finally {
        await int8.index.close();
      }
    }
  } finally {
    await float.index.close();
  }
  const result = (p: Precision): OnnxScanResult => ({
    build_ms: round(acc[p].buildMs),
    throughput: acc[p].throughput,
    component_recall: round(componentRecall(acc[p].samples).component_recall),
    same_reply_as_exact: round(acc[p].same / acc[p].samples.length),
    sustained: acc[p].sustained,
    latency: acc[p].latency,
  });
  return { float32: result('float32'), int8: { ...result('int8'), shortlist_margin: shipped.shortlistMargin, margins } };
}

/** The pool in groups of exactly `batch` queries submitted together, through `Recognizer.handleQueryAsync`. */
async function inBatches(recognizer: Recognizer, queries: QueryMessage[], batch: number): Promise<{ qps: number; replies: string[][] }> {
  await recognizer.handleQueryAsync(queries[0]);
  const start = performance.now();
  const replies: string[][] = [];
  for (let at = 0; at < queries.length; at += batch) {
    const answers = await Promise.all(queries.slice(at, at + batch).map((q) => recognizer.handleQueryAsync(q)));
    for (const a of answers) {
      if (a.type !== 'reply') throw new Error(`recognizer scale bench: an ONNX scan answered ${a.type}: ${a.message}`);
      replies.push(a.candidates.map((c) => c.id));
    }
  }
  return { qps: (1000 * queries.length) / (performance.now() - start), replies };
}

/**
 * Poisson arrivals at `rate` for about 10 s (3 s read single stalls of the shared machine as the p99: decision 33);
 * each query timed from when it was due.
 */
async function openLoop(
  recognizer: Recognizer,
  index: OnnxScanIndex,
  queries: QueryMessage[],
  rate: number,
): Promise<OpenLoopResult> {
  const random = seededRandom(77);
  const n = Math.max(queries.length, Math.round(rate * 10));
  const due: number[] = [];
  for (let i = 0, t = 0; i < n; i++) due.push((t += -Math.log(1 - random.next()) * (1000 / rate)));
  await recognizer.handleQueryAsync(queries[0]);
  const latencies: number[] = [];
  const before = { ...index.counters };
  const start = performance.now();
  await new Promise<void>((done, fail) => {
    let next = 0;
    const tick = (): void => {
      const now = performance.now() - start;
      for (; next < n && due[next] <= now; next++) {
        const at = due[next];
        recognizer.handleQueryAsync(queries[next % queries.length]).then(() => {
          latencies.push(performance.now() - start - at);
          if (latencies.length === n) done();
        }, fail);
      }
      if (next < n) setTimeout(tick, Math.max(0, due[next] - (performance.now() - start)));
    };
    tick();
  });
  const seconds = (performance.now() - start) / 1000;
  const s = summarize(latencies);
  return {
    offered_qps: rate,
    answered_qps: round(n / seconds),
    mean_batch: round((index.counters.queries - before.queries) / (index.counters.batches - before.batches)),
    p50_ms: round(s.p50),
    p99_ms: round(s.p99),
  };
}
