import type { Random } from '../util/random.js';
import type { DecoySpotPicker } from './types.js';
import { crowdModel, type CrowdOptions } from './phantoms.js';
import type { WalkModel } from './walk-model.js';

export interface LockstepCrowdOptions extends CrowdOptions {
  /** Tracks the server sees: k for a k-mix, one of them the user's. */
  tracks: number;
}

/** A gap longer than this (ms) is not a walk from the last spot but a fresh start, as in `Walker`. */
const RESTART_AFTER_MS = 3_600_000;

/**
 * Phantom companions that move when, and only when, the user is seen to move (DESIGN §4; docs/decisions.md #14).
 *
 * The server sees k tracks: the spots each query's components show, linked across a session. The device knows its
 * user's spot only from real queries, so the user's track can only change at a real query — the first one at a
 * new spot. Phantoms walking on their own clocks change at any slot, and then "the component whose spot changed at
 * this real query" is the user's, at every arrival (measured with exact components, k = 4: 0.34 of real steps
 * named, against 1/k = 0.25). Phantoms that walk independently are also, at a real query, found in any phase of
 * their walk, while the user is always standing at a spot; the age of each track's spot tells them apart.
 *
 * So every track moves at the same instants: when a real query shows the user at a spot other than the one its
 * track holds, each phantom moves as well, to a spot drawn by `WalkModel.drawNextWithin` for the same elapsed
 * time — the gravity choice and the walking speed the path attack itself scores moves with, or a draw by
 * popularity when no spot is within walking reach (in the user's track such a move is a misrecognised frame).
 * When the user returns to the spot it held before (a misrecognised frame corrected), every phantom returns too.
 * Between moves, real and dummy queries alike show every track where it stands. Nothing identifies one track:
 * not the time of a move, not the age of a spot, not the shape of a move. What remains visible — that the k
 * tracks of one device move together — tells the server nothing about which of them is the user.
 *
 * What this costs: a device that is idle shows k tracks standing still, and the moment a user who was not
 * looking at anything reappears elsewhere, all k tracks jump at once (the session's tracks are then re-drawn
 * from scratch after an hour without a move, as a walker restarts).
 */
export class LockstepCrowd implements DecoySpotPicker {
  readonly model: WalkModel;
  private readonly random: Random;
  private readonly clock: () => number;
  /** Spot index each track shows; always pairwise distinct. */
  private readonly spots: number[];
  /** The spot each track showed before its current one (-1: none). */
  private readonly previous: number[];
  /** Which track is the user's. */
  private readonly user: number;
  /** Whether a real query has placed the user yet (before that its track is a random start like the others). */
  private located = false;
  private lastMoveMs: number;

  constructor(options: LockstepCrowdOptions) {
    const { tracks, random } = options;
    this.model = crowdModel(options, tracks, 'tracks');
    this.random = random;
    this.clock = options.clock ?? Date.now;
    this.lastMoveMs = this.now();
    this.spots = [];
    this.previous = new Array<number>(tracks).fill(-1);
    for (let t = 0; t < tracks; t++) this.spots.push(this.freeStart(new Set(this.spots)));
    this.user = random.int(tracks);
  }

  get size(): number {
    return this.spots.length;
  }

  /** The spot every track shows now, in track order, and which track is the user's. Ground truth; never sent. */
  tracks(): { spots: string[]; user: number } {
    return { spots: this.spots.map((s) => this.model.map.id(s)), user: this.user };
  }

  /**
   * `n` distinct spots, none in `exclude`. One excluded spot is read as "the user stands here" (a real query): the
   * user's track is moved there if it is not there already — and then every phantom moves with it — and the
   * phantoms' spots are returned. With nothing excluded (a dummy) every track's spot is returned, the user's
   * included. Any further excluded spot only makes a phantom standing on it step aside.
   */
  pickDecoySpots(n: number, exclude: ReadonlySet<string>): string[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`decoy count must be an integer >= 0, got ${n}`);
    const map = this.model.map;
    const excluded = new Set<number>();
    for (const id of exclude) if (map.has(id)) excluded.add(map.indexOf(id));
    const real = exclude.size === 1 && excluded.size === 1 ? [...excluded][0] : -1;
    const available = real >= 0 ? this.size - 1 : this.size;
    if (n > available) throw new RangeError(`${n} decoys need ${n} phantom tracks; the crowd has ${available}`);
    if (map.size - excluded.size < n) {
      throw new RangeError(`${n} decoys need ${n} spots besides the excluded ones; the spot map has ${map.size - excluded.size}`);
    }
    if (real >= 0 && (real !== this.spots[this.user] || !this.located)) this.moveAll(real);
    const picked: string[] = [];
    for (let t = 0; t < this.size && picked.length < n; t++) {
      if (real >= 0 && t === this.user) continue;
      if (excluded.has(this.spots[t])) this.stepAside(t, excluded);
      picked.push(map.id(this.spots[t]));
    }
    return picked;
  }

  /** The user was seen at `spot`: its track goes there and every other track moves at the same instant. */
  private moveAll(spot: number): void {
    const now = this.now();
    const elapsed = now - this.lastMoveMs;
    const restart = !this.located || elapsed > RESTART_AFTER_MS;
    const returning = !restart && spot === this.previous[this.user];
    const taken = new Set<number>([spot]);
    const next = this.spots.map((from, t) => {
      if (t === this.user) return spot;
      let to = -1;
      if (restart) to = this.freeStart(taken);
      else if (returning && this.previous[t] >= 0 && !taken.has(this.previous[t])) to = this.previous[t];
      else to = this.freeNext(from, this.previous[t], elapsed, taken);
      taken.add(to);
      return to;
    });
    next.forEach((to, t) => {
      this.previous[t] = restart ? -1 : this.spots[t];
      this.spots[t] = to;
    });
    this.located = true;
    this.lastMoveMs = now;
  }

  /** A walk-model move not onto a spot in `taken` (a few redraws, then the nearest free spot). */
  private freeNext(from: number, previous: number, elapsedMs: number, taken: ReadonlySet<number>): number {
    for (let attempt = 0; attempt < 16; attempt++) {
      const to = this.model.drawNextWithin(from, previous, elapsedMs, this.random);
      if (!taken.has(to) && to !== from) return to;
    }
    const map = this.model.map;
    return map.nearest(map.x(from), map.y(from), (i) => i === from || taken.has(i));
  }

  private freeStart(taken: ReadonlySet<number>): number {
    for (let attempt = 0; attempt < 16; attempt++) {
      const to = this.model.drawStart(this.random);
      if (!taken.has(to)) return to;
    }
    const map = this.model.map;
    for (let i = 0; i < map.size; i++) if (!taken.has(i)) return i;
    throw new RangeError('no free spot left on the spot map');
  }

  private stepAside(track: number, excluded: ReadonlySet<number>): void {
    const map = this.model.map;
    const from = this.spots[track];
    const blocked = (i: number) => excluded.has(i) || this.spots.includes(i);
    this.previous[track] = from;
    this.spots[track] = map.nearest(map.x(from), map.y(from), blocked);
  }

  private now(): number {
    const ms = this.clock();
    if (!Number.isFinite(ms)) throw new RangeError(`the phantom clock returned ${ms}`);
    return ms;
  }
}
