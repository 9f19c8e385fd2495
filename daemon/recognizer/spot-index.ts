import hnswlib from 'hnswlib-node';
import { normalize } from '../util/vector.js';

/** Nearest spots to a vector by cosine similarity, best first. */
export interface SpotIndex {
  search(vector: Float32Array, m: number): SpotHit[];
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
  private readonly ids: string[];
  private readonly matrix: Float32Array;

  constructor(entries: readonly IndexEntry[]) {
    this.size = entries.length;
    this.dimension = checkEntries(entries);
    this.ids = entries.map((e) => e.id);
    this.matrix = new Float32Array(this.size * this.dimension);
    entries.forEach((e, i) => this.matrix.set(normalize(e.feature), i * this.dimension));
  }

  search(vector: Float32Array, m: number): SpotHit[] {
    checkQuery(vector, this.dimension);
    const k = Math.min(Math.floor(m), this.size);
    if (!(k > 0)) return [];
    const q = normalize(vector);
    const d = this.dimension;
    const matrix = this.matrix;
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
  /** Search breadth; raised to m for a query asking for more. Higher is slower and more exact. */
  efSearch?: number;
  /** Graph degree. */
  m?: number;
  efConstruction?: number;
  /** Fixed so the same gallery always builds the same graph. */
  seed?: number;
}

/** Approximate nearest neighbours (hnswlib's HNSW graph) for galleries too large to scan per query. */
export class HnswIndex implements SpotIndex {
  readonly size: number;
  readonly dimension: number;
  private readonly ids: string[];
  private readonly index: hnswlib.HierarchicalNSW;
  private readonly space: 'ip' | 'cosine';
  private readonly efSearch: number;

  constructor(entries: readonly IndexEntry[], options: HnswOptions = {}) {
    this.size = entries.length;
    this.dimension = checkEntries(entries);
    this.ids = entries.map((e) => e.id);
    this.space = options.space ?? 'ip';
    this.efSearch = options.efSearch ?? 64;
    this.index = new hnswlib.HierarchicalNSW(this.space, Math.max(1, this.dimension));
    this.index.initIndex({
      maxElements: Math.max(1, this.size),
      m: options.m ?? 16,
      efConstruction: options.efConstruction ?? 200,
      randomSeed: options.seed ?? 100,
    });
    // hnswlib-node takes plain arrays only.
    entries.forEach((e, i) => this.index.addPoint(Array.from(this.prepare(e.feature)), i));
  }

  search(vector: Float32Array, m: number): SpotHit[] {
    checkQuery(vector, this.dimension);
    const k = Math.min(Math.floor(m), this.size);
    if (!(k > 0)) return [];
    this.index.setEf(Math.max(this.efSearch, k));
    const { neighbors, distances } = this.index.searchKnn(Array.from(this.prepare(vector)), k);
    // Both spaces report 1 - cosine for our inputs.
    const hits = neighbors.map((index, i) => ({ index, score: 1 - distances[i] }));
    hits.sort((a, b) => b.score - a.score || a.index - b.index);
    return hits.map(({ index, score }) => ({ id: this.ids[index], score }));
  }

  private prepare(v: Float32Array): Float32Array {
    return this.space === 'ip' ? normalize(v) : v;
  }
}

export type SpotIndexKind = 'exact' | 'hnsw';

export function createSpotIndex(entries: readonly IndexEntry[], options: { kind: SpotIndexKind } & HnswOptions): SpotIndex {
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
