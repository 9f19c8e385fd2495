import { UserError } from '../util/errors.js';
import { solveLinear } from '../util/solve.js';
import { dot, normalize } from '../util/vector.js';
import type { DecoyProposal, DecoySynthesizer } from './decoys.js';
import type { Random } from '../util/random.js';
import type { DecoySpotPicker, Transform, TransformedQuery } from './types.js';

export const MAX_K = 16;

/**
 * What stands for the real spot in a real query: `stand-in`, a fresh view of the spot the device named, drawn from
 * that spot's drifting view state exactly as a decoy of it would be (the frame itself never leaves the device); or
 * `frame`, the normalised frame feature (the first design, kept for comparison: its residual told real queries from
 * dummies, frames of no spot from frames of a spot, and the real spot from the decoys — docs/privacy.md).
 */
export const REAL_COMPONENTS = ['stand-in', 'frame'] as const;
export type RealComponent = (typeof REAL_COMPONENTS)[number];

/**
 * How many candidates a query asks for: `fixed`, maxCandidates for every query; `grow`, the base k × c or the next
 * multiple of it that holds every component's spot (replySizeFor). Growth follows the same rule for every component,
 * but the spots users stand at are not the spots decoys show, and in a dense gallery they needed larger replies: the
 * size alone told real queries from dummies at AUC 0.57 at 1,077 spots (decision 36).
 */
export const REPLY_SIZES = ['fixed', 'grow'] as const;
export type ReplySize = (typeof REPLY_SIZES)[number];

/**
 * How the k components are weighted in the sum: `equal` (default), `even-scores` or `random`.
 * - `equal`: a spot whose reference sits near the middle of the region's views comes out on top of the mix more
 *   often than the others, so the server's plain top-1 named the real spot in 0.35 of real queries where wearers
 *   dwelt at such a spot.
 * - `even-scores`: weights that give every component's spot the same cosine with the mix. Top-1 comes back to 1/k,
 *   but the weights depend on the spots and show in the residual: real queries and dummies became easier to tell
 *   apart (decision 38).
 * - `random`: every component's weight drawn afresh from one Gamma distribution (RANDOM_WEIGHT_SHAPE), whatever its
 *   spot and whether it is real, so the normalised weights are Dirichlet. Which component tops the mix is then mostly
 *   which drew the heaviest weight, and the weights a server can fit say nothing about the spots (decision 41).
 */
export const MIX_WEIGHTS = ['equal', 'even-scores', 'random'] as const;
export type MixWeights = (typeof MIX_WEIGHTS)[number];

/**
 * Shape of the Gamma draw behind `random` weights (an integer: a sum of that many unit exponentials). Shape 2 gives
 * each weight a spread of 0.71 of its mean. In `test/privacy/kmix.test.ts` (a clustered synthetic region, k = 4) the
 * spread of the per-spot top-1 share around 1/k falls from 0.092 with equal weights to 0.040, about the binomial
 * noise of the test (shape 4: 0.057, shape 8: 0.056, shape 1: 0.043). A component weighs under a quarter of the mean
 * in 9 % of draws; the redraw rule in `mix` still brings every component's spot back in the reply.
 */
export const RANDOM_WEIGHT_SHAPE = 2;

/** One Gamma(shape, 1) draw for an integer shape: the sum of `shape` unit exponentials. */
export function gammaIntegerShape(shape: number, random: Random): number {
  let sum = 0;
  for (let i = 0; i < shape; i++) sum -= Math.log(1 - random.next());
  return sum;
}

/** Most a component's weight may exceed another's under `even-scores`; a draw that would need more is sent with equal weights. */
const MAX_WEIGHT_RATIO = 4;

export interface KMixOptions {
  /** Anonymity set size, 1..16. k = 1 sends the feature itself (no privacy). */
  k: number;
  /** Candidates asked for per component; topM = k × this (privacy.transform.candidatesPerComponent; no default here). */
  candidatesPerComponent: number;
  /**
   * Most candidates a query may ask for. When a component's spot would rank below k × candidatesPerComponent, the
   * query asks for the next multiple of that which holds every component's spot, up to this (privacy.transform.maxCandidates;
   * at most k × candidatesPerComponent: no growth).
   */
  maxCandidates: number;
  /** privacy.transform.replySize. */
  replySize: ReplySize;
  /** privacy.transform.mixWeights. */
  mixWeights: MixWeights;
  /** privacy.transform.realComponent. */
  realComponent: RealComponent;
  synthesizer: DecoySynthesizer;
  random: Random;
  /**
   * Which spots the decoys show, for real and dummy queries alike; default the synthesizer's popularity draw.
   * A real query excludes the device's guess of the real spot; a `PhantomCrowd` reads that as "the user stands
   * here" and lets the user take the place of its nearest walker (phantoms.ts).
   */
  spotPicker?: DecoySpotPicker;
}

