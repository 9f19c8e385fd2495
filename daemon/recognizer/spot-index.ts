import { existsSync, renameSync, rmSync } from 'node:fs';
import hnswlib from 'hnswlib-node';
import { schemaDefaults } from '../config/load.js';
import { normalize } from '../util/vector.js';

/** Nearest spots to a vector by cosine similarity, best first. */
export interface SpotIndex {
  search(vector: Float32Array, m: number): SpotHit[];
  /**
   * The same answer, later: an index that scores the queries arriving together in one batch (OnnxScanIndex) offers
   * this, and the recognizer then answers queries through it.
   */
  searchAsync?(vector: Float32Array, m: number): Promise<SpotHit[]>;
  /** Releases what the index holds outside the JS heap. */
  close?(): Promise<void>;
  readonly size: number;
}

export interface SpotHit {
  id: string;
  /** Cosine similarity in [-1, 1]. */
  score: number;
}

export interface IndexEntry {
  id: string;
  feature: Float32Array;
}

/**
 * Brute-force cosine over one contiguous row-major matrix of unit rows: one pass, cache-friendly, exact. Fast enough
 * for tens of thousands of spots and the reference the approximate index is measured against.
 */
export class ExactIndex implements SpotIndex {
  readonly size: number;
  readonly dimension: number;
  readonly ids: readonly string[];
  /** The unit rows, row-major [size, dimension]. */
  readonly rows: Float32Array;

  constructor(entries: readonly IndexEntry[]) {
    this.size = entries.length;
    this.dimension = checkEntries(entries);
    this.ids = entries.map((e) => e.id);
    this.rows = new Float32Array(this.size * this.dimension);
    entries.forEach((e, i) => this.rows.set(normalize(e.feature), i * this.dimension));
  }

  search(vector: Float32Array, m: number): SpotHit[] {
    checkQuery(vector, this.dimension);
    const k = Math.min(Math.floor(m), this.size);
    if (!(k > 0)) return [];
    const q = normalize(vector);
    const d = this.dimension;
    const matrix = this.rows;
    const top = new TopK(k);
    for (let row = 0, offset = 0; row < this.size; row++, offset += d) {
      let s = 0;
      for (let j = 0; j < d; j++) s += matrix[offset + j] * q[j];
      top.offer(s, row);
    }
    return top.sorted().map(({ score, index }) => ({ id: this.ids[index], score }));
  }
}

export interface HnswOptions {
  /**
   * 'ip' stores unit rows and searches with a unit query (inner product = cosine, no per-distance norms);
   * 'cosine' lets hnswlib normalise. Both report cosine similarity.
   */
  space?: 'ip' | 'cosine';
  /** Least search breadth (recognizer.schema.json index.efSearch). Higher is slower and more exact. */
  efSearch?: number;
  /**
   * Search breadth per candidate asked (index.efPerCandidate): a query for m candidates searches
   * max(efSearch, efPerCandidate × m) wide. A k-mix query sits between its k spots, and a reply of m candidates must
   * hold all of them, so the breadth grows with m (docs/benchmarks.md, "Component recall").
   */
  efPerCandidate?: number;
  /** Graph degree (index.m). */
  m?: number;
  /** Build breadth (index.efConstruction). */
  efConstruction?: number;
  /** Fixed so the same gallery always builds the same graph. */
  seed?: number;
  /**
   * A file holding this exact graph: read when it exists, written after a build when it does not (best effort). The
   * caller names it after everything the graph depends on (gallery version, space, m, efConstruction, seed).
   */
  cacheFile?: string;
}

/** The index settings the recognizer starts from when none are given: the schema's (one default everywhere). */
export function defaultIndexOptions(): Required<Pick<HnswOptions, 'efSearch' | 'efPerCandidate' | 'm' | 'efConstruction'>> {
  const d = schemaDefaults('recognizer', 'index');
  return {
    efSearch: d.efSearch as number,
    efPerCandidate: d.efPerCandidate as number,
    m: d.m as number,
    efConstruction: d.efConstruction as number,
  };
}

/** The search breadth for a query of m candidates. */
export function searchBreadth(m: number, efSearch: number, efPerCandidate: number): number {
  return Math.max(efSearch, Math.ceil(efPerCandidate * m), m);
}

/** Approximate nearest neighbours (hnswlib's HNSW graph) for galleries too large to scan per query. */
export class HnswIndex implements SpotIndex {
  readonly size: number;
  readonly dimension: number;
  /** Whether the graph was read from `cacheFile` rather than built. */
  readonly loaded: boolean;
  private readonly ids: string[];
  private index: hnswlib.HierarchicalNSW;
  private readonly space: 'ip' | 'cosine';
  private readonly efSearch: number;
  private readonly efPerCandidate: number;
  private currentEf = -1;

  constructor(entries: readonly IndexEntry[], options: HnswOptions = {}) {
    const defaults = defaultIndexOptions();
    this.size = entries.length;
    this.dimension = checkEntries(entries);
    this.ids = entries.map((e) => e.id);
    this.space = options.space ?? 'ip';
    this.efSearch = options.efSearch ?? defaults.efSearch;
    this.efPerCandidate = options.efPerCandidate ?? defaults.efPerCandidate;
    this.index = new hnswlib.HierarchicalNSW(this.space, Math.max(1, this.dimension));
    this.loaded = options.cacheFile !== undefined && this.read(options.cacheFile);
    if (this.loaded) return;
    this.index.initIndex({
      maxElements: Math.max(1, this.size),
      m: options.m ?? defaults.m,
      efConstruction: options.efConstruction ?? defaults.efConstruction,
      randomSeed: options.seed ?? 100,
    });
    // hnswlib-node takes plain arrays only.
    entries.forEach((e, i) => this.index.addPoint(Array.from(this.prepare(e.feature)), i));
    if (options.cacheFile !== undefined) this.write(options.cacheFile);
  }

