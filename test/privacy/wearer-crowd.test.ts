import t from 'tap';
import { PhantomCrowd } from '../../daemon/privacy/phantoms.js';
import { seededRandom } from '../../daemon/util/random.js';
import { upperBound } from '../../daemon/util/upper-bound.js';
import type { DecoySpotPicker, HabitStore, WearerHabits } from '../../daemon/privacy/types.js';
import { WearerCrowd, WearerDwell, WearerHops } from '../../daemon/privacy/wearer-crowd.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { makeGallery } from './synthetic-gallery.js';
import { crossValidatedAuc, queryFeatureGroups, sessions, type QueryAnalysis } from '../../daemon/eval/adversaries.js';

const gallery = makeGallery({ seed: 41 });
const model = new WalkModel(gallery.spots);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

t.test('WearerDwell learns the wearer’s visit lengths and keeps a prior until it has', async (t) => {
  const random = seededRandom(42);
  const dwell = new WearerDwell({ medianMs: 30_000, sigma: 1.2 });
  const before = median(Array.from({ length: 2_000 }, () => dwell.draw(random)));
  for (let i = 0; i < 64; i++) dwell.observe(8_000 + 100 * (i % 5));
  const after = Array.from({ length: 2_000 }, () => dwell.draw(random));
  t.ok(Math.abs(before - 30_000) < 3_000, `prior median ${Math.round(before)} ms`);
  t.ok(Math.abs(median(after) - 8_200) < 1_500, `after 64 short visits the median is the wearer's (${Math.round(median(after))} ms)`);
  t.ok(after.filter((x) => x > 20_000).length / after.length < 0.15, 'the prior keeps only a small weight');
  dwell.observe(Number.NaN);
  dwell.observe(-5);
  t.equal(dwell.observed, 64, 'nonsense durations are ignored');
});

t.test('WearerDwell.hazard is the rate at which visits of its lengths end', async (t) => {
  const dwell = new WearerDwell({ medianMs: 20_000, sigma: 0.8 });
  // A log-normal's hazard at its median: density φ(0)/(σ·m) over survival 1/2.
  const atMedian = 2 / Math.sqrt(2 * Math.PI) / (0.8 * 20_000);
  t.ok(Math.abs(dwell.hazard(20_000) / atMedian - 1) < 1e-5, `hazard at the median ${dwell.hazard(20_000)} per ms`);
  // Against the lengths draw() gives: of the visits still going at 10 s, the share that ends within the next second.
  for (let i = 0; i < 40; i++) dwell.observe(5_000 + 500 * i);
  const random = seededRandom(7);
  const draws = Array.from({ length: 200_000 }, () => dwell.draw(random));
  const going = draws.filter((d) => d > 10_000);
  const ended = going.filter((d) => d <= 11_000).length / going.length;
  const predicted = 1 - Math.exp(-dwell.hazard(10_500) * 1_000);
  t.ok(Math.abs(ended - predicted) < 0.01, `ends within a second at 10 s: drawn ${ended.toFixed(4)}, from the hazard ${predicted.toFixed(4)}`);
  t.equal(dwell.hazard(0), 0);
  t.equal(dwell.hazard(Number.NaN), 0);
});

t.test('WearerHops learns how far the wearer goes and the tracks then move as far', async (t) => {
  const hops = new WearerHops(model);
  t.equal(hops.model, model, 'before any move the map’s own walk');
  const medianHop = (m: WalkModel, seed: number) => {
    const random = seededRandom(seed);
    const distances: number[] = [];
    let at = m.drawStart(random);
    let previous = -1;
    for (let i = 0; i < 2_000; i++) {
      const next = m.drawNext(at, previous, random);
      distances.push(m.map.distance(at, next));
      [previous, at] = [at, next];
    }
    return median(distances);
  };
  // A wearer who always walks to the nearest spot.
  const random = seededRandom(8);
  for (let i = 0; i < 24; i++) {
    const from = Math.floor(random.next() * model.map.size);
    hops.observe(from, model.map.nearest(model.map.x(from), model.map.y(from), (j) => j === from));
  }
  const before = medianHop(model, 9);
  const after = medianHop(hops.model, 9);
  t.comment(`median hop: map's walk ${before.toFixed(0)} m, learned ${after.toFixed(0)} m (λ ${model.params.lambdaM} → ${hops.model.params.lambdaM.toFixed(0)} m)`);
  t.ok(after < 0.7 * before, 'tracks hop shorter after a wearer who hops short');
  hops.observe(3, 3);
  hops.observe(-1, 2);
  t.equal(hops.observed, 24, 'no move and out-of-map indices are ignored');
});

