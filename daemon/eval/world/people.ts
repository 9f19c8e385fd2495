/**
 * Where simulated people go (docs/benchmark.md, "Camera streams"): itineraries of dwells at spots, walks between
 * them and stops at things that are no spot. Deliberately not the privacy layer's `WalkModel` (the phantoms'
 * gravity walk with one lognormal dwell of minutes): if the evaluation's people were phantoms, the phantoms would
 * look realistic by construction. Three kinds of people, each with its own dwell times, speeds and way of choosing
 * the next spot:
 *
 * - tourist: lingers (a minute or two), walks slowly, visits the nearest sights not yet seen, popular ones first;
 * - commuter: walks fast on a straight line between two far-apart spots, glances at a few spots on the way;
 * - shopper: stays in one neighbourhood, short and very variable stops, comes back to spots already seen.
 */
import type { Random } from '../../util/random.js';

export type PersonKind = 'tourist' | 'commuter' | 'shopper';
export const PERSON_KINDS: readonly PersonKind[] = Object.freeze(['tourist', 'commuter', 'shopper'] as const);

export type RouteKind = 'sights' | 'corridor' | 'neighbourhood';

export interface PersonProfile {
  /** Dwell at a spot: lognormal with this median (ms) and log-sd, clamped to [dwellMinMs, dwellMaxMs]. */
  dwellMedianMs: number;
  dwellSigma: number;
  dwellMinMs: number;
  dwellMaxMs: number;
  /** Walking speed of a leg, m/s: lognormal median and log-sd, clamped. */
  speedMedian: number;
  speedSigma: number;
  speedMin: number;
  speedMax: number;
  route: RouteKind;
  /** Radius of a shopper's neighbourhood, or of a commuter's corridor (how far off the line a spot may be), m. */
  radiusM: number;
  /** Commuter: chance of stopping at a spot on the corridor (otherwise it is only passed). */
  stopChance: number;
  /** Seconds between two camera frames, uniform (glasses: a frame every ~0.5-2 s). */
  frameGapS: [number, number];
}

export const PERSON_PROFILES: Readonly<Record<PersonKind, Readonly<PersonProfile>>> = Object.freeze({
  tourist: Object.freeze<PersonProfile>({
    dwellMedianMs: 75_000,
    dwellSigma: 0.6,
    dwellMinMs: 15_000,
    dwellMaxMs: 600_000,
    speedMedian: 0.9,
    speedSigma: 0.2,
    speedMin: 0.5,
    speedMax: 1.4,
    route: 'sights',
    radiusM: 0,
    stopChance: 1,
    frameGapS: [0.5, 2],
  }),
  commuter: Object.freeze<PersonProfile>({
    dwellMedianMs: 8_000,
    dwellSigma: 0.5,
    dwellMinMs: 3_000,
    dwellMaxMs: 30_000,
    speedMedian: 1.6,
    speedSigma: 0.1,
    speedMin: 1.2,
    speedMax: 2.2,
    route: 'corridor',
    radiusM: 40,
    stopChance: 0.35,
    frameGapS: [0.5, 2],
  }),
  shopper: Object.freeze<PersonProfile>({
    dwellMedianMs: 30_000,
    dwellSigma: 1.0,
    dwellMinMs: 4_000,
    dwellMaxMs: 900_000,
    speedMedian: 1.1,
    speedSigma: 0.25,
    speedMin: 0.6,
    speedMax: 1.6,
    route: 'neighbourhood',
    radiusM: 180,
    stopChance: 1,
    frameGapS: [0.5, 2],
  }),
});

/** A spot on the map: where it is and how strongly it draws people. */
export interface PlaceSpot {
  id: string;
  x: number;
  y: number;
  popularity: number;
}

/** What a person does over an interval of simulated time. */
export type Activity =
  /** Standing at a spot, looking at it. */
  | { kind: 'dwell'; spot: string; startMs: number; endMs: number }
  /** Walking from one spot to another; `passes` are spots seen in passing, at the moment of closest approach. */
  | { kind: 'walk'; from: string; to: string; startMs: number; endMs: number; speed: number; passes: { spot: string; atMs: number }[] }
  /** Stopped at something that is no spot: a shop window, a bench, the phone. */
  | { kind: 'browse'; startMs: number; endMs: number };

export interface ItineraryOptions {
  /** Everyone planned together: a profile and a random source each (the source is only drawn from for its person). */
  people: readonly { profile: PersonProfile; random: Random }[];
  spots: readonly PlaceSpot[];
  durationMs: number;
  /**
   * Target share of time, over everyone, spent seeing no spot (walking, browsing). After each dwell and walk the
   * time away from spots is topped up with browsing when everyone's walking so far falls short of the target, and
   * everyone's next dwells are lengthened by one factor (up to 8×) when it overshoots. People differ (commuters walk
   * far more than the target, tourists and shoppers less) and the others make up for them, as in a crowd.
   */
  noSpotShare: number;
  /** How long a spot seen in passing stays in view, ms. */
  passMs?: number;
}

export const DEFAULT_PASS_MS = 4_000;

