import { crowdModel, type CrowdOptions } from './phantoms.js';
import type { Random } from '../util/random.js';
import type { DecoySpotPicker, HabitStore, WearerHabits } from './types.js';
import { erfc, WalkModel } from './walk-model.js';

/**
 * How long the wearer stays in front of one spot, learned on the device from its own real queries and never sent
 * anywhere (kept in memory only). Before anything is learned, and mixed in afterwards so one odd visit does not
 * dominate, a log-normal prior (people in a city or a shop: a median of about half a minute, a wide spread).
 */
export class WearerDwell {
  private readonly seen: number[] = [];
  private next = 0;

  constructor(
    private readonly prior: { medianMs: number; sigma: number } = DEFAULT_DWELL_PRIOR,
    private readonly keep = 64,
  ) {
    if (!(prior.medianMs > 0 && prior.sigma >= 0)) throw new RangeError(`a dwell prior needs a median > 0 ms and a sigma >= 0`);
  }

  /** The lengths learned, oldest first (what a HabitStore keeps). */
  lengths(): number[] {
    return this.seen.length < this.keep ? [...this.seen] : [...this.seen.slice(this.next), ...this.seen.slice(0, this.next)];
  }

  /** A whole visit the wearer made, in ms. */
  observe(durationMs: number): void {
    if (!(Number.isFinite(durationMs) && durationMs > 0)) return;
    if (this.seen.length < this.keep) this.seen.push(durationMs);
    else this.seen[this.next] = durationMs;
    this.next = (this.next + 1) % this.keep;
  }

  get observed(): number {
    return this.seen.length;
  }

  /**
   * The log-normal mixture that draw, drawInProgress and hazard all read: the prior with weight PRIOR_WEIGHT, and each
   * length learned with weight 1 and a little jitter. (Weighting recent lengths more, with a half-life of 4 visits, so
   * that the tracks follow the wearer's current rhythm, measured no better: docs/privacy.md, "Glances away".)
   */
  private mixture(): { weight: number; logMedian: number; sigma: number }[] {
    const prior = { weight: PRIOR_WEIGHT, logMedian: Math.log(this.prior.medianMs), sigma: Math.max(this.prior.sigma, MIN_SIGMA) };
    return [prior, ...this.seen.map((ms) => ({ weight: 1, logMedian: Math.log(ms), sigma: JITTER_SIGMA }))];
  }

  /** One part of the mixture, each with probability ∝ weight × `bias` (its weight for a draw). */
  private pick<T extends { weight: number }>(parts: readonly T[], bias: (p: T) => number, random: Random): T {
    const mass = parts.map((p) => p.weight * bias(p));
    let left = random.next() * mass.reduce((a, b) => a + b, 0);
    for (let i = 0; i < parts.length; i++) {
      left -= mass[i];
      if (left < 0) return parts[i];
    }
    return parts[parts.length - 1];
  }

  /** A visit length: one of the wearer's own (with a little jitter) or the prior's. */
  draw(random: Random): number {
    const part = this.pick(this.mixture(), () => 1, random);
    return Math.exp(part.logMedian + part.sigma * random.normal());
  }

  /**
   * The time left of a visit found in progress at a random moment, as a track started part-way needs: a visit caught
   * at a random moment is a long one more often than `draw` gives (in proportion to its length), and it is caught at
   * a uniform point of it. For each log-normal of the mixture the length-biased law is the log-normal with its log
   * median moved by σ², weighted by the component's mean length. A plain `draw × uniform` made every started track
   * leave early, so a wearer already at a spot when the device started was the stalest track of the first minutes.
   */
  drawInProgress(random: Random): number {
    const chosen = this.pick(this.mixture(), (p) => Math.exp(p.logMedian + (p.sigma * p.sigma) / 2), random);
    const length = Math.exp(chosen.logMedian + chosen.sigma * chosen.sigma + chosen.sigma * random.normal());
    return length * random.next();
  }

  /** The rate (per ms) at which a visit of this age ends, of the lengths `draw` gives: density over survival. */
  hazard(ageMs: number): number {
    if (!(ageMs > 0)) return 0;
    const logAge = Math.log(ageMs);
    let density = 0;
    let survival = 0;
    for (const { weight, logMedian, sigma } of this.mixture()) {
      const z = (logAge - logMedian) / sigma;
      density += (weight * Math.exp(-0.5 * z * z)) / (sigma * ageMs * Math.sqrt(2 * Math.PI));
      survival += weight * 0.5 * erfc(z / Math.SQRT2);
    }
    // Far past every length seen, the visit is overdue: it ends within about a second.
    return survival > 1e-12 ? density / survival : 1 / 1_000;
  }
}