t.test('WearerHops on a large region: the sampled normaliser fits the λ the exact sum does', async (t) => {
  const random = seededRandom(11);
  const spots = Array.from({ length: 3_000 }, (_, i) => ({ id: `s${i}`, x: 5_000 * random.next(), y: 5_000 * random.next(), popularity: 0.2 + random.next() }));
  const big = new WalkModel(spots);
  const wearer = new WalkModel(big.map, { lambdaM: 80 });
  const hops = new WearerHops(big);
  const moves: [number, number][] = [];
  for (let i = 0; i < 20; i++) {
    const from = Math.floor(random.next() * big.map.size);
    const to = wearer.drawNext(from, -1, random);
    moves.push([from, to]);
    hops.observe(from, to);
  }
  // The exact posterior mode on the same grid.
  const exact = (lambda: number) => {
    const z = Math.log(lambda / 300);
    let score = -0.5 * z * z;
    for (const [from, to] of moves) {
      let total = 0;
      for (let j = 0; j < big.map.size; j++) if (j !== from) total += big.map.popularity(j) * Math.exp(-big.map.distance(from, j) / lambda);
      score += Math.log(big.map.popularity(to)) - big.map.distance(from, to) / lambda - Math.log(total);
    }
    return score;
  };
  const grid = Array.from({ length: 31 }, (_, g) => 300 * Math.exp(3 * ((2 * g) / 30 - 1)));
  const best = grid.reduce((a, b) => (exact(b) > exact(a) ? b : a));
  const fitted = hops.model.params.lambdaM;
  t.comment(`λ fitted ${fitted.toFixed(1)} m, exact ${best.toFixed(1)} m (moves drawn with λ 80 m, prior 300 m)`);
  t.ok(Math.abs(Math.log(fitted / best)) <= 0.21, 'within one grid step of the exact fit');
  t.ok(fitted < 150, 'and well away from the prior');
});

interface Habit {
  /** Visit and walk lengths, ms, drawn uniformly in these ranges. */
  visitMs: [number, number];
  walkMs: [number, number];
  /** Slots, one a second. */
  slots: number;
  /** Which track age the attack reads: the spot that appeared most recently, or the one shown longest. */
  attack: 'freshest' | 'stalest';
  /**
   * Share of a visit's slots in which the camera shows no spot (blur, a glance at the ground): the device calls
   * wearerLeft(). Default 0.
   */
  glance?: number;
  /**
   * Whether the slot of a glance carries a dummy (a camera of one frame a slot) or still the real query of the next
   * frame, which comes before the slot (a faster camera, as the evaluation's). Default true.
   */
  glanceShows?: boolean;
}

/** A wearer who stands at a spot for 8–30 s, walks 20–60 s and stands at a nearby spot again, for four hours. */
const COMMUTER: Habit = { visitMs: [8_000, 30_000], walkMs: [20_000, 60_000], slots: 4 * 3_600, attack: 'freshest' };

/**
 * A wearer who keeps to `habit` (walking: frames of no spot, no query), one slot a second. At each real query: is the
 * wearer's spot the one the attack picks among the k shown, by when each appeared? Chance is 1/k.
 */
function trackAttackHits(crowd: DecoySpotPicker, k: number, seed: number, habit: Habit = COMMUTER): { hits: number; reals: number } {
  const random = seededRandom(seed);
  const between = ([lo, hi]: [number, number]) => lo + (hi - lo) * random.next();
  let now = 0;
  let spot = model.drawStart(random);
  let previous = -1;
  // The device starts part-way through a visit (the part left of a visit met at a random moment, roughly).
  let dwellUntil = between(habit.visitMs) * random.next();
  let walkingUntil = -1;
  const firstSeen = new Map<string, number>();
  let shownBefore = new Set<string>();
  let hits = 0;
  let reals = 0;
  for (let slot = 0; slot < habit.slots; slot++) {
    now = slot * 1_000;
    if (walkingUntil < 0 && now >= dwellUntil) walkingUntil = now + between(habit.walkMs);
    if (walkingUntil >= 0 && now >= walkingUntil) {
      const next = model.drawNext(spot, previous, random);
      previous = spot;
      spot = next;
      walkingUntil = -1;
      dwellUntil = now + between(habit.visitMs);
    }
    const glancing = walkingUntil < 0 && random.next() < (habit.glance ?? 0);
    if (glancing) crowd.wearerLeft?.();
    const real = walkingUntil < 0 && !(glancing && (habit.glanceShows ?? true)) ? model.map.id(spot) : undefined;
    const shown = real ? [...crowd.pickDecoySpots(k - 1, new Set([real])), real] : crowd.pickDecoySpots(k, new Set());
    crowd.shown?.(shown, real, now);
    for (const s of shown) if (!shownBefore.has(s)) firstSeen.set(s, now);
    shownBefore = new Set(shown);
    if (real) {
      reals++;
      const ages = shown.map((s) => firstSeen.get(s)!);
      const picked = habit.attack === 'freshest' ? Math.max(...ages) : Math.min(...ages);
      const tied = shown.filter((s) => firstSeen.get(s) === picked);
      if (tied.includes(real)) hits += 1 / tied.length;
    }
  }
  return { hits, reals };
}