  search(vector: Float32Array, m: number): SpotHit[] {
    checkQuery(vector, this.dimension);
    const k = Math.min(Math.floor(m), this.size);
    if (!(k > 0)) return [];
    const ef = searchBreadth(k, this.efSearch, this.efPerCandidate);
    if (ef !== this.currentEf) {
      this.index.setEf(ef);
      this.currentEf = ef;
    }
    const { neighbors, distances } = this.index.searchKnn(Array.from(this.prepare(vector)), k);
    // Both spaces report 1 - cosine for our inputs.
    const hits = neighbors.map((index, i) => ({ index, score: 1 - distances[i] }));
    hits.sort((a, b) => b.score - a.score || a.index - b.index);
    return hits.map(({ index, score }) => ({ id: this.ids[index], score }));
  }

  private prepare(v: Float32Array): Float32Array {
    return this.space === 'ip' ? normalize(v) : v;
  }

  /** Reads a saved graph of exactly this many points; false (and nothing read) otherwise. */
  private read(file: string): boolean {
    if (!existsSync(file)) return false;
    try {
      this.index.readIndexSync(file);
      if (this.index.getCurrentCount() === this.size) return true;
    } catch {
      // A truncated or foreign file: build afresh.
    }
    this.index = new hnswlib.HierarchicalNSW(this.space, Math.max(1, this.dimension));
    return false;
  }

  /** Saves the graph under a temporary name and renames it, so a concurrent reader never sees half a file. */
  private write(file: string): void {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      this.index.writeIndexSync(tmp);
      renameSync(tmp, file);
    } catch {
      // Read-only gallery folder: the next start builds again.
      rmSync(tmp, { force: true });
    }
  }
}

/**
 * Where a gallery's HNSW graph is kept: beside the gallery, named after everything the graph depends on, so a changed
 * gallery or setting never reads a stale graph.
 */
export function hnswCacheFile(galleryPath: string, galleryVersion: string, options: HnswOptions): string {
  const d = defaultIndexOptions();
  return `${galleryPath}.hnsw-${galleryVersion}-${options.space ?? 'ip'}-m${options.m ?? d.m}-c${options.efConstruction ?? d.efConstruction}-s${options.seed ?? 100}.bin`;
}

export type SpotIndexKind = 'exact' | 'hnsw' | 'exact-onnx' | 'int8-onnx';

/** The synchronous kinds. */
export function createSpotIndex(entries: readonly IndexEntry[], options: { kind: 'exact' | 'hnsw' } & HnswOptions): SpotIndex {
  return options.kind === 'hnsw' ? new HnswIndex(entries, options) : new ExactIndex(entries);
}

function checkEntries(entries: readonly IndexEntry[]): number {
  const dimension = entries[0]?.feature.length ?? 0;
  const ids = new Set<string>();
  for (const e of entries) {
    if (e.feature.length !== dimension) throw new RangeError(`spot ${e.id} has ${e.feature.length} dimensions, expected ${dimension}`);
    if (ids.has(e.id)) throw new RangeError(`spot ${e.id} appears twice in the index`);
    ids.add(e.id);
  }
  return dimension;
}

function checkQuery(vector: Float32Array, dimension: number): void {
  if (dimension > 0 && vector.length !== dimension) {
    throw new RangeError(`query has ${vector.length} dimensions, the index ${dimension}`);
  }
}

/**
 * Keeps the k best (score, index) pairs seen in a binary min-heap: O(n log k) for n offers instead of sorting all n.
 * Ties go to the lower index, so results are deterministic.
 */
class TopK {
  private readonly scores: Float64Array;
  private readonly indices: Int32Array;
  private count = 0;

  constructor(private readonly k: number) {
    this.scores = new Float64Array(k);
    this.indices = new Int32Array(k);
  }

  offer(score: number, index: number): void {
    if (this.count < this.k) {
      this.scores[this.count] = score;
      this.indices[this.count] = index;
      this.siftUp(this.count++);
    } else if (this.better(score, index, 0)) {
      this.scores[0] = score;
      this.indices[0] = index;
      this.siftDown(0);
    }
  }

  sorted(): { score: number; index: number }[] {
    const out = [];
    for (let i = 0; i < this.count; i++) out.push({ score: this.scores[i], index: this.indices[i] });
    return out.sort((a, b) => b.score - a.score || a.index - b.index);
  }

  /** Is (score, index) better than the entry at heap slot `slot`? */
  private better(score: number, index: number, slot: number): boolean {
    return score > this.scores[slot] || (score === this.scores[slot] && index < this.indices[slot]);
  }

  private swap(a: number, b: number): void {
    const s = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = s;
    const i = this.indices[a];
    this.indices[a] = this.indices[b];
    this.indices[b] = i;
  }

  private siftUp(slot: number): void {
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      // The root holds the worst: move up while worse than the parent.
      if (!this.better(this.scores[parent], this.indices[parent], slot)) break;
      this.swap(slot, parent);
      slot = parent;
    }
  }

  private siftDown(slot: number): void {
    for (;;) {
      const left = 2 * slot + 1;
      const right = left + 1;
      let worst = slot;
      if (left < this.count && !this.better(this.scores[left], this.indices[left], worst)) worst = left;
      if (right < this.count && !this.better(this.scores[right], this.indices[right], worst)) worst = right;
      if (worst === slot) return;
      this.swap(slot, worst);
      slot = worst;
    }
  }
}
