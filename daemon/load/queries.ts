/**
 * The queries simulated devices send: built by the real privacy transform (privacy/transform.ts, the device profile's
 * defaults from firmware-config/edge.schema.json) over the device's region pack, from real camera views of real spots
 * (photo-features.ts) where there are some and from the view model otherwise, with cover traffic (dummies) mixed in.
 * Building a query costs the device a few passes over its region's references, so each device's queries are built
 * ahead, as the device's scheduler does, and the timed run only sends them.
 */
import { schemaDefaults } from '../config/load.js';
import { perturb } from '../privacy/decoys.js';
import { seededRandom } from '../util/random.js';
import { createTransform, type KMixConfig } from '../privacy/transform.js';
import type { StoredSpot } from '../recognizer/spot-store.js';
import type { RegionSpot } from '../transport/messages.js';
import { dot, normalize } from '../util/vector.js';
import { spotId } from './gallery.js';
import { viewWindow, type PhotoFeatures } from './photo-features.js';

export interface LoadQuery {
  vector: Float32Array;
  topM: number;
  /** Every spot mixed in: the real one (for a real query) and the decoys. Device-side knowledge. */
  components: string[];
  real: boolean;
}

export interface QueryPoolOptions {
  /** The gallery's spots, any order. */
  spots: readonly StoredSpot[];
  features: PhotoFeatures;
  /** Queries per region. */
  perRegion: number;
  /** Regions to build for; default every region of the gallery. */
  regions?: string[];
  /** Share of slots that carry a real query (the rest are dummies). Default 0.5. */
  realShare?: number;
  seed?: number;
}

/** The device profile's k-mix settings, from the schema (one default everywhere). */
export function defaultKMix(): KMixConfig {
  // Whole, so a transform setting added to the schema reaches the load generator without an edit here.
  return { ...schemaDefaults('edge', 'privacy.transform'), kind: 'kmix' } as unknown as KMixConfig;
}

/** Queries by region: what the devices of that region send, in order. */
export function buildQueryPool(options: QueryPoolOptions, manifestSigma: number): Map<string, LoadQuery[]> {
  const { features } = options;
  const byRegion = new Map<string, RegionSpot[]>();
  for (const s of options.spots) {
    const list = byRegion.get(s.region) ?? [];
    list.push({ id: s.id, feature: s.feature, x: s.x, y: s.y, popularity: s.popularity });
    byRegion.set(s.region, list);
  }
  // Real camera views by spot id (only real windows have them).
  const views = new Map<string, Float32Array>();
  const d = features.dimension;
  const ids = new Set(options.spots.map((s) => s.id));
  for (let i = 0; i < features.viewCount; i++) {
    const id = spotId(viewWindow(features, i));
    if (ids.has(id)) views.set(id, features.views.subarray(i * d, (i + 1) * d));
  }
  const config = defaultKMix();
  const realShare = options.realShare ?? 0.5;
  const out = new Map<string, LoadQuery[]>();
  const regions = options.regions ?? [...byRegion.keys()].sort();
  regions.forEach((region, r) => {
    const pack = byRegion.get(region);
    if (!pack) throw new Error(`no region ${region} in the gallery`);
    const random = seededRandom((options.seed ?? 1) * 1_000_003 + r);
    let clock = 0;
    const transform = createTransform(config, { pool: { spots: pack }, variation: { sigma: manifestSigma }, random, clock: () => clock });
    const refs = pack.map((s) => normalize(s.feature));
    const queries: LoadQuery[] = [];
    for (let q = 0; q < options.perRegion; q++) {
      clock += 1000; // one slot a second
      if (random.next() < realShare) {
        const spot = pack[random.int(pack.length)];
        const frame = views.get(spot.id) ?? perturb(normalize(spot.feature), manifestSigma, random);
        const t = transform.transform(frame);
        // The transform names the real spot as the region's nearest reference to the frame; so do we.
        let best = 0;
        let bestScore = -Infinity;
        const f = normalize(frame);
        for (let i = 0; i < refs.length; i++) {
          const s = dot(f, refs[i]);
          if (s > bestScore) {
            bestScore = s;
            best = i;
          }
        }
        queries.push({ vector: t.vector, topM: t.topM, components: [...t.decoySpots, pack[best].id], real: true });
      } else {
        const t = transform.dummy();
        queries.push({ vector: t.vector, topM: t.topM, components: [...t.decoySpots], real: false });
      }
    }
    out.set(region, queries);
  });
  return out;
}