function freshestIsWearer(crowd: DecoySpotPicker, k: number, seed: number): number {
  const { hits, reals } = trackAttackHits(crowd, k, seed);
  return hits / reals;
}

t.test('the wearer is not the freshest track: tracks visit as long as the wearer does', async (t) => {
  const k = 4;
  const clockOf = () => {
    let now = 0;
    return { set: (ms: number) => (now = ms), clock: () => now };
  };
  const measure = (make: (clock: () => number) => DecoySpotPicker, seed: number) => {
    const c = clockOf();
    const crowd = make(c.clock);
    // The picker reads the clock; the simulation moves it slot by slot through a wrapper.
    let slot = 0;
    const timed: DecoySpotPicker = {
      pickDecoySpots: (n, exclude) => {
        c.set(slot++ * 1_000);
        return crowd.pickDecoySpots(n, exclude);
      },
      shown: (spots, real, at) => crowd.shown?.(spots, real, at),
    };
    return freshestIsWearer(timed, k, seed);
  };
  const phantoms = measure((clock) => new PhantomCrowd({ map: model, walkers: k, random: seededRandom(43), clock }), 44);
  const wearer = measure((clock) => new WearerCrowd({ map: model, tracks: k, random: seededRandom(45), clock }), 44);
  t.comment(`freshest component is the wearer's: fixed walk model ${phantoms.toFixed(3)}, wearer-like tracks ${wearer.toFixed(3)} (chance ${1 / k})`);
  t.ok(phantoms > 0.5, 'phantoms with minutes-long dwells give the short-visit wearer away');
  t.ok(wearer < 1 / k + 0.08, 'tracks that learn the wearer’s visits keep the attack near chance');
});

t.test('a real query shows the wearer in place of the shadow; a dummy shows every track', async (t) => {
  let now = 0;
  const crowd = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(46), clock: () => now });
  const real = gallery.spots[17].id;
  const first = crowd.pickDecoySpots(3, new Set([real]));
  t.equal(first.length, 3);
  t.notOk(first.includes(real), 'decoys never show the real spot');
  crowd.shown([...first, real], real, now);
  now += 1_000;
  const dummy = crowd.pickDecoySpots(4, new Set());
  t.ok(dummy.includes(real), 'a second later the wearer’s shadow holds the wearer’s spot in the dummy');
  crowd.shown(dummy, undefined, now);
  now += 60_000;
  const later = crowd.pickDecoySpots(4, new Set());
  t.equal(crowd.dwell.observed, 0, 'a query built is not one sent: nothing is learned from it');
  crowd.shown(later, undefined, now);
  t.notOk(later.includes(real), 'after a minute with no real query the shadow has moved on');
  t.equal(crowd.dwell.observed, 1, 'and once the server was shown that, the dwell model learned the visit');
  t.throws(() => crowd.pickDecoySpots(5, new Set()), /tracks/);
});

interface WalkingWearers {
  /** Whether the device tells the crowd when the camera shows no spot (wearerLeft). */
  told: boolean;
  offsetArrival?: boolean;
  /** Median walk between spots, ms. Default 30 s. */
  walkMs?: number;
  wearers?: number;
  slots?: number;
  seed?: number;
}

/**
 * Wearers who visit spots (a real query in 85 % of the slots there, visits of median 25 s) and walk between them
 * (dummies only), one slot a second; each query as the server sees it, in order, with its real spot if it had one.
 */
