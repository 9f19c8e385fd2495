import { UserError } from '../util/errors.js';
import { DecoySynthesizer, type ViewDrift, type ViewVariation } from './decoys.js';
import { BucketTransform } from './buckets.js';
import { KMixTransform, MAX_K, type MixWeights, type RealComponent, type ReplySize } from './kmix.js';
import { NoiseTransform } from './noise.js';
import { LockstepCrowd } from './lockstep.js';
import { PhantomCrowd } from './phantoms.js';
import { WearerCrowd, type ArrivalRule } from './wearer-crowd.js';
import { cryptoRandom, type Random } from '../util/random.js';
import type { DecoyPool, DecoySpotPicker, HabitStore, Transform } from './types.js';
import type { WalkParams } from './walk-model.js';
import type { RegionPackScan } from './region-pack-scan.js';

/**
 * Where decoy spots come from: phantom walkers (plausible paths, the default), phantoms that move in lockstep with
 * the user (for cameras that see the user only now and then, docs/privacy.md "Two cameras"), or a fresh
 * popularity draw per query (the baseline a path attack beats).
 */
export const DECOY_SOURCES = ['wearer', 'phantoms', 'lockstep', 'random'] as const;
export type DecoySpotSource = (typeof DECOY_SOURCES)[number];

export interface KMixConfig {
  kind: 'kmix';
  k: number;
  /** privacy.transform.candidatesPerComponent: required, its default is the schema's. */
  candidatesPerComponent: number;
  /** privacy.transform.maxCandidates: a query may ask for up to this many candidates so every component's spot comes back (kmix.ts replySizeFor). */
  maxCandidates: number;
  /** privacy.transform.replySize: 'fixed' asks maxCandidates of every query; 'grow' only as many as the worst component needs. */
  replySize: ReplySize;
  /** privacy.transform.mixWeights: 'even-scores' weighs the components so their spots score alike against the mix. */
  mixWeights: MixWeights;
  /** privacy.transform.realComponent: 'stand-in' draws the real spot's component like a decoy, the frame stays on the device. */
  realComponent: RealComponent;
  /** privacy.transform.decoys (required, its default is the schema's); 'random' is the baseline the path attack beats (kept for evaluation and comparison). */
  decoys: DecoySpotSource;
  /** privacy.transform.phantomPace (decoys 'wearer'): log-sd of each decoy track's own pace; absent: 0. */
  phantomPace?: number;
  /** privacy.transform.arrival (decoys 'wearer'): when the wearer's spot goes on the wire; absent: 'immediate'. */
  arrival?: ArrivalRule;
  /** privacy.transform.holdAcrossIdentity (arrival 'deferred'): absent: the crowd's default (true). */
  holdAcrossIdentity?: boolean;
  /** privacy.transform.holdOpening (arrival 'deferred'): absent: the crowd's default (false). */
  holdOpening?: boolean;
  /** privacy.transform.startStationary (arrival 'deferred'): absent: the crowd's default (false). */
  startStationary?: boolean;
}

/** Gaussian noise on the feature (noise.ts): the local-DP alternative, measured against k-mix. */
export interface NoiseConfig {
  kind: 'noise';
  /** Sizes the reply like k-mix's (topM = k × candidatesPerComponent), so the two cost the same bytes. */
  k: number;
  /** privacy.transform.candidatesPerComponent: required, its default is the schema's. */
  candidatesPerComponent: number;
  /** Norm of the noise on the unit feature (privacy.transform.noise: required, its default is the schema's). */
  noise: number;
  /** Where dummies pretend to be (privacy.transform.decoys: required, its default is the schema's). */
  decoys: DecoySpotSource;
}

/** Coarse buckets of about k spots (buckets.ts): the bucket-id alternative, measured against k-mix. */
export interface BucketConfig {
  kind: 'bucket';
  k: number;
}

export const TRANSFORM_KINDS = ['kmix', 'noise', 'bucket'] as const;
export type TransformKind = (typeof TRANSFORM_KINDS)[number];

/**
 * What a transform reads of the `privacy.transform` section of a device profile, whose kinds are variants of the
 * schema (firmware-config/edge.schema.json; the loaded profile's type is the generated union, which fits this one).
 * Extension point: a new transform adds a variant to the schema, its config type to this union and one case to
 * `createTransform`; the daemon and the eval harness only ever see `Transform`.
 */
export type TransformConfig = KMixConfig | NoiseConfig | BucketConfig;

