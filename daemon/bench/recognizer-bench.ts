import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { seededRandom, type Random } from '../util/random.js';
import { Recognizer } from '../recognizer/recognizer.js';
import { ExactIndex, HnswIndex, defaultIndexOptions } from '../recognizer/spot-index.js';
import { SpotStore, type StoredSpot } from '../recognizer/spot-store.js';
import type { QueryMessage, ReplyMessage } from '../transport/messages.js';
import { normalize } from '../util/vector.js';
import { round, summarize, usFields } from '../util/stats.js';

export interface RecognizerBenchOptions {
  /** Spots in the synthetic gallery. */
  gallery: number;
  dimension: number;
  /** Timed queries per index (after `warmup` untimed ones). */
  queries: number;
  warmup?: number;
  /** Candidates per query; the edge asks k × 4 (16 for k = 4). */
  topM?: number;
  /** Gallery features mixed into one query, as the k-mix transform does; 1 = a plain photo feature. */
  mix?: number;
  /** Distance of a photo feature from its spot's reference (the model's viewVariation.sigma). */
  viewSigma?: number;
  /** Default the recognizer's (recognizer.schema.json index.efSearch), like efPerCandidate, m and efConstruction. */
  efSearch?: number;
  efPerCandidate?: number;
  seed?: number;
}

export interface IndexResult {
  /** Queries per second through Recognizer.handleQuery on one thread. */
  qps: number;
  mean_us: number;
  p50_us: number;
  p99_us: number;
  /** Time to build the index from the gallery's features. */
  build_ms: number;
}

export interface RecognizerBenchResult {
  gallery: number;
  dimension: number;
  queries: number;
  top_m: number;
  mix: number;
  ef_search: number;
  ef_per_candidate: number;
  exact: IndexResult;
  hnsw: IndexResult;
  /** Mean share of the exact top 10 that the HNSW reply also has in its top 10. */
  hnsw_recall_at_10: number;
  /** hnsw qps / exact qps. */
  hnsw_speedup: number;
}

const MODEL = 'bench-synthetic';
const RECALL_AT = 10;

/**
 * Recognizer.handleQuery over a synthetic gallery, brute force against HNSW. The gallery is clustered like real
 * places (shop fronts of one street look alike) and stored in a real SQLite gallery file; each query is the
 * normalised sum of `mix` noisy photo features of popular-or-not random spots, which is what a k-mix query looks like
 * to the server. Exact and HNSW answer the same queries, alternating which goes first.
 */
export async function runRecognizerBench(options: RecognizerBenchOptions): Promise<RecognizerBenchResult> {
  const { gallery, dimension, queries } = options;
  const warmup = options.warmup ?? Math.min(200, queries);
  const topM = options.topM ?? 16;
  const mix = options.mix ?? 4;
  const defaults = defaultIndexOptions();
  const efSearch = options.efSearch ?? defaults.efSearch;
  const efPerCandidate = options.efPerCandidate ?? defaults.efPerCandidate;
  const random = seededRandom(options.seed ?? 1);
  const spots = syntheticSpots(random, gallery, dimension);

  const dir = await mkdtemp(join(tmpdir(), 'enfpire-bench-'));
  const store = SpotStore.create(join(dir, 'gallery.db'), { model: MODEL, dimension });
  try {
    store.putAll(spots);
    const stored = store.all();
    let t0 = performance.now();
    const exactIndex = new ExactIndex(stored);
    const exactBuild = performance.now() - t0;
    t0 = performance.now();
    const hnswIndex = new HnswIndex(stored, { ...defaults, efSearch, efPerCandidate });
    const hnswBuild = performance.now() - t0;
    const recognizers = { exact: new Recognizer(store, exactIndex), hnsw: new Recognizer(store, hnswIndex) };

    const sigma = options.viewSigma ?? 0.35;
    const makeQuery = (): QueryMessage => {
      const sum = new Float32Array(dimension);
      for (let c = 0; c < mix; c++) {
        const photo = noisy(random, spots[random.int(gallery)].feature, sigma);
        for (let j = 0; j < dimension; j++) sum[j] += photo[j];
      }
      return { type: 'query', model: MODEL, vector: normalize(sum), topM };
    };

    const times = { exact: [] as number[], hnsw: [] as number[] };
    let recallSum = 0;
    for (let i = 0; i < warmup + queries; i++) {
      const query = makeQuery();
      const order = i % 2 === 0 ? (['exact', 'hnsw'] as const) : (['hnsw', 'exact'] as const);
      const replies: Partial<Record<'exact' | 'hnsw', ReplyMessage>> = {};
      for (const kind of order) {
        const start = performance.now();
        const reply = recognizers[kind].handleQuery(query);
        const ms = performance.now() - start;
        if (reply.type !== 'reply') throw new Error(`recognizer bench: ${kind} answered ${reply.type}: ${reply.message}`);
        replies[kind] = reply;
        if (i >= warmup) times[kind].push(ms);
      }
      if (i >= warmup) recallSum += overlap(replies.exact!, replies.hnsw!, RECALL_AT);
    }

    const exact = summarize(times.exact);
    const hnsw = summarize(times.hnsw);
    const indexResult = (s: typeof exact, buildMs: number): IndexResult => ({
      qps: round(1000 / s.mean),
      ...usFields(s),
      build_ms: round(buildMs),
    });
    return {
      gallery,
      dimension,
      queries,
      top_m: topM,
      mix,
      ef_search: efSearch,
      ef_per_candidate: efPerCandidate,
      exact: indexResult(exact, exactBuild),
      hnsw: indexResult(hnsw, hnswBuild),
      hnsw_recall_at_10: round(recallSum / queries),
      hnsw_speedup: round(exact.mean / hnsw.mean),
    };
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Share of `truth`'s top n ids that `approx`'s top n holds. */
function overlap(truth: ReplyMessage, approx: ReplyMessage, n: number): number {
  const want = truth.candidates.slice(0, n).map((c) => c.id);
  if (want.length === 0) return 1;
  const got = new Set(approx.candidates.slice(0, n).map((c) => c.id));
  return want.filter((id) => got.has(id)).length / want.length;
}

/** Unit features in clusters of about 50 spots; cos between two spots of a cluster ≈ 1/(1 + 0.7²) ≈ 0.67. */
function syntheticSpots(random: Random, count: number, dimension: number): StoredSpot[] {
  const clusters = Math.max(1, Math.round(count / 50));
  const centres = Array.from({ length: clusters }, () => normalize(gaussian(random, dimension, 1)));
  const width = Math.ceil(Math.sqrt(count));
  return Array.from({ length: count }, (_, i) => ({
    id: `s${i}`,
    feature: noisy(random, centres[random.int(clusters)], 0.7),
    info: { name: `Spot ${i}` },
    region: 'bench',
    x: (i % width) * 50,
    y: Math.floor(i / width) * 50,
    popularity: 1,
  }));
}

/** normalize(v + noise of total norm ≈ sigma). */
function noisy(random: Random, v: Float32Array, sigma: number): Float32Array {
  const noise = gaussian(random, v.length, sigma / Math.sqrt(v.length));
  for (let j = 0; j < v.length; j++) noise[j] += v[j];
  return normalize(noise);
}

function gaussian(random: Random, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = scale * random.normal();
  return out;
}