/** A lognormal draw, clamped. */
function lognormal(random: Random, median: number, sigma: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, median * Math.exp(sigma * random.normal())));
}

function distance(a: PlaceSpot, b: PlaceSpot): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/** One draw from `items` with probability ∝ weight (the last item when the weights round to nothing). */
function weighted<T>(items: readonly T[], weight: (item: T) => number, random: Random): T {
  const weights = items.map(weight);
  const total = weights.reduce((a, b) => a + b, 0);
  let target = random.next() * total;
  for (let i = 0; i < items.length; i++) {
    target -= weights[i];
    if (target < 0) return items[i];
  }
  return items[items.length - 1];
}

/** The `n` spots nearest to `from` (excluding it) that `keep` accepts. */
function nearest(spots: readonly PlaceSpot[], from: PlaceSpot, n: number, keep: (s: PlaceSpot) => boolean): PlaceSpot[] {
  return spots
    .filter((s) => s !== from && keep(s))
    .map((s) => ({ s, d: distance(s, from) }))
    .sort((a, b) => a.d - b.d || (a.s.id < b.s.id ? -1 : 1))
    .slice(0, n)
    .map((e) => e.s);
}

/** Chooses where a person goes next, per route kind. */
interface Router {
  start(): PlaceSpot;
  /** The next spot to stop at, and the spots passed on the way (not stopped at), in order. */
  next(from: PlaceSpot): { to: PlaceSpot; passed: PlaceSpot[] };
}

function sightsRouter(spots: readonly PlaceSpot[], random: Random): Router {
  const seen = new Set<string>();
  return {
    start() {
      const s = weighted(spots, (s) => s.popularity, random);
      seen.add(s.id);
      return s;
    },
    next(from) {
      // The nearest sights not yet seen; once everything is seen, anything near.
      let options = nearest(spots, from, 5, (s) => !seen.has(s.id));
      if (options.length === 0) options = nearest(spots, from, 5, () => true);
      const to = options.length > 0 ? weighted(options, (s) => s.popularity, random) : from;
      seen.add(to.id);
      return { to, passed: [] };
    },
  };
}

function neighbourhoodRouter(spots: readonly PlaceSpot[], radiusM: number, random: Random): Router {
  let area: PlaceSpot[] = [];
  return {
    start() {
      const centre = random.pick(spots);
      area = spots.filter((s) => distance(s, centre) <= radiusM);
      if (area.length < 4) area = [centre, ...nearest(spots, centre, 5, () => true)];
      return random.pick(area);
    },
    next(from) {
      // Anywhere in the neighbourhood but here, popular shops more often; revisits allowed.
      const options = area.filter((s) => s !== from);
      return { to: options.length > 0 ? weighted(options, (s) => Math.sqrt(s.popularity), random) : from, passed: [] };
    },
  };
}

function corridorRouter(spots: readonly PlaceSpot[], profile: PersonProfile, random: Random): Router {
  // Spots on the way from `a` to `b`: within radiusM of the segment, strictly between the ends, in order.
  const onTheWay = (a: PlaceSpot, b: PlaceSpot): PlaceSpot[] => {
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len2 = dx * dx + dy * dy;
    if (len2 === 0) return [];
    return spots
      .filter((s) => s !== a && s !== b)
      .map((s) => ({ s, u: ((s.x - a.x) * dx + (s.y - a.y) * dy) / len2 }))
      .filter(({ s, u }) => u > 0 && u < 1 && Math.hypot(a.x + u * dx - s.x, a.y + u * dy - s.y) <= profile.radiusM)
      .sort((p, q) => p.u - q.u)
      .map((e) => e.s);
  };
  let home: PlaceSpot;
  let work: PlaceSpot;
  let queue: PlaceSpot[] = [];
  const plan = (from: PlaceSpot, to: PlaceSpot) => {
    queue = [...onTheWay(from, to), to];
  };
  return {
    start() {
      home = random.pick(spots);
      // The far end: one of the farthest spots, so the corridor crosses the map.
      const far = [...spots].sort((a, b) => distance(b, home) - distance(a, home)).slice(0, Math.max(1, Math.ceil(spots.length / 10)));
      work = random.pick(far);
      plan(home, work);
      return home;
    },
    next(from) {
      if (queue.length === 0) plan(from, from === work ? home : work);
      const passed: PlaceSpot[] = [];
      while (queue.length > 1 && random.next() >= profile.stopChance) passed.push(queue.shift()!);
      const to = queue.shift() ?? from;
      return { to, passed };
    },
  };
}

function router(profile: PersonProfile, spots: readonly PlaceSpot[], random: Random): Router {
  switch (profile.route) {
    case 'sights':
      return sightsRouter(spots, random);
    case 'neighbourhood':
      return neighbourhoodRouter(spots, profile.radiusM, random);
    case 'corridor':
      return corridorRouter(spots, profile, random);
  }
}

/** Everyone's time seeing a spot (dwells, spots passed) and seeing none (walking, browsing), in ms. */
interface Ledger {
  ratio: number;
  /** Sum of everyone's median dwell: about how long a round of dwells of the crowd lasts. */
  roundMs: number;
  spotMs: number;
  noSpotMs: number;
}