function walkingWearers(options: WalkingWearers, onQuery: (wearer: number, now: number, shown: string[], real: string | undefined) => void): void {
  const k = 4;
  const { told, offsetArrival, walkMs = 30_000, wearers = 12, slots = 1_800, seed = 500 } = options;
  for (let s = 0; s < wearers; s++) {
    const random = seededRandom(seed + s);
    let now = 0;
    const crowd = new WearerCrowd({ map: model, tracks: k, random: seededRandom(seed + 100 + s), clock: () => now, offsetArrival });
    let spot = model.drawStart(random);
    let previous = -1;
    let atSpot = true;
    const visit = () => 25_000 * Math.exp(0.9 * random.normal());
    let phaseEnd = visit();
    for (let slot = 0; slot < slots; slot++) {
      now = slot * 1_000;
      while (now >= phaseEnd) {
        if (atSpot) phaseEnd += walkMs * Math.exp(0.8 * random.normal());
        else {
          [previous, spot] = [spot, model.drawNext(spot, previous, random)];
          phaseEnd += visit();
        }
        atSpot = !atSpot;
      }
      if (!atSpot && told) crowd.wearerLeft();
      const real = atSpot && random.next() < 0.85 ? model.map.id(spot) : undefined;
      const shown = real ? [real, ...crowd.pickDecoySpots(k - 1, new Set([real]))] : crowd.pickDecoySpots(k, new Set());
      crowd.shown(shown, real, now);
      onQuery(s, now, shown, real);
    }
  }
}

/**
 * The server's track classifier (the evaluation's own track features, trained on other sessions, held out by wearer)
 * on walkingWearers, with or without the device telling the crowd when the camera shows no spot (what the edge daemon
 * does when the region gate turns a frame away and the smoothing window holds no answer).
 */
function trackClassifierAuc(options: WalkingWearers): number {
  const analyses: QueryAnalysis[] = [];
  const labels: boolean[] = [];
  walkingWearers(options, (s, now, shown, real) => {
    analyses.push({ record: { t: now, reply_topic: `w${s}`, vector: [], topM: 0, candidates: [] }, components: shown.map((id) => ({ id, weight: 1 })), scores: [], residual: new Float64Array(0), residualNorm: 0 });
    labels.push(real !== undefined);
  });
  const features = queryFeatureGroups(analyses, undefined).map((g) => g.track.slice(1));
  return crossValidatedAuc(features, labels, [...sessions(analyses).values()], { random: seededRandom(options.seed ?? 500) });
}

/**
 * The leak of issue #9 the server reads from track timing: a shadow that holds the wearer's spot until `leaveAfterMs`
 * of silence after the last real query means that, at a real query, the wearer's spot always stays shown for at
 * least that long, while the other tracks may move at any moment. What remains comes from the wearer's arrival,
 * which cuts the shadow's visit short (docs/privacy.md, "Letting go").
 */
t.test('letting go when the camera shows no spot: track timing tells real queries from dummies less well', async (t) => {
  const silence = trackClassifierAuc({ told: false, offsetArrival: false });
  const told = trackClassifierAuc({ told: true, offsetArrival: false });
  t.comment(`track-timing classifier AUC (held out by wearer): shadow lets go after 5 s of silence ${silence.toFixed(3)}, when told ${told.toFixed(3)}`);
  t.ok(silence > 0.6, 'the leak is there when the shadow waits for silence');
  t.ok(told < silence - 0.03, 'and smaller when the device says the wearer left');
});

/**
 * The arrival: the wearer reaching a spot cuts the shadow's phantom visit short, so just before a real query a track
 * moves early. A walking shadow whose phantom visits end on their own at the visits' rate less the wearer's arrival
 * rate moves, arrival included, as every track does (docs/privacy.md, "Letting go").
 */
t.test('offsetting the arrival: the walking shadow moves as often as every track, and track timing tells less', async (t) => {
  const results = [10_000, 30_000, 90_000].map((walkMs) => {
    const opts = { told: true, walkMs, wearers: 16, slots: 3_600 };
    return { walkMs, before: trackClassifierAuc({ ...opts, offsetArrival: false }), after: trackClassifierAuc({ ...opts, offsetArrival: true }) };
  });
  for (const r of results) t.comment(`walks of ${r.walkMs / 1000} s: phantom visits cut by the arrival ${r.before.toFixed(3)}, arrival offset ${r.after.toFixed(3)}`);
  const [short, usual, long] = results;
  t.ok(usual.after < 0.53 && usual.after < usual.before - 0.03, 'with walks about as long as the visits, the arrival no longer shows');
  t.ok(short.after < short.before, 'with short walks it shows less');
  // Long walks: 0.502 → 0.549 here, 0.528 → 0.513 at another seed; with the walk lengths known exactly (no prior to
  // learn past) 0.520 and 0.473. Reported, not asserted: docs/privacy.md, "The arrival".
  t.comment(`long walks: ${long.before.toFixed(3)} → ${long.after.toFixed(3)}`);
});