/** The prior visit length: what the simulated people of docs/benchmark.md show (median 26 s, p10 6 s, p90 148 s). */
export const DEFAULT_DWELL_PRIOR = Object.freeze({ medianMs: 30_000, sigma: 1.2 });
/** A visit seen in a single real query still lasted about a frame. */
const MIN_VISIT_MS = 1_000;
/** Pseudo-count of the prior among the wearer's own visits. */
const PRIOR_WEIGHT = 8;
/** Log-jitter of a resampled visit, so the same few visits are not replayed exactly. */
const JITTER_SIGMA = 0.2;
/** A prior with sigma 0 is a point mass; its hazard is taken as a very narrow log-normal's. */
const MIN_SIGMA = 1e-3;
/** The walking shadow's chance to move on is evaluated in steps of at most this much. */
const HAZARD_STEP_MS = 1_000;
/** The prior walk between two spots (from leaving one to the first real query at the next). */
export const DEFAULT_WALK_PRIOR = Object.freeze({ medianMs: 30_000, sigma: 1.0 });

/**
 * How far the wearer goes from one spot to the next, learned on the device from its own visits (never sent, kept in
 * memory): the distance scale λ of the gravity walk (next spot ∝ popularity × exp(−distance / λ)) fitted to the
 * wearer's moves by maximum likelihood, with a log-normal prior around the walk model's own λ so that a few moves do
 * not swing it. Tracks moving with the map's default λ hopped about twice as far as the evaluation's people (median
 * 173 m against 85–120 m on the 25-spot map), and a path attack that follows short hops followed the wearer.
 */
export class WearerHops {
  private readonly moves: Move[] = [];
  private next = 0;
  private fitted: WalkModel;

  constructor(
    private readonly base: WalkModel,
    private readonly keep = 32,
  ) {
    this.fitted = base;
  }

  /** The gravity walk with the wearer's distance scale (the base model until a move is seen). */
  get model(): WalkModel {
    return this.fitted;
  }

  get observed(): number {
    return this.moves.length;
  }

  /** The wearer went from spot index `from` to `to` (indices of the base model's map). */
  observe(from: number, to: number): void {
    const size = this.base.map.size;
    if (from === to || !(from >= 0 && from < size && to >= 0 && to < size)) return;
    const move = this.describe(from, to);
    if (this.moves.length < this.keep) this.moves.push(move);
    else this.moves[this.next] = move;
    this.next = (this.next + 1) % this.keep;
    this.fitted = new WalkModel(this.base.map, { ...this.base.params, lambdaM: this.fitLambda() });
  }

  /**
   * What the fit needs of a move: its length and the spots the gravity normaliser sums over from `from`. It runs on
   * the query path (a visit begins at a real query), so its cost must not grow with the region: the NEAR_SPOTS
   * nearest spots are kept exactly (they carry the sum when λ is small) and the rest by an even sample of
   * FAR_SAMPLE, each standing for its share.
   */
  private describe(from: number, to: number): Move {
    const map = this.base.map;
    const others: { d: number; w: number }[] = [];
    for (let j = 0; j < map.size; j++) if (j !== from) others.push({ d: map.distance(from, j), w: map.popularity(j) });
    others.sort((a, b) => a.d - b.d);
    const near = others.slice(0, NEAR_SPOTS);
    const far = others.slice(NEAR_SPOTS);
    const step = Math.max(1, far.length / FAR_SAMPLE);
    const sampled: { d: number; w: number }[] = [];
    for (let i = 0; i < far.length; i += step) {
      const f = far[Math.floor(i)];
      sampled.push({ d: f.d, w: f.w * step });
    }
    const terms = [...near, ...sampled];
    return { length: map.distance(from, to), logPopularity: Math.log(map.popularity(to)), distances: Float64Array.from(terms, (x) => x.d), weights: Float64Array.from(terms, (x) => x.w) };
  }

  /** Posterior mode of λ over a log grid: Σ log P(to | from, λ) + log prior(λ). */
  private fitLambda(): number {
    const prior = this.base.params.lambdaM;
    let best = prior;
    let bestScore = -Infinity;
    for (let g = 0; g < LAMBDA_GRID; g++) {
      const lambda = prior * Math.exp(LAMBDA_SPAN * ((2 * g) / (LAMBDA_GRID - 1) - 1));
      const z = Math.log(lambda / prior) / LAMBDA_PRIOR_SIGMA;
      let score = -0.5 * z * z;
      for (const m of this.moves) {
        let total = 0;
        for (let j = 0; j < m.distances.length; j++) total += m.weights[j] * Math.exp(-m.distances[j] / lambda);
        score += m.logPopularity - m.length / lambda - Math.log(total);
      }
      if (score > bestScore) {
        bestScore = score;
        best = lambda;
      }
    }
    return best;
  }
}