/**
 * The default transform (DESIGN §4): the query is the normalised weighted sum of k components, one for the spot
 * the device sees and k−1 decoys. The device names its spot from the region pack (the references the server ranks
 * by); by default that spot's component is a stand-in drawn like any decoy, so the k components are exchangeable by
 * construction and nothing of the frame beyond the spot's name is sent (decision #22). The device asks for
 * maxCandidates candidates (replySize 'fixed') so every component's spot comes back, and the resolver
 * picks among them against the frame, locally.
 */
export class KMixTransform implements Transform {
  readonly name = 'kmix';
  readonly k: number;
  readonly topM: number;
  /** The most a query asks for (maxCandidates). */
  readonly maxTopM: number;
  readonly replySize: ReplySize;
  readonly mixWeights: MixWeights;
  readonly realComponent: RealComponent;
  private readonly synthesizer: DecoySynthesizer;
  private readonly random: Random;
  private readonly spotPicker: DecoySpotPicker;

  constructor(options: KMixOptions) {
    const { k, candidatesPerComponent, synthesizer } = options;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
      throw new UserError(`privacy k must be an integer from 1 to ${MAX_K} (got ${k}); set privacy.transform.k in the device profile`);
    }
    if (!Number.isInteger(candidatesPerComponent) || candidatesPerComponent < 1) {
      throw new UserError(
        `privacy candidatesPerComponent must be an integer >= 1 (got ${candidatesPerComponent}); fix it in the device profile`,
      );
    }
    // A dummy needs k distinct decoy spots; a real query k − 1 besides the real one.
    if (k > 1 && synthesizer.spotCount < k) {
      throw new UserError(
        `privacy k = ${k} needs at least ${k} spots in the region pack, which has ${synthesizer.spotCount}; lower privacy.transform.k or choose a larger region`,
      );
    }
    this.k = k;
    this.topM = k * candidatesPerComponent;
    this.maxTopM = Math.max(this.topM, options.maxCandidates);
    this.replySize = options.replySize;
    if (!REPLY_SIZES.includes(this.replySize)) {
      throw new UserError(`privacy replySize must be one of ${REPLY_SIZES.join(', ')} (got ${String(this.replySize)}); fix it in the device profile`);
    }
    this.mixWeights = options.mixWeights;
    if (!MIX_WEIGHTS.includes(this.mixWeights)) {
      throw new UserError(`privacy mixWeights must be one of ${MIX_WEIGHTS.join(', ')} (got ${String(this.mixWeights)}); fix it in the device profile`);
    }
    this.realComponent = options.realComponent;
    if (!REAL_COMPONENTS.includes(this.realComponent)) {
      throw new UserError(
        `privacy realComponent must be one of ${REAL_COMPONENTS.join(', ')} (got ${String(this.realComponent)}); fix it in the device profile`,
      );
    }
    this.synthesizer = synthesizer;
    this.random = options.random;
    this.spotPicker = options.spotPicker ?? synthesizer;
  }

  transform(feature: Float32Array): TransformedQuery {
    if (feature.length !== this.synthesizer.dimension) {
      throw new RangeError(`feature has dimension ${feature.length}, the region pack ${this.synthesizer.dimension}`);
    }
    const real = normalize(feature);
    // Sized like the dummies (which are mixes even at k = 1), so the size does not tell them apart.
    if (this.k === 1) return { vector: real, topM: this.replySize === 'fixed' ? this.maxTopM : this.topM, decoySpots: [] };
    // A decoy of the real spot would shrink the anonymity set and double that spot's weight in q. The raw frame, not
    // `real`: the region gate has scanned the pack for that very array (region-pack-scan.ts).
    const realSpot = this.synthesizer.nearestSpot(feature).id;
    const decoySpots = this.spotPicker.pickDecoySpots(this.k - 1, new Set([realSpot]));
    if (this.realComponent === 'stand-in') return { ...this.mix(null, decoySpots, realSpot), realSpot };
    // The wearer's track shows this spot in dummies too: its decoys there continue from this very frame.
    this.synthesizer.anchor(realSpot, real);
    return { ...this.mix(real, decoySpots, realSpot), realSpot };
  }

  /** The reply a query of this worst component rank asks for. */
  private candidatesFor(rank: number): number {
    return this.replySize === 'fixed' ? this.maxTopM : replySizeFor(rank, this.topM, this.maxTopM);
  }

  dummy(): TransformedQuery {
    return this.mix(null, this.spotPicker.pickDecoySpots(this.k, new Set()));
  }

  wearerLeft(): void {
    this.spotPicker.wearerLeft?.();
  }

  newIdentity(): void {
    this.spotPicker.newIdentity?.();
    this.synthesizer.forgetViews();
  }

  showsWearer(): boolean {
    return this.spotPicker.showsWearer?.() ?? false;
  }

  mayShow(feature: Float32Array): boolean {
    if (this.k === 1 || !this.spotPicker.mayShow || this.spotPicker.defersArrival === false) return true;
    return this.spotPicker.mayShow(this.synthesizer.nearestSpot(feature).id);
  }

  sent(query: TransformedQuery, at: number): void {
    const { realSpot, decoySpots } = query;
    this.spotPicker.shown?.(realSpot === undefined ? decoySpots : [...decoySpots, realSpot], realSpot, at);
  }

  /** The components' weights in the sum (see MixWeights); every component is treated alike, real or decoy. */
  private weightsFor(components: readonly Float32Array[], spots: readonly string[]): number[] {
    const equal = components.map(() => 1);
    if (this.mixWeights === 'equal') return equal;
    if (this.mixWeights === 'random') return components.map(() => gammaIntegerShape(RANDOM_WEIGHT_SHAPE, this.random));
    return evenScoreWeights(spots.map((id) => this.synthesizer.reference(id)), components) ?? equal;
  }

  /**
   * Weighted sum of unit components (see MixWeights), normalised; the real one
   * (if any) is just one more term: the frame itself (`real`), or, with `realSpot` and no frame, a stand-in drawn like
   * the decoys. The device can rank the region's
   * references itself, so it checks that every component's spot — the real one and each decoy alike — will come back
   * among the topM candidates, and draws the views afresh (same spots) when one would not, keeping the best of
   * `MIX_ATTEMPTS` draws. Holding every component to the same rule keeps them exchangeable; the real spot missing
   * from the reply was the user's main loss (docs/privacy.md).
   */
  private mix(real: Float32Array | null, decoySpots: string[], realSpot?: string): TransformedQuery {
    const shown = realSpot === undefined ? decoySpots : [...decoySpots, realSpot];
    const drawn = real ? decoySpots : shown;
    let best: Float32Array | undefined;
    let bestDecoys: DecoyProposal[] = [];
    let bestRank = Infinity;
    // Redraw until every component's spot fits the smallest reply this query could ask for.
    const fits = this.replySize === 'fixed' ? this.maxTopM : this.topM;
    for (let attempt = 0; attempt < MIX_ATTEMPTS && bestRank >= fits; attempt++) {
      const sum = new Float64Array(this.synthesizer.dimension);
      const decoys = drawn.map((id) => this.synthesizer.proposeDecoy(id));
      const components = decoys.map((d) => d.vector);
      if (real) components.push(real);
      // Component j shows spot shown[j] (the real one, when there is one, last in both lists).
      const weights = this.weightsFor(components, shown);
      components.forEach((component, j) => {
        for (let i = 0; i < sum.length; i++) sum[i] += weights[j] * component[i];
      });
      const vector = normalize(Float32Array.from(sum));
      const rank = this.synthesizer.worstRank(vector, shown);
      if (rank < bestRank) {
        best = vector;
        bestDecoys = decoys;
        bestRank = rank;
      }
    }
    // Only the views shown on the wire are the ones the next decoys of these spots drift from.
    for (const d of bestDecoys) d.commit();
    return {
      vector: best!,
      topM: this.candidatesFor(bestRank),
      // Order carries no information in a sum, but the list is kept so it must not hint at draw order.
      decoySpots: this.random.shuffle(decoySpots),
    };
  }
}