/** A HabitStore in memory, counting saves (the device's is its gallery file, test/gallery). */
function memoryHabits(): HabitStore & { saves: number; saved?: WearerHabits } {
  return {
    saves: 0,
    loadHabits() {
      return this.saved && { visitsMs: [...this.saved.visitsMs], walksMs: [...this.saved.walksMs] };
    },
    saveHabits(habits: WearerHabits) {
      this.saves++;
      this.saved = habits;
    },
  };
}

t.test('WearerDwell.lengths gives what it keeps, oldest first, also once it wraps around', async (t) => {
  const dwell = new WearerDwell(undefined, 3);
  t.same(dwell.lengths(), []);
  for (const ms of [1_000, 2_000]) dwell.observe(ms);
  t.same(dwell.lengths(), [1_000, 2_000]);
  for (const ms of [3_000, 4_000, 5_000]) dwell.observe(ms);
  t.same(dwell.lengths(), [3_000, 4_000, 5_000]);
});

t.test('a wearer who lingers is not the stalest track, whether a day starts from the prior or from remembered habits', async (t) => {
  // Ten-minute days (the glasses are switched off in between) of a wearer who stays 1.5–4 minutes at a spot, against
  // a prior with a median of 30 s. Tracks started with a plain draw × uniform left within seconds, and the wearer,
  // already at a spot, was the stalest: 0.359 learning afresh each day, 0.292 remembering (drawInProgress's comment).
  // 120 days read 0.284–0.321 by seed (the same code); 240 days halve that spread.
  const k = 4;
  const lingerer: Habit = { visitMs: [90_000, 240_000], walkMs: [15_000, 45_000], slots: 600, attack: 'stalest' };
  const days = 240;
  const run = (store: HabitStore | undefined) => {
    const total = { hits: 0, reals: 0 };
    for (let day = 0; day < days; day++) {
      let now = 0;
      let slot = 0;
      const crowd = new WearerCrowd({ map: model, tracks: k, random: seededRandom(700 + day), clock: () => now, habits: store });
      const timed: DecoySpotPicker = {
        pickDecoySpots: (n, exclude) => {
          now = slot++ * 1_000;
          return crowd.pickDecoySpots(n, exclude);
        },
        shown: (spots, real, at) => crowd.shown(spots, real, at),
      };
      const { hits, reals } = trackAttackHits(timed, k, 800 + day, lingerer);
      // The first day has nothing to remember: both settings start from the prior.
      if (day === 0) continue;
      total.hits += hits;
      total.reals += reals;
    }
    return total.hits / total.reals;
  };
  const store = memoryHabits();
  const forgetting = run(undefined);
  const remembering = run(store);
  t.comment(`stalest component is the wearer's on days 2–${days}: learning afresh each day ${forgetting.toFixed(3)}, remembering ${remembering.toFixed(3)} (chance ${1 / k})`);
  t.ok(store.saves > days, `habits are saved as they are learned (${store.saves} saves)`);
  t.ok(median(store.saved!.visitsMs) >= 90_000, 'what is saved is the lengths the wearer keeps to');
  t.ok(forgetting < 1 / k + 0.06, 'a day that starts from the prior: near chance');
  t.ok(remembering < 1 / k + 0.06, 'a day that starts from remembered habits: near chance');
});