/** The most a dwell is lengthened by to keep the share of frames of no spot. */
const MAX_STRETCH = 8;

/** One person's itinerary, planned a visit at a time against the shared ledger. */
class Planner {
  readonly activities: Activity[] = [];
  /** Planned up to here (ms); undefined before the first visit. */
  t: number | undefined;
  private here: PlaceSpot;
  private readonly route: Router;

  constructor(
    private readonly profile: PersonProfile,
    spots: readonly PlaceSpot[],
    private readonly random: Random,
    private readonly ledger: Ledger,
    private readonly passMs: number,
  ) {
    this.route = router(profile, spots, random);
    this.here = this.route.start();
  }

  /** Plans one dwell at the current spot and the way to the next (browsing first when the share asks for it). */
  step(durationMs: number): void {
    const { profile, random, ledger, passMs } = this;
    // When the crowd has walked more than the share allows, everyone lingers longer by the same factor (at most
    // MAX_STRETCH): the time owed is spread over the crowd's next round of dwells, each its share by typical length.
    const drawn = lognormal(random, profile.dwellMedianMs, profile.dwellSigma, profile.dwellMinMs, profile.dwellMaxMs);
    const owed = Math.max(0, ledger.noSpotMs / Math.max(ledger.ratio, 1e-9) - ledger.spotMs);
    const dwell = drawn * Math.min(MAX_STRETCH, 1 + owed / ledger.roundMs);
    // The simulation starts in the middle of someone's first visit, not at its beginning.
    let t = this.t ?? -random.next() * dwell;
    this.activities.push({ kind: 'dwell', spot: this.here.id, startMs: Math.max(0, t), endMs: t + dwell });
    ledger.spotMs += t + dwell - Math.max(0, t);
    t += dwell;
    this.t = t;
    if (t >= durationMs) return;

    const { to, passed } = this.route.next(this.here);
    const speed = lognormal(random, profile.speedMedian, profile.speedSigma, profile.speedMin, profile.speedMax);
    // Walk through the passed spots in order; each is in view for passMs around the moment of passing it.
    const stops = [this.here, ...passed, to];
    let walkMs = 0;
    const passAt: number[] = [];
    for (let i = 1; i < stops.length; i++) {
      walkMs += (distance(stops[i - 1], stops[i]) / speed) * 1000;
      if (i < stops.length - 1) passAt.push(walkMs);
    }
    // A few steps at least, even between co-located spots (two windows of one facade).
    walkMs = Math.max(walkMs, 3_000);
    const seenInPassing = Math.min(walkMs, passed.length * passMs);
    ledger.spotMs += seenInPassing;
    ledger.noSpotMs += walkMs - seenInPassing;
    // Away time the share asks for so far, with some spread so that browsing is not a fixed rhythm.
    const deficit = ledger.ratio * ledger.spotMs - ledger.noSpotMs;
    if (deficit > 0) {
      const browse = deficit * (0.5 + random.next());
      this.activities.push({ kind: 'browse', startMs: t, endMs: t + browse });
      t += browse;
      ledger.noSpotMs += browse;
    }
    const startMs = t;
    const passes = passed.map((s, i) => ({ spot: s.id, atMs: startMs + passAt[i] }));
    this.activities.push({ kind: 'walk', from: this.here.id, to: to.id, startMs, endMs: t + walkMs, speed, passes });
    this.t = t + walkMs;
    this.here = to;
  }
}

/**
 * Everyone's activities from 0 to `durationMs` (the last one cut there), each starting part-way through a dwell.
 * People are planned side by side in time order, so the share control sees the crowd as it is at each moment.
 * Deterministic for the states of the random sources.
 */
export function planItineraries(options: ItineraryOptions): Activity[][] {
  const { spots, durationMs, noSpotShare } = options;
  if (spots.length === 0) throw new RangeError('an itinerary needs at least one spot');
  if (!(noSpotShare >= 0 && noSpotShare < 1)) throw new RangeError(`noSpotShare must be in [0, 1), got ${noSpotShare}`);
  const roundMs = options.people.reduce((sum, p) => sum + p.profile.dwellMedianMs, 0);
  const ledger: Ledger = { ratio: noSpotShare / (1 - noSpotShare), roundMs, spotMs: 0, noSpotMs: 0 };
  const planners = options.people.map((p) => new Planner(p.profile, spots, p.random, ledger, options.passMs ?? DEFAULT_PASS_MS));
  for (;;) {
    // The person planned least far ahead goes next (ties: the first).
    let next: Planner | undefined;
    for (const p of planners) if ((p.t ?? -Infinity) < durationMs && (next === undefined || (p.t ?? -Infinity) < (next.t ?? -Infinity))) next = p;
    if (!next) break;
    next.step(durationMs);
  }
  for (const p of planners) {
    const last = p.activities[p.activities.length - 1];
    last.endMs = Math.min(last.endMs, durationMs);
  }
  return planners.map((p) => p.activities);
}
