import { normalize } from '../util/vector.js';

/** The pack's spot nearest a feature by cosine: its row in the scan, its id and the cosine itself. */
export interface ScanHit {
  readonly index: number;
  readonly id: string;
  readonly cosine: number;
}

/**
 * One pass over a region pack's references per frame. The region gate, k-mix's naming of the real spot and the
 * resolver's pack-nearest spot all ask which spot a frame is nearest; each used to scan the whole pack on its own, three
 * times per real query. They share one scan per pack, and it keeps its answer for the last feature array: the daemon
 * hands all three the extractor's array for one frame, and a feature is never changed in place once extracted, so its
 * identity stands for its value.
 *
 * Under privacy/ because the decoy synthesizer uses it and privacy/ imports nothing from edge/.
 */
export class RegionPackScan {
  readonly dimension: number;
  /** Spot ids in row order: the pack's order, less spots of another dimension than the first one's. */
  readonly ids: readonly string[];
  /** The references' unit features, one row after the other (a flat matrix: the scan is one tight loop). */
  private readonly rows: Float32Array;
  private lastFeature: Float32Array | undefined;
  private lastHit: ScanHit | null = null;
  /** Passes over the pack so far, so a test can tell a remembered answer from a new scan. */
  scans = 0;

  constructor(spots: readonly { id: string; feature: Float32Array }[]) {
    this.dimension = spots[0]?.feature.length ?? 0;
    const usable = spots.filter((s) => s.feature.length === this.dimension);
    this.ids = usable.map((s) => s.id);
    this.rows = new Float32Array(usable.length * this.dimension);
    usable.forEach((s, i) => this.rows.set(normalize(s.feature), i * this.dimension));
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * The spot nearest `feature` (of any scale: it is normalised here), the first of equals in pack order; null for an
   * empty pack, another dimension or a feature with no finite cosine. Asking again for the same array costs nothing.
   */
  nearest(feature: Float32Array): ScanHit | null {
    if (feature !== this.lastFeature) {
      this.lastHit = this.nearestUnit(normalize(feature));
      this.lastFeature = feature;
    }
    return this.lastHit;
  }

  /** As nearest(), for a feature already of unit length, taken as it is (the background views the gate is set from). */
  nearestUnit(unit: Float32Array): ScanHit | null {
    const d = this.dimension;
    if (unit.length !== d) return null;
    this.scans++;
    const rows = this.rows;
    let best = -Infinity;
    let bestRow = -1;
    // Four partial sums: V8 keeps them in registers, about three times the speed of one running sum.
    const tail = d - (d % 4);
    for (let offset = 0, row = 0; offset < rows.length; offset += d, row++) {
      let c0 = 0;
      let c1 = 0;
      let c2 = 0;
      let c3 = 0;
      for (let i = 0; i < tail; i += 4) {
        c0 += unit[i] * rows[offset + i];
        c1 += unit[i + 1] * rows[offset + i + 1];
        c2 += unit[i + 2] * rows[offset + i + 2];
        c3 += unit[i + 3] * rows[offset + i + 3];
      }
      for (let i = tail; i < d; i++) c0 += unit[i] * rows[offset + i];
      const c = c0 + c1 + c2 + c3;
      if (c > best) {
        best = c;
        bestRow = row;
      }
    }
    // Frozen: the one answer is handed to several callers.
    return bestRow < 0 ? null : Object.freeze({ index: bestRow, id: this.ids[bestRow], cosine: best });
  }
}