t.test('WearerDwell.drawInProgress is the time left of a visit met at a random moment', async (t) => {
  const dwell = new WearerDwell({ medianMs: 30_000, sigma: 1.2 });
  for (let i = 0; i < 10; i++) dwell.observe(100_000 + 10_000 * i);
  // Visits one after another, lengths from draw(), looked at at uniform moments: the time left of the visit then.
  const random = seededRandom(21);
  const ends: number[] = [];
  for (let t = 0; ends.length < 200_000; ) ends.push((t += dwell.draw(random)));
  const left: number[] = [];
  const horizon = ends[ends.length - 1];
  for (let i = 0; i < 20_000; i++) {
    const at = horizon * random.next();
    left.push(ends[upperBound(ends, at)] - at);
  }
  const drawn = Array.from({ length: 20_000 }, () => dwell.drawInProgress(random));
  const plain = Array.from({ length: 20_000 }, () => dwell.draw(random) * random.next());
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * xs.length)];
  for (const p of [0.25, 0.5, 0.75]) {
    t.comment(`q${p * 100}: met at random ${(q(left, p) / 1000).toFixed(1)} s, drawInProgress ${(q(drawn, p) / 1000).toFixed(1)} s, draw × uniform ${(q(plain, p) / 1000).toFixed(1)} s`);
    t.ok(Math.abs(Math.log(q(drawn, p) / q(left, p))) < 0.1, `quantile ${p} within 10 %`);
  }
  t.ok(q(plain, 0.5) < 0.6 * q(left, 0.5), 'a plain draw × uniform leaves far too early');
});

t.test('WearerCrowd starts from the habits it finds and ignores none it does not', async (t) => {
  const store = memoryHabits();
  store.saved = { visitsMs: [120_000, 150_000, 180_000], walksMs: [25_000] };
  const crowd = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(9), clock: () => 0, habits: store });
  t.same(crowd.dwell.lengths(), [120_000, 150_000, 180_000]);
  t.same(crowd.walks.lengths(), [25_000]);
  t.equal(store.saves, 0, 'nothing is saved before something is learned');
  const fresh = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(9), clock: () => 0, habits: memoryHabits() });
  t.equal(fresh.dwell.observed, 0, 'an empty store starts from the prior');
});

t.test('tracks never meet: a move avoids the spots others hold (decision 43)', async (t) => {
  // drawNext with an avoid test never lands on an avoided spot while a free one exists, and ignores it otherwise.
  const small = new WalkModel(makeGallery({ seed: 43, spots: 8 }).spots);
  const random = seededRandom(44);
  let landed = 0;
  for (let n = 0; n < 200; n++) {
    const from = n % 8;
    const next = small.drawNext(from, -1, random, (i) => i % 2 === 0);
    if (next % 2 === 0 || next === from) landed++;
  }
  t.equal(landed, 0, 'never on an avoided spot or the spot itself, while free ones exist');
  t.not(small.drawNext(0, -1, random, () => true), 0, 'everything avoided: a plain draw, never the spot itself');

  // Four tracks on eight spots would meet often; they are kept apart (read from the crowd's own state: what is
  // shown hides a meeting by showing one of the two at the nearest free spot).
  let now = 0;
  const crowd = new WearerCrowd({ map: small, tracks: 4, random: seededRandom(45), clock: () => now });
  const tracks = (crowd as unknown as { tracks: { spot: number }[] }).tracks;
  let met = 0;
  let repeated = 0;
  for (let slot = 0; slot < 3_600; slot++) {
    now = slot * 1_000;
    const real = slot % 300 < 60 ? small.map.id(slot % 8) : undefined;
    const shown = real ? crowd.pickDecoySpots(3, new Set([real])) : crowd.pickDecoySpots(4, new Set());
    if (new Set(shown).size < shown.length) repeated++;
    if (new Set(tracks.map((x) => x.spot)).size < tracks.length) met++;
  }
  t.equal(repeated, 0, 'every query shows distinct spots');
  // Measured before decision 43 (same seeds): tracks shared a spot in 2,332 of the 3,600 slots.
  t.equal(met, 0, `no two tracks ever stand on one spot (${met} of 3,600 slots)`);
});