/** One move of the wearer, as WearerHops fits it. */
interface Move {
  length: number;
  logPopularity: number;
  /** Distances from the move's start to the spots of the normaliser, and their popularity weights. */
  distances: Float64Array;
  weights: Float64Array;
}

/** Spots summed exactly, and sampled beyond them, in a move's gravity normaliser. */
const NEAR_SPOTS = 256;
const FAR_SAMPLE = 256;
/** λ is searched from the prior's /e³ to ×e³ in this many log steps. */
const LAMBDA_GRID = 31;
const LAMBDA_SPAN = 3;
/** Log-sd of the prior on λ around the walk model's. */
const LAMBDA_PRIOR_SIGMA = 1;

export interface WearerCrowdOptions extends CrowdOptions {
  /** Tracks: k (one of them the wearer's shadow, see the class comment). */
  tracks: number;
  /** No real query for this long means the wearer has left the spot. Default 5 s. */
  leaveAfterMs?: number;
  /** Default a fresh WearerDwell with the default prior. */
  dwell?: WearerDwell;
  /** The wearer's walks between spots, learned the same way. Default a fresh WearerDwell with DEFAULT_WALK_PRIOR. */
  walks?: WearerDwell;
  /** Whether tracks move as far as the wearer does (WearerHops) rather than by the map's walk model. Default true. */
  learnHops?: boolean;
  /**
   * Where the learned visits and walks are kept across restarts; loaded once here, saved each time one is learned.
   * Absent: learned afresh on every start.
   */
  habits?: HabitStore;
  /**
   * Whether the walking shadow's phantom visits end at the visits' rate less the wearer's arrival rate (see the class
   * comment). Default true; false is the design before, kept to measure against.
   */
  offsetArrival?: boolean;
  /**
   * Log-sd of each phantom track's own pace: every visit it shows is a drawn length times that pace, drawn once per
   * track (and again for a new identity), so the phantoms are different people, some lingering and some hurrying,
   * rather than k copies of one rhythm. Absent or 0: every track keeps the learned lengths as they are (a device's
   * profile sets privacy.transform.phantomPace, default 1; decision 48).
   */
  phantomPaceSigma?: number;
  /**
   * When the wearer's spot goes on the wire. 'immediate' (the design before): at the first real query of a visit the
   * shadow jumps there, which cuts its phantom visit short at the arrival. 'deferred': the spot waits for the next
   * track whose drawn visit ends, which moves there and becomes the shadow, instead of cutting a visit short; until then
   * `mayShow` answers false and the device names the frame from its region pack without a real query
   * (privacy.transform.arrival, decisions 52 and 53).
   */
  arrival?: ArrivalRule;
  /**
   * Under 'deferred' arrival: the spot the wearer stands at when the identity changes stays off the new identity's
   * wire until the wearer leaves it (frames named from the region pack meanwhile). Without it the spot comes back at
   * the new identity's first track move, seconds into the session, and a server reading the spots shown on both sides
   * of a change links the two identities (docs/privacy.md, "A spot that comes back seconds after the change").
   * Default true.
   */
  holdAcrossIdentity?: boolean;
  /**
   * Under 'deferred' arrival: in a session's opening (the device just up, or a new identity) the wearer's spot comes
   * on the wire only at the shadow's own first move, which ends a visit drawn in progress like every track's, rather
   * than at the first move of any track. Every track starts part-way through a visit at once, so the wearer's spot,
   * waiting for the first of them to end, is the first spot to enter the session: the first change was the wearer's
   * for 0.92 of the real queries sent before the second (five wall-clock seeds). Held, the wearer's track is one of k
   * whose in-progress visits end in random order; but real queries then wait longer in every young session, and the
   * session's age and the tracks told real from dummy far better (`dummy_auc` 0.552 → 0.632 and 0.538 → 0.595 on two
   * device seeds: decision 61). Default false: measured, not taken; kept to measure the next try against.
   */
  holdOpening?: boolean;
  /**
   * Under 'deferred' arrival: the device's session starts as if it had been running. Until the device's first query
   * is built, a wearer found standing at a spot puts the shadow there at once, with every other track part-way through
   * a visit, as at a random moment of a running session, where the wearer's spot is shown whenever the wearer stands
   * at one. Without it the wearer's spot waits for the first track to move, and the first spot to enter a session is
   * the wearer's (the opening attack). The device's first query waits a few seconds of frames for this
   * (EdgeDaemonOptions.firstQueryWait). A new identity does not start this way (newIdentity). Default false here; the
   * profile's default is true (privacy.transform.startStationary, decision 63).
   */
  startStationary?: boolean;
}

export const ARRIVAL_RULES = ['immediate', 'deferred'] as const;
export type ArrivalRule = (typeof ARRIVAL_RULES)[number];

/** One visit of the wearer, from its first to its last real query so far. */
interface Visit {
  spot: number;
  firstMs: number;
  lastMs: number;
}