/**
 * How many candidates to ask for so that a spot at 0-based `rank` comes back: the base reply size, or the next
 * multiple of it, capped. In a gallery of thousands the real spot's reference is often not among the first k × c by
 * cosine with the mix (measured: 0.32 of real queries at 1,077 spots with 24 candidates), while plain recognition
 * would name it; the device knows the ranks (it holds the references) and asks for just enough. The rule is the same
 * for every component and for dummies, and the sizes come from a short list.
 */
export function replySizeFor(rank: number, base: number, max: number): number {
  if (!(rank >= 0) || rank < base) return base;
  return Math.min(max, Math.ceil((rank + 1) / base) * base);
}

/**
 * Weights w (mean 1) with which the sum of `components` has the same dot product with every one of `references`
 * (references[i] is component i's spot): G·w = 1 for G[i][j] = references[i] · components[j]. Null when there is no
 * such w with every weight positive and within MAX_WEIGHT_RATIO of the others.
 */
export function evenScoreWeights(references: readonly Float32Array[], components: readonly Float32Array[]): number[] | null {
  const gram = references.map((r) => components.map((c) => dot(r, c)));
  const w = solveLinear(gram, references.map(() => 1));
  if (!w) return null;
  const low = Math.min(...w);
  if (!(low > 0) || Math.max(...w) > MAX_WEIGHT_RATIO * low) return null;
  const mean = w.reduce((s, x) => s + x, 0) / w.length;
  return w.map((x) => x / mean);
}

/** Decoy draws tried per query before the best one is sent (each costs one pass over the region's references). */
const MIX_ATTEMPTS = 8;