t.test('glances away inside a visit: tracks visit as long as the server sees the wearer do', async (t) => {
  // Visits of 8–30 s in which one frame in five shows no spot. Each such frame ends the visit on the device (the shadow
  // lets go) and the wearer is back a slot later. Whether the server sees the break depends on the camera: with one
  // frame a slot the glance's slot carries a dummy; with a faster camera the next frame's real query takes the slot
  // and the break never shows (the evaluation: the wire showed the wearer's visits at a median of 12 s, while the
  // device, learning first to last real query cut at each glance, learned 3 s; decision 44).
  const k = 4;
  // Four wearers of two hours each: one wearer's figure moves by ±0.04 with the seed.
  const measure = (habit: Partial<Habit>, seed: number, wearers = 4) => {
    const total = { stalest: 0, freshest: 0, reals: 0 };
    const learned: number[] = [];
    for (let wearer = 0; wearer < wearers; wearer++) {
      for (const attack of ['stalest', 'freshest'] as const) {
        let now = 0;
        let slot = 0;
        const crowd = new WearerCrowd({ map: model, tracks: k, random: seededRandom(seed + 10 * wearer), clock: () => now });
        const timed: DecoySpotPicker = {
          pickDecoySpots: (n, exclude) => {
            now = slot++ * 1_000;
            return crowd.pickDecoySpots(n, exclude);
          },
          wearerLeft: () => crowd.wearerLeft(),
          shown: (spots, real, at) => crowd.shown(spots, real, at),
        };
        const { hits, reals } = trackAttackHits(timed, k, seed + 10 * wearer + 1, { ...COMMUTER, slots: 2 * 3_600, ...habit, attack });
        total[attack] += hits;
        if (attack === 'stalest') {
          total.reals += reals;
          learned.push(median(crowd.dwell.lengths()));
        }
      }
    }
    return { stalest: total.stalest / total.reals, freshest: total.freshest / total.reals, learned: median(learned) };
  };
  const describe = (name: string, m: ReturnType<typeof measure>) =>
    `${name}: learned visit median ${(m.learned / 1000).toFixed(1)} s; the wearer is the stalest component ${m.stalest.toFixed(3)}, the freshest ${m.freshest.toFixed(3)} (chance ${1 / k})`;
  const steady = measure({}, 901);
  const hidden = measure({ glance: 0.2, glanceShows: false }, 901);
  t.comment(describe('no glances', steady));
  t.comment(describe('glances hidden', hidden));
  // Before decision 44 (learned first to last real query, cut at each glance), one wearer: 2.0 s, stalest 0.127.
  t.ok(hidden.learned >= 12_000, 'a glance the server never saw does not cut the visit learned');
  t.ok(Math.abs(hidden.stalest - steady.stalest) < 0.05 && Math.abs(hidden.freshest - steady.freshest) < 0.05, 'glances the server never saw leave the track attacks where a wearer without glances has them');
  // Known leak, measured here and not asserted: where a glance's slot carries a dummy, the wearer's spot goes for a
  // slot and comes back, which no track does (docs/privacy.md, "Glances away").
  t.comment(describe('glances shown', measure({ glance: 0.2, glanceShows: true }, 901, 1)));
});

t.test('a new identity: the phantom tracks start afresh, and only the wearer’s own spot carries over', async (t) => {
  // A commuter's day with an identity change every three minutes and a 30 s pause: the spots the last query of an
  // identity shows beside the wearer's, against the first query of the next. Tracks that carried over let a server
  // link identities by the spots they share (the evaluation: 0.82–0.90 of rotations, chance 0.11–0.12).
  const k = 4;
  const shared = (rotate: boolean) => {
    const random = seededRandom(950);
    let now = 0;
    const crowd = new WearerCrowd({ map: model, tracks: k, random: seededRandom(951), clock: () => now });
    let spot = model.drawStart(random);
    let counted = 0;
    let phantomsShared = 0;
    let wearerShared = 0;
    let last: string[] = [];
    for (let slot = 0; slot < 6 * 3_600; slot++) {
      now = slot * 1_000;
      if (slot % 40 === 0) spot = model.drawNext(spot, -1, random);
      const first = slot > 0 && slot % 210 === 0;
      if (first) {
        // Thirty slots of silence, then the new identity.
        slot += 30;
        now = slot * 1_000;
        if (rotate) crowd.newIdentity();
      }
      const real = model.map.id(spot);
      const shown = crowd.pickDecoySpots(k - 1, new Set([real]));
      crowd.shown([...shown, real], real, now);
      if (first) {
        counted++;
        phantomsShared += shown.filter((id) => last.includes(id)).length;
        if (last.includes(real)) wearerShared++;
      }
      last = [...shown, real];
    }
    return { phantoms: phantomsShared / counted, wearer: wearerShared / counted };
  };
  const carried = shared(false);
  const fresh = shared(true);
  t.comment(`phantom spots shared by an identity's last query and the next one's first (of ${k - 1}): carried over ${carried.phantoms.toFixed(2)}, started afresh ${fresh.phantoms.toFixed(2)}; the wearer's spot ${carried.wearer.toFixed(2)} / ${fresh.wearer.toFixed(2)}`);
  t.ok(carried.phantoms > 0.8, 'tracks that carry over show the old identity’s spots in the new one’s first query');
  t.ok(fresh.phantoms < 0.3, 'started afresh, they share about what popular spots share by chance');
});