interface Track {
  spot: number;
  previous: number;
  /** When the track moves on (Infinity: held by the wearer). */
  until: number;
  /** Its person's pace as a standard normal draw: 0 for the wearer's shadow (the wearer's pace is what is learned). */
  pace: number;
}

/**
 * Decoy tracks that look like the wearer's own (DESIGN §4; issue #9, "movement unlike the phantoms'"). Phantom
 * walkers drawn from a fixed walk model (minutes-long dwells) made the wearer's component the one whose spot changed
 * most often: the freshest component was the real one for 0.58 of real queries in a replayed glasses video and for
 * every one in the evaluation's streams. Here every track shows one spot for a visit whose length is drawn from the
 * wearer's own visits (learned on the device, `WearerDwell`), then moves to a nearby spot by the gravity model — at
 * once, since the server only ever sees spots, not walks. The wearer's track is one of the k: while the wearer
 * stands at a spot its shadow holds that spot (so the visit the server sees is the wearer's real one); when no real
 * query has come for `leaveAfterMs` the wearer has gone and the shadow moves on like any other track, until the
 * wearer shows up at a spot again and the shadow is placed there. At a real query, the wearer's time at its spot is
 * then distributed as a track's age at a random moment (both are a visit drawn from the same lengths, seen at a
 * uniform point), which is what the freshest-track attack reads.
 *
 * The wearer's arrival at the next spot cuts the shadow's phantom visit short, so without more a track would move
 * early just before real queries ("Letting go" in docs/privacy.md). The device learns how long its wearer walks
 * (`walks`, like the visits) and so knows the rate at which the arrival comes; the walking shadow's phantom visits
 * end on their own at the rate visits end less that rate, so that, arrival included, they end as every visit does.
 * Where walks are short that rate is mostly 0 and the shadow's phantom visits are a walk long; spreading the arrival
 * over every track instead was built and measured worse on the evaluation's worlds (decision 46, commit a7d06c4).
 */
export class WearerCrowd implements DecoySpotPicker {
  readonly model: WalkModel;
  readonly dwell: WearerDwell;
  private readonly random: Random;
  private readonly clock: () => number;
  private readonly leaveAfterMs: number;
  readonly walks: WearerDwell;
  /** How far the wearer moves between spots; undefined when `learnHops` is off. */
  readonly hops: WearerHops | undefined;
  private readonly offsetArrival: boolean;
  private readonly paceSigma: number;
  private readonly deferred: boolean;
  private readonly holdAcross: boolean;
  /** The spot the wearer stood at when the identity last changed, kept off the wire until that visit ends. */
  private heldAcross: number | undefined;
  private readonly holdOpening: boolean;
  /** In a session's opening until the shadow's first move (see WearerCrowdOptions.holdOpening). */
  private opening: boolean;
  private readonly startStationary: boolean;
  /**
   * No query built since the device started: under `startStationary` the shadow may still start where the wearer
   * stands. Not set again by an identity change (newIdentity), which keeps the deferred arrival of decision 57.
   */
  private unbuilt = true;
  private readonly habits: HabitStore | undefined;
  /** The spot of the wearer's last finished visit (map index), for learning hops. */
  private lastVisitSpot = -1;
  private readonly tracks: Track[];
  private lastMs: number;
  /**
   * While the wearer is between spots: when the walk began (the shadow let go), when the shadow's current phantom
   * visit began, and up to when its chance to move on has been drawn.
   */
  private walking: { sinceMs: number; visitSinceMs: number; checkedMs: number } | undefined;
  /** The wearer's current visit, while it lasts. */
  private wearer: Visit | undefined;
  /**
   * The visit the wearer last left: coming back to its spot within `leaveAfterMs` of its last real query continues it
   * (see endVisit). Visit lengths are learned from what was sent (shown), not here.
   */
  private left: Visit | undefined;
  /** The wearer's spot as the server has been shown it without a break: its first and its last real query. */
  private onWire: { spot: string; sinceMs: number; lastRealMs: number } | undefined;

