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
          if (kind === 'hnsw' && pass === 0) {
            samples.push({ components: q.components, exact: w.exact.get(q)!, reply: reply.candidates.map((c) => c.id) });
            bytes += encode(reply).length;
            if (q.real) real++;
          }
        }
      });
    }
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