t.test('showsWearer: while the wire shows the wearer’s spot, or a real query was seconds ago; not once the wearer has walked on', async (t) => {
  let now = 0;
  const crowd = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(61), clock: () => now, leaveAfterMs: 5_000 });
  const send = (real: string | undefined) => {
    const shown = real ? [...crowd.pickDecoySpots(3, new Set([real])), real] : crowd.pickDecoySpots(4, new Set());
    crowd.shown(shown, real, now);
    return shown;
  };
  t.notOk(crowd.showsWearer(), 'before any real query');
  const spot = gallery.spots[5].id;
  for (; now < 10_000; now += 1_000) send(spot);
  t.ok(crowd.showsWearer(), 'during a visit');
  crowd.wearerLeft();
  now += 1_000;
  t.ok(crowd.showsWearer(), 'a glance away: the wearer may be back at once');
  let shown = send(undefined);
  t.notOk(shown.includes(spot), 'the shadow let go at the next query');
  t.ok(crowd.showsWearer(), 'still within leaveAfterMs of the last real query');
  for (now += 1_000; now <= 16_000; now += 1_000) shown = send(undefined);
  t.notOk(crowd.showsWearer(), 'walked on: the spot is off the wire and the last real query is past leaveAfterMs');
});

/**
 * Identity rotation against a server that links identities by the spots they share (decision 47): wearers who visit
 * spots and walk a few seconds between them (as the evaluation's do), a change due every three minutes and a pause of
 * 5–45 s; the spots an identity's last query and the next one's first share, the change made at once or once the
 * queries no longer show the wearer's spot (what IdentityRotation waits for).
 */
t.test('a change made once the wearer’s spot is off the wire: the identities share fewer spots', async (t) => {
  const k = 4;
  const measure = (wait: boolean) => {
    let changes = 0;
    let sharedSpots = 0;
    let anyShared = 0;
    for (let w = 0; w < 24; w++) {
      const random = seededRandom(1_200 + w);
      let now = 0;
      const crowd = new WearerCrowd({ map: model, tracks: k, random: seededRandom(1_300 + w), clock: () => now });
      let spot = model.drawStart(random);
      let previous = -1;
      let atSpot = true;
      let phaseEnd = 25_000 * Math.exp(0.9 * random.normal());
      let due = 180_000;
      let last: string[] = [];
      let pausedUntil = -1;
      for (let slot = 0; slot < 3 * 3_600; slot++) {
        now = slot * 1_000;
        while (now >= phaseEnd) {
          if (atSpot) phaseEnd += 8_000 * Math.exp(0.8 * random.normal());
          else {
            [previous, spot] = [spot, model.drawNext(spot, previous, random)];
            phaseEnd += 25_000 * Math.exp(0.9 * random.normal());
          }
          atSpot = !atSpot;
        }
        if (now < pausedUntil) continue;
        const resumed = pausedUntil >= 0;
        if (resumed) {
          crowd.newIdentity();
          pausedUntil = -1;
        }
        if (!atSpot) crowd.wearerLeft();
        const real = atSpot ? model.map.id(spot) : undefined;
        const shown = real ? [real, ...crowd.pickDecoySpots(k - 1, new Set([real]))] : crowd.pickDecoySpots(k, new Set());
        crowd.shown(shown, real, now);
        if (resumed) {
          changes++;
          const shared = shown.filter((id) => last.includes(id)).length;
          sharedSpots += shared;
          if (shared > 0) anyShared++;
        }
        last = shown;
        if (now >= due && (!wait || !crowd.showsWearer())) {
          pausedUntil = now + 5_000 + 40_000 * random.next();
          due = pausedUntil + 180_000;
        }
      }
    }
    return { changes, spots: sharedSpots / changes, any: anyShared / changes };
  };
  const atOnce = measure(false);
  const waited = measure(true);
  const line = (m: typeof atOnce) => `${m.spots.toFixed(2)} spots shared per change, any shared in ${m.any.toFixed(2)} (${m.changes} changes)`;
  t.comment(`changed at once: ${line(atOnce)}; once the wearer’s spot was off the wire: ${line(waited)}`);
  t.ok(waited.any < atOnce.any - 0.1, 'fewer changes leave a spot that links the two identities');
});