  constructor(options: WearerCrowdOptions) {
    this.model = crowdModel(options, options.tracks, 'tracks');
    this.random = options.random;
    this.clock = options.clock ?? Date.now;
    this.leaveAfterMs = options.leaveAfterMs ?? 5_000;
    this.dwell = options.dwell ?? new WearerDwell();
    this.walks = options.walks ?? new WearerDwell(DEFAULT_WALK_PRIOR);
    this.offsetArrival = options.offsetArrival ?? true;
    this.paceSigma = options.phantomPaceSigma ?? 0;
    if (!(this.paceSigma >= 0)) throw new RangeError(`phantomPaceSigma must be >= 0, not ${this.paceSigma}`);
    const arrival = options.arrival ?? 'immediate';
    if (!ARRIVAL_RULES.includes(arrival)) throw new RangeError(`arrival must be one of ${ARRIVAL_RULES.join(', ')}, not ${String(arrival)}`);
    this.deferred = arrival === 'deferred';
    this.holdAcross = this.deferred && (options.holdAcrossIdentity ?? true);
    this.holdOpening = this.deferred && (options.holdOpening ?? false);
    this.opening = this.holdOpening;
    this.startStationary = this.deferred && (options.startStationary ?? false);
    this.hops = (options.learnHops ?? true) ? new WearerHops(this.model) : undefined;
    this.habits = options.habits;
    this.recall(this.habits?.loadHabits());
    this.lastMs = this.now();
    const start = this.lastMs;
    this.tracks = [];
    for (let n = 0; n < options.tracks; n++) {
      // Tracks never share a spot (see moveOn); a start drawn onto a taken spot goes to the nearest free one.
      const drawn = this.model.drawStart(this.random);
      const spot = this.takenSpots().has(drawn) ? this.nearestFree(drawn) : drawn;
      // Started part-way through a visit, so the crowd does not move all at once.
      const track = { spot, previous: -1, until: start, pace: n === 0 ? 0 : this.drawPace() };
      track.until += this.visitLength(track, true);
      this.tracks.push(track);
    }
    // Until the wearer first stands at a spot, the device has started somewhere on a walk.
    this.walking = { sinceMs: start, visitSinceMs: start, checkedMs: start };
  }

  get size(): number {
    return this.tracks.length;
  }

  /** Whether a real query may have to wait for a track to reach the wearer's spot (see mayShow). */
  get defersArrival(): boolean {
    return this.deferred;
  }

  /** Track 0 is the wearer's shadow. */
  private get shadow(): Track {
    return this.tracks[0];
  }

  pickDecoySpots(n: number, exclude: ReadonlySet<string>): string[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`decoy count must be an integer >= 0, got ${n}`);
    if (n > this.tracks.length) throw new RangeError(`${n} decoys need ${n} tracks; the crowd has ${this.tracks.length}`);
    const map = this.model.map;
    const taken = new Set<number>();
    for (const id of exclude) if (map.has(id)) taken.add(map.indexOf(id));
    if (map.size - taken.size < n) {
      throw new RangeError(`${n} decoys need ${n} spots besides the excluded ones; the spot map has ${map.size - taken.size}`);
    }
    const now = Math.max(this.lastMs, this.now());
    this.lastMs = now;
    const real = taken.size > 0 && n < this.tracks.length ? [...taken][0] : undefined;
    this.followWearer(real, now);
    this.advance(now);
    this.unbuilt = false;

