/**
 * The server's own simulation of the public algorithm (DESIGN §4: the server knows the code). It runs the device's
 * decoy synthesiser (decoys.ts: popularity draw of spots, `sampleView` views) over the gallery the server holds,
 * mixes k unit views with equal weights, sends them through the int8 wire form and answers with its own top-M —
 * exactly what a dummy looks like on the wire. Attacks calibrate their statistics on these queries, never on the
 * evaluation's ground truth.
 */
import { DecoySynthesizer, type ViewDrift } from '../../privacy/decoys.js';
import type { Random } from '../../util/random.js';
import { dequantize, quantize } from '../../domain/quantize.js';
import type { RegionSpot } from '../../transport/messages.js';
import { normalize } from '../../util/vector.js';
import type { ServerRecord } from '../wiretap.js';
import { dot64 } from './linalg.js';

export interface SimulatedQuery {
  /** As the server would record it (time 0, no session). */
  record: ServerRecord;
  /** The spots mixed in, and their unit views, in draw order. */
  spots: string[];
  views: Float32Array[];
}

export interface SimulatorOptions {
  k: number;
  sigma: number;
  topM: number;
  random: Random;
  /** Decoy views drift with this correlation time, seconds, on the simulator's own clock (`at`); 0 or absent: none. */
  driftSeconds?: number;
  /** The device's decoy drift (privacy.transform.decoyDrift), which overrides `driftSeconds`. */
  viewDrift?: Omit<ViewDrift, 'clock'>;
}

export class KMixSimulator {
  private readonly synthesizer: DecoySynthesizer;
  private readonly units: { id: string; unit: Float32Array }[];
  private now = 0;

  constructor(
    gallery: RegionSpot[],
    private readonly options: SimulatorOptions,
  ) {
    // The device's two-scale drift when the server knows it (public configuration); else one correlation time.
    const scales = options.viewDrift ?? (options.driftSeconds ? { fastSeconds: options.driftSeconds, slowSeconds: options.driftSeconds, slowShare: 0 } : undefined);
    const drift = scales ? { ...scales, clock: () => this.now } : undefined;
    this.synthesizer = new DecoySynthesizer({ spots: gallery, variation: { sigma: options.sigma }, random: options.random, drift });
    this.units = gallery.map((s) => ({ id: s.id, unit: normalize(s.feature) }));
  }

  get random(): Random {
    return this.options.random;
  }

  /** Sets the simulated time, ms: with drift, a spot's next view is correlated exp(−gap / driftSeconds) with its last. */
  at(ms: number): this {
    this.now = ms;
    return this;
  }

  /** `n` distinct spots by popularity, none in `exclude` (the device's decoy draw). */
  spots(n: number, exclude: ReadonlySet<string> = new Set()): string[] {
    return this.synthesizer.pickDecoySpots(n, exclude);
  }

  /** A view of `spot` from its view model: fresh, or drifting from the spot's last one. */
  view(spot: string): Float32Array {
    return this.synthesizer.decoyFor(spot);
  }

  /** The query the device sends for these unit views, and the reply the server gives it (none: `reply` false). */
  mix(spots: string[], views: Float32Array[], reply = true): SimulatedQuery {
    const sum = new Float64Array(views[0].length);
    for (const v of views) for (let i = 0; i < sum.length; i++) sum[i] += v[i];
    const vector = Array.from(dequantize(quantize(normalize(Float32Array.from(sum)))));
    const ranked = reply ? this.units.map((s) => ({ id: s.id, score: dot64(vector, s.unit) })).sort((a, b) => b.score - a.score) : [];
    const candidates = ranked.slice(0, this.options.topM).map((c) => c.id);
    return { record: { t: 0, reply_topic: '', vector, topM: this.options.topM, candidates }, spots, views };
  }

  /** A dummy: k fresh decoys. */
  dummy(): SimulatedQuery {
    const spots = this.spots(this.options.k);
    return this.mix(spots, spots.map((s) => this.view(s)));
  }
}