export interface TransformDeps {
  /** The fetched region pack. */
  pool: DecoyPool;
  /** The extractor's view-variation model, shipped with the model; needed by the transforms that draw decoy views (kmix, noise). */
  variation?: ViewVariation;
  /** Default `cryptoRandom()`; pass `seededRandom(seed)` only for evaluation and tests. */
  random?: Random;
  /** Overrides `decoys` with a picker of the caller's own. */
  spotPicker?: DecoySpotPicker;
  /** Phantom walkers' clock in ms; default `Date.now`. The evaluation passes its simulated time. */
  clock?: () => number;
  /** Phantom movement model parameters; default `DEFAULT_WALK_PARAMS`. */
  walk?: Partial<WalkParams>;
  /** How decoy views drift (decoys.ts ViewDrift, without the clock); absent or fastSeconds 0: independent draws. */
  drift?: Omit<ViewDrift, 'clock'>;
  /** Where the wearer decoys keep what they learn of the wearer across restarts; absent: learned afresh each start. */
  habits?: HabitStore;
  /** The scan of `pool.spots` the region gate uses, so a frame's nearest spot is found once; absent: one of its own. */
  scan?: RegionPackScan;
}

export function createTransform(config: TransformConfig, deps: TransformDeps): Transform {
  const random = deps.random ?? cryptoRandom();
  const kind = config.kind;
  const drift = deps.drift ? { ...deps.drift, clock: deps.clock ?? Date.now } : undefined;
  switch (kind) {
    case 'kmix': {
      const synthesizer = new DecoySynthesizer({ spots: deps.pool.spots, variation: viewVariation(deps, kind), random, drift, scan: deps.scan });
      return new KMixTransform({
        k: config.k,
        candidatesPerComponent: config.candidatesPerComponent,
        maxCandidates: config.maxCandidates,
        replySize: config.replySize,
        mixWeights: config.mixWeights,
        realComponent: config.realComponent,
        synthesizer,
        random,
        spotPicker: deps.spotPicker ?? decoySpotPicker(config, deps, synthesizer, random),
      });
    }
    case 'noise': {
      const synthesizer = new DecoySynthesizer({ spots: deps.pool.spots, variation: viewVariation(deps, kind), random, drift, scan: deps.scan });
      // One spot per dummy: the phantoms' first track, or a popularity draw.
      const picker = deps.spotPicker ?? decoySpotPicker({ decoys: config.decoys, k: Math.max(2, config.k) }, deps, synthesizer, random);
      return new NoiseTransform({
        noise: config.noise,
        topM: config.k * config.candidatesPerComponent,
        synthesizer,
        random,
        spotPicker: picker,
      });
    }
    case 'bucket':
      return new BucketTransform({ spots: deps.pool.spots, k: config.k, random });
    default: {
      // `never` here makes the compiler flag a config kind added to the union but not handled above.
      const unhandled: never = kind;
      throw new UserError(`unknown privacy transform kind "${String(unhandled)}"; set privacy.transform.kind to one of ${TRANSFORM_KINDS.join(', ')}`);
    }
  }
}

function viewVariation(deps: TransformDeps, kind: TransformKind): ViewVariation {
  if (!deps.variation) throw new Error(`the ${kind} transform draws decoy views and needs the model's view variation`);
  return deps.variation;
}

/** The configured decoy spot source; undefined leaves KMixTransform's default (the synthesizer's popularity draw). */
function decoySpotPicker(config: Pick<KMixConfig, 'k' | 'decoys' | 'phantomPace' | 'arrival' | 'holdAcrossIdentity' | 'holdOpening' | 'startStationary'>, deps: TransformDeps, synthesizer: DecoySynthesizer, random: Random): DecoySpotPicker | undefined {
  const decoys = config.decoys;
  switch (decoys) {
    case 'random':
      return synthesizer;
    case 'wearer':
    case 'phantoms':
    case 'lockstep':
      // k = 1 sends f itself and never asks for decoys; a bad k or a pack smaller than k is KMixTransform's error to report.
      if (!Number.isInteger(config.k) || config.k <= 1 || config.k > MAX_K || synthesizer.spotCount < config.k) return undefined;
      // k tracks, not k − 1: a dummy needs k tracks that continue the real queries' tracks (see phantoms.ts).
      if (decoys === 'wearer') return new WearerCrowd({ map: deps.pool.spots, tracks: config.k, random, clock: deps.clock, walk: deps.walk, habits: deps.habits, phantomPaceSigma: config.phantomPace, arrival: config.arrival, holdAcrossIdentity: config.holdAcrossIdentity, holdOpening: config.holdOpening, startStationary: config.startStationary });
      return decoys === 'phantoms'
        ? new PhantomCrowd({ map: deps.pool.spots, walkers: config.k, random, clock: deps.clock, walk: deps.walk })
        : new LockstepCrowd({ map: deps.pool.spots, tracks: config.k, random, clock: deps.clock, walk: deps.walk });
    default: {
      const unhandled: never = decoys;
      throw new UserError(`unknown privacy decoys "${String(unhandled)}"; set privacy.transform.decoys to one of ${DECOY_SOURCES.map((d) => `"${d}"`).join(', ')}`);
    }
  }
}