    // A real query shows the wearer in place of the shadow; a dummy shows every track, the shadow included.
    const shown = real === undefined ? this.tracks : this.tracks.slice(1);
    const picked: string[] = [];
    for (const track of shown) {
      if (picked.length === n) break;
      // Two tracks on one spot, or a track on the wearer's spot, are shown at the nearest free spot.
      const spot = taken.has(track.spot) ? map.nearest(map.x(track.spot), map.y(track.spot), (i) => taken.has(i)) : track.spot;
      taken.add(spot);
      picked.push(map.id(spot));
    }
    return picked;
  }

  /**
   * A new identity: every phantom track starts afresh on a free spot, part-way through a visit, as at the start; the
   * shadow too while the wearer walks. Tracks that carried over showed the server the old identity's last spots in
   * the new one's first queries, and linking the two by the spots they share named the old identity of a new one in
   * 0.82–0.90 of rotations (chance 0.11–0.12; docs/privacy.md, "Glances away, and rotation bridged by the tracks"). With
   * 'immediate' arrival the wearer's own spot carries over, as it must while the wearer stands there; with 'deferred'
   * it starts afresh too and comes back when a track's visit ends, as it first came (decision 54).
   */
  newIdentity(): void {
    const now = Math.max(this.lastMs, this.now());
    this.lastMs = now;
    // The run the server saw is cut by the session; its length is not the visit's.
    this.onWire = undefined;
    // Under 'deferred' arrival the wearer's spot does not carry over either: it comes back as it first came, when a
    // track's visit ends (advanceDeferred), so the change need not wait for the wearer to leave (showsWearer).
    const fresh = !this.deferred && this.wearer && this.shadow.spot === this.wearer.spot ? this.tracks.slice(1) : this.tracks;
    if (this.holdAcross) this.heldAcross = this.wearer?.spot ?? this.left?.spot;
    this.opening = this.holdOpening;
    // startStationary is for the device's start only. A new identity's shadow placed at once where the wearer stands
    // put a spot next to the old identity's last one in the new identity's first query (the walk from one to the
    // other); the deferred arrival lets the wearer's spot enter as any track's move does (decision 63).
    for (const track of fresh) track.spot = -1;
    for (const track of fresh) {
      const drawn = this.model.drawStart(this.random);
      track.spot = this.takenSpots(track).has(drawn) ? this.nearestFree(drawn) : drawn;
      track.previous = -1;
      // A new identity's phantoms are new people.
      if (track !== this.shadow) track.pace = this.drawPace();
      // A walking shadow holds its new spot until then and moves on as it does after any held spot (advanceWalkingShadow).
      track.until = now + this.visitLength(track, true);
    }
  }

  /**
   * The wearer's spot is on the wire (the server's last query showed it in a run of real queries), or the wearer had
   * a real query within `leaveAfterMs` and may be back at it (a glance away). Identity rotation waits until neither
   * holds: the wearer's spot was the one thing a new identity's first queries still shared with the old one's last
   * (decision 47). Never under 'deferred' arrival, where the wearer's spot does not carry over (decision 54).
   */
  showsWearer(): boolean {
    // Under 'deferred' arrival a new identity starts every track afresh, the wearer's included (newIdentity), so there
    // is nothing to wait for. Waiting made sessions with real queries outlive sessions without: the session's length
    // told real from dummy at AUC 0.63 in world 17 (decision 54).
    if (this.deferred) return false;
    const lastReal = this.wearer?.lastMs ?? this.left?.lastMs;
    return this.onWire !== undefined || (lastReal !== undefined && this.now() - lastReal <= this.leaveAfterMs);
  }

  /**
   * The device saw the wearer leave (a frame of no spot): the visit ends now, and the shadow moves on at the next
   * query instead of holding the spot for `leaveAfterMs` of silence. A shadow that always outlasts the wearer's last
   * real query by the silence it waits for gives real queries away: at a real query the wearer's spot is then always
   * shown for at least that much longer, while the other tracks may move at any moment (the server's "time until the
   * freshest spot goes" feature; measured in docs/privacy.md, "Letting go").
   */
  wearerLeft(): void {
    const now = Math.max(this.lastMs, this.now());
    this.lastMs = now;
    if (this.wearer) this.endVisit(this.wearer, now);
  }

  /**
   * A frame of `spotId` is ready to go out as a real query: may the query show that spot now? Always with 'immediate'
   * arrival. With 'deferred' the wearer is recorded as standing there either way, and the answer is yes once the shadow
   * stands on the spot: the first track whose visit ends goes there, as tracks move on, and becomes the shadow, rather
   * than a visit being cut short by the arrival (a track already standing there becomes the shadow at once, which
   * nothing on the wire shows).
   */
  mayShow(spotId: string): boolean {
    const map = this.model.map;
    if (!this.deferred || !map.has(spotId)) return true;
    const now = Math.max(this.lastMs, this.now());
    this.lastMs = now;
    const real = map.indexOf(spotId);
    this.followWearer(real, now, false);
    this.advance(now);
    return real !== this.heldAcross && this.shadow.spot === real;
  }

  /**
   * Where the wearer is, from the real queries alone; visits the wearer finished teach the dwell model. With
   * `placeShadow` the shadow goes to the wearer's spot at once (a real query is being built for it); without, under
   * 'deferred' arrival, it goes there at the next move of any track (advanceDeferred).
   */
  private followWearer(real: number | undefined, now: number, placeShadow = true): void {
    const w = this.wearer;
    if (w && (real !== undefined ? real !== w.spot : now - w.lastMs > this.leaveAfterMs)) this.endVisit(w, Math.min(now, w.lastMs + this.leaveAfterMs));
    const left = this.left;
    if (left && ((real !== undefined && real !== left.spot) || now - left.lastMs > this.leaveAfterMs)) this.left = undefined;
    if (this.heldAcross !== undefined && this.wearer?.spot !== this.heldAcross && this.left?.spot !== this.heldAcross && real !== this.heldAcross) {
      this.heldAcross = undefined;
    }
    if (real === undefined) return;
    if (this.wearer) {
      this.wearer.lastMs = now;
    } else if (this.left) {
      // Back at the spot just left: a glance away, not a walk. The visit goes on from its first query.
      this.wearer = { ...this.left, lastMs: now };
      this.left = undefined;
    } else {
      this.wearer = { spot: real, firstMs: now, lastMs: now };
      // At the device's start the crowd begins "walking" only for want of knowing better: a wearer found at a spot
      // before the first query did not walk there.
      if (this.walking && !(this.startStationary && this.unbuilt)) {
        this.walks.observe(now - this.walking.sinceMs);
        this.remember();
      }
      if (this.lastVisitSpot >= 0) this.hops?.observe(this.lastVisitSpot, real);
    }
    this.walking = undefined;
    // The spot the wearer stood at across an identity change: no track brings it until the wearer has left it.
    if (real === this.heldAcross) return;
    const shadow = this.shadow;
    if (shadow.spot === real) {
      shadow.until = Infinity;
      this.opening = false;
      return;
    }
    const standing = this.tracks.find((t) => t !== shadow && t.spot === real);
    if (this.deferred && standing) {
      // The track already shown there becomes the shadow, and the shadow goes on as that person.
      this.relieveShadow(standing);
      this.shadow.until = Infinity;
      this.opening = false;
      return;
    }
    // A session that has shown nothing yet starts with the shadow where the wearer stands (startStationary).
    if (this.deferred && !placeShadow && !(this.startStationary && this.unbuilt)) return;
    shadow.previous = shadow.spot;
    shadow.spot = real;
    shadow.until = Infinity;
    this.opening = false;
    // A track standing where the wearer arrives steps to the nearest free spot and stays there for the rest of its
    // visit, rather than being shown there only until the wearer leaves and then back (see moveOn).
    if (standing) {
      standing.previous = standing.spot;
      standing.spot = this.nearestFree(real);
    }
  }

  /**
   * The visit ended at its last real query, and the shadow lets go. Coming back to the spot within `leaveAfterMs` is a
   * glance away (a frame the region gate turned away: blur, the ground), not a walk and a new visit: it teaches
   * neither the walks nor the hops.
   */
  private endVisit(w: Visit, shadowUntil: number): void {
    this.lastVisitSpot = w.spot;
    this.left = w;
    this.wearer = undefined;
    // Under 'deferred' arrival a visit may end before the shadow came; its phantom visit then goes on as drawn.
    if (!this.deferred || this.shadow.spot === w.spot) this.shadow.until = shadowUntil;
    this.walking = { sinceMs: shadowUntil, visitSinceMs: shadowUntil, checkedMs: shadowUntil };
  }

  /**
   * What left the device: the wearer's visits are learned as the server saw them, from the first to the last real
   * query of the spot's run through the queries sent, so a visit ends only where the server saw the spot go. The
   * other tracks' visits are drawn from those lengths, so at a real query the wearer's time at the spot is distributed
   * as a track's age at a random moment (decision 21; measured: adding the shadow's leaveAfterMs made the wearer
   * fresher, 0.32 → 0.36 at k = 4; counting from when the spot went on show, a track there before the wearer included,
   * made it fresher too in a toy world, 0.31 → 0.35). Learned from the device's own view instead — cut at every frame
   * the gate turned away — visits were a third of what the wire showed (median 3 s against 12 s: real queries fill a
   * visit's slots, so a glance rarely shows), every phantom's visit as short, and the wearer's spot the one shown
   * longest (docs/privacy.md, "Glances away"; decision 44).
   */
  shown(spots: readonly string[], realSpot: string | undefined, at: number): void {
    const run = this.onWire;
    if (run && (!spots.includes(run.spot) || (realSpot !== undefined && realSpot !== run.spot))) {
      this.onWire = undefined;
      this.dwell.observe(Math.max(MIN_VISIT_MS, run.lastRealMs - run.sinceMs));
      this.remember();
    }
    if (realSpot === undefined) return;
    if (this.onWire) this.onWire.lastRealMs = at;
    else this.onWire = { spot: realSpot, sinceMs: at, lastRealMs: at };
  }

  private advance(now: number): void {
    if (this.deferred) {
      this.advanceDeferred(now);
      return;
    }
    for (const track of this.tracks) {
      if (track === this.shadow && this.walking && this.offsetArrival) {
        this.advanceWalkingShadow(now, this.walking);
        continue;
      }
      while (track.until <= now) {
        this.moveOn(track);
        track.until += this.visitLength(track, false);
      }
    }
  }

  /**
   * Every track under 'deferred' arrival, its moves taken in the order they fall due: each moves on when its visit
   * ends, and the first to move while the wearer stands at a spot not shown yet moves there and becomes the shadow
   * (the shadow it relieves goes on as that track's person). The spot holds until the wearer leaves (endVisit).
   * Waiting for the shadow's own move instead kept the wearer's spot off the wire for a whole phantom visit, longest
   * just after an identity change, where every track starts part-way: real queries crowded into older sessions and
   * the server read them from the session's age (decision 52, world 17: real share 0.15 in a session's first 30 s
   * against 0.27 after 2 min).
   */
  private advanceDeferred(now: number): void {
    for (;;) {
      let due: Track | undefined;
      for (const track of this.tracks) if (track.until <= now && (!due || track.until < due.until)) due = track;
      if (!due) return;
      const w = this.wearer;
      // In the opening only the shadow's own move brings the wearer's spot; whatever it does, the opening ends with it.
      const mayBring = !this.opening || due === this.shadow;
      if (due === this.shadow) this.opening = false;
      if (w && this.shadow.spot !== w.spot && w.spot !== this.heldAcross && mayBring) {
        this.relieveShadow(due);
        this.shadow.previous = this.shadow.spot;
        this.shadow.spot = w.spot;
        this.shadow.until = Infinity;
        continue;
      }
      this.moveOn(due);
      due.until += this.visitLength(due, false);
    }
  }

  /** `track`'s person becomes the wearer's shadow, and the shadow's goes on where `track` stood, at `track`'s pace. */
  private relieveShadow(track: Track): void {
    const shadow = this.shadow;
    if (track === shadow) return;
    const { spot, previous, until, pace } = track;
    Object.assign(track, { spot: shadow.spot, previous: shadow.previous, until: shadow.until, pace });
    Object.assign(shadow, { spot, previous, until, pace: 0 });
  }

  /**
   * The shadow while the wearer walks: it first holds the spot it shows until its moment to move (the wearer's
   * visit, or at the start a track's visit), then shows phantom visits. Those are cut short by the wearer's arrival,
   * which comes at the rate of the wearer's walks; so each phantom visit ends on its own at the rate visits end
   * less that arrival rate (never below 0), and with the arrival the shadow moves at the rate every track does.
   * Drawn in steps of HAZARD_STEP_MS.
   */
  private advanceWalkingShadow(now: number, walking: { sinceMs: number; visitSinceMs: number; checkedMs: number }): void {
    const shadow = this.shadow;
    if (shadow.until !== Infinity) {
      if (shadow.until > now) return;
      this.moveOn(shadow);
      walking.visitSinceMs = walking.checkedMs = shadow.until;
      shadow.until = Infinity;
    }
    for (let t = walking.checkedMs; t < now; ) {
      const step = Math.min(HAZARD_STEP_MS, now - t);
      const mid = t + step / 2;
      const rate = Math.max(0, this.dwell.hazard(mid - walking.visitSinceMs) - this.walks.hazard(mid - walking.sinceMs));
      t += step;
      if (this.random.next() < -Math.expm1(-rate * step)) {
        this.moveOn(shadow);
        walking.visitSinceMs = t;
      }
    }
    walking.checkedMs = Math.max(walking.checkedMs, now);
  }

  private drawPace(): number {
    return this.paceSigma > 0 ? this.random.normal() : 0;
  }

  /** A visit of this track (`inProgress`: the rest of one found going), at its person's pace. */
  private visitLength(track: Track, inProgress: boolean): number {
    const length = inProgress ? this.dwell.drawInProgress(this.random) : this.dwell.draw(this.random);
    // Drawing at quantiles kept alike per track instead (a Gaussian copula: each visit exactly as long as the
    // lengths learned, only alike within a track) measured worse in the toy world: rhythm 0.30, stalest 0.31-0.34.
    return track.pace === 0 ? length : Math.exp(this.paceSigma * track.pace) * length;
  }

  /** Habits saved on an earlier day, learned again in their order (the prior still weighs in as for any visits). */
  private recall(saved: WearerHabits | undefined): void {
    if (!saved) return;
    for (const ms of saved.visitsMs) this.dwell.observe(ms);
    for (const ms of saved.walksMs) this.walks.observe(ms);
  }

  private remember(): void {
    this.habits?.saveHabits({ visitsMs: this.dwell.lengths(), walksMs: this.walks.lengths() });
  }

  /**
   * A track's next spot, never one another track or the wearer stands at. Tracks that met used to be shown apart
   * (one at the nearest free spot) only while they met, which only phantom tracks suffered: the wearer's spot is
   * always shown first (decision 43; measured, it did not change the figures or the phantoms' short runs).
   */
  private moveOn(track: Track): void {
    const taken = this.takenSpots(track);
    const next = (this.hops?.model ?? this.model).drawNext(track.spot, track.previous, this.random, (i) => taken.has(i));
    track.previous = track.spot;
    track.spot = next;
  }

  /** The spots the wearer and every track but `except` stand at. */
  private takenSpots(except?: Track): Set<number> {
    const taken = new Set(this.tracks.filter((t) => t !== except).map((t) => t.spot));
    if (this.wearer) taken.add(this.wearer.spot);
    return taken;
  }

  /** The free spot nearest `from` (from itself excluded), or `from` on a map with no free spot. */
  private nearestFree(from: number): number {
    const map = this.model.map;
    const taken = this.takenSpots();
    const free = map.nearest(map.x(from), map.y(from), (i) => i === from || taken.has(i));
    return free >= 0 ? free : from;
  }

  private now(): number {
    const ms = this.clock();
    if (!Number.isFinite(ms)) throw new RangeError(`the phantom clock returned ${ms}`);
    return ms;
  }
}
