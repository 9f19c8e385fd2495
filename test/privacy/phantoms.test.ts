import t from 'tap';
import { DecoySynthesizer } from '../../daemon/privacy/decoys.js';
import { PhantomCrowd } from '../../daemon/privacy/phantoms.js';
import { seededRandom, type Random } from '../../daemon/util/random.js';
import { createTransform } from '../../daemon/privacy/transform.js';
import type { DecoySpotPicker } from '../../daemon/privacy/types.js';
import { SpotMap, Walker, WalkModel, type WalkSegment } from '../../daemon/privacy/walk-model.js';
import { mostLikelyPath } from '../../daemon/eval/attacks/path.js';
import { UserError } from '../../daemon/util/errors.js';
import { makeGallery } from './synthetic-gallery.js';

// 200 spots on a 1 km square with lognormal popularity: a town centre.
const gallery = makeGallery({ seed: 21 });
const model = new WalkModel(gallery.spots);
const map = model.map;
const { speedMin, speedMax, speedMedian, dwellSigma } = model.params;
const HOUR = 3_600_000;

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const dist = (a: string, b: string): number => map.distance(map.indexOf(a), map.indexOf(b));

/** Every segment `walkers` walkers plan over `hours`, walked by asking where they are once a minute. */
function simulate(walkers: number, hours: number, random: Random): WalkSegment[][] {
  return Array.from({ length: walkers }, () => {
    const log: WalkSegment[] = [];
    const walker = new Walker(model, random, { onSegment: (s) => log.push(s) });
    for (let ms = 0; ms <= hours * HOUR; ms += 60_000) walker.spotAt(ms);
    return log;
  });
}

const logs = simulate(20, 12, seededRandom(1));
const segments = logs.flat();

t.test('walkers walk at pedestrian speeds', async (t) => {
  const walks = segments.filter((s) => s.kind === 'walk' && s.endMs > s.startMs);
  const speeds = walks.map((s) => {
    const metres = Math.hypot(map.x(map.indexOf(s.spot)) - s.fromX, map.y(map.indexOf(s.spot)) - s.fromY);
    return metres / ((s.endMs - s.startMs) / 1000);
  });
  t.comment(`${walks.length} legs; speed median ${median(speeds).toFixed(3)} m/s, range ${Math.min(...speeds).toFixed(2)}..${Math.max(...speeds).toFixed(2)}`);
  t.ok(walks.length > 1000, 'enough legs to judge');
  t.ok(speeds.every((v) => v >= speedMin - 1e-9 && v <= speedMax + 1e-9), 'distance / time of every leg within the speed bounds');
  t.ok(Math.abs(median(speeds) - speedMedian) < 0.05, 'median speed is the configured one');
  const legs = walks.map((s) => Math.hypot(map.x(map.indexOf(s.spot)) - s.fromX, map.y(map.indexOf(s.spot)) - s.fromY));
  t.comment(`leg length median ${median(legs).toFixed(0)} m (lambda ${model.params.lambdaM} m)`);
  t.ok(median(legs) < model.params.lambdaM * 1.5, 'the gravity model keeps most legs short');
});

t.test('dwell times follow the configured lognormal, scaled by popularity', async (t) => {
  // The first dwell of each walker starts part-way through and the last is cut by the simulation's end.
  const dwells = logs.flatMap((log) => log.filter((s) => s.kind === 'dwell').slice(1, -1));
  const z = dwells.map((s) => Math.log((s.endMs - s.startMs) / model.dwellMedianMs(map.indexOf(s.spot))) / dwellSigma);
  t.comment(`${dwells.length} dwells; standardised log-dwell mean ${mean(z).toFixed(3)}, sd ${sd(z).toFixed(3)}`);
  t.ok(Math.abs(mean(z)) < 0.08, 'log-dwell centred on log of the spot median');
  t.ok(Math.abs(sd(z) - 1) < 0.08, 'log-dwell spread is dwellSigma');
  const below = z.filter((v) => v < -1).length / z.length;
  t.ok(Math.abs(below - 0.1587) < 0.03, `share below one sigma (${below.toFixed(3)}) is that of a normal`);
  // Busier spots hold people longer.
  const ranked = [...gallery.spots].sort((a, b) => a.popularity - b.popularity);
  t.ok(model.dwellMedianMs(map.indexOf(ranked[ranked.length - 1].id)) > 2 * model.dwellMedianMs(map.indexOf(ranked[0].id)));
});

t.test('popular spots are visited more, and nobody walks straight back', async (t) => {
  const arrivals = new Map<string, number>();
  for (const s of segments) if (s.kind === 'walk') arrivals.set(s.spot, (arrivals.get(s.spot) ?? 0) + 1);
  const ranked = [...gallery.spots].sort((a, b) => a.popularity - b.popularity);
  const quarter = ranked.length >> 2;
  const visits = (spots: typeof ranked) => mean(spots.map((s) => arrivals.get(s.id) ?? 0));
  const low = visits(ranked.slice(0, quarter));
  const high = visits(ranked.slice(-quarter));
  t.comment(`arrivals per spot: least popular quarter ${low.toFixed(1)}, most popular quarter ${high.toFixed(1)}`);
  t.ok(high > 3 * low);
  let returns = 0;
  for (const log of logs) {
    const walks = log.filter((s) => s.kind === 'walk');
    for (let i = 1; i < walks.length; i++) {
      const origin = map.nearest(walks[i].fromX, walks[i].fromY);
      if (walks[i].spot === map.id(map.nearest(walks[i - 1].fromX, walks[i - 1].fromY)) && map.id(origin) === walks[i - 1].spot) returns++;
    }
  }
  t.equal(returns, 0, 'no A → B → A legs');
});

t.test('over an hour, each phantom traces a path a pedestrian could walk', async (t) => {
  const k = 4;
  const random = seededRandom(2);
  let now = 0;
  const crowd = new PhantomCrowd({ map: model, walkers: k, random, clock: () => now });
  const randomPicker = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.7 }, random });
  type Sighting = { spot: string; x: number; y: number; ms: number };
  const tracks: Sighting[][] = Array.from({ length: k }, () => []);
  const randomTrack: Sighting[] = [];
  let mismatches = 0;
  for (now = 0; now <= HOUR; now += 20_000) {
    // A dummy asks for all k walkers, in walker order: track i is walker i.
    const picked = crowd.pickDecoySpots(k, new Set());
    crowd.positions().forEach((p, i) => {
      if (p.spot !== picked[i]) mismatches++;
      tracks[i].push({ ...p, ms: now });
    });
    // A random decoy taken at its word: standing at the spot it shows.
    const spot = randomPicker.pickDecoySpots(1, new Set())[0];
    randomTrack.push({ spot, x: map.x(map.indexOf(spot)), y: map.y(map.indexOf(spot)), ms: now });
  }
  t.equal(mismatches, 0, 'each pick is where that walker is (or was nudged to)');
  const off = (s: Sighting) => map.distanceTo(map.indexOf(s.spot), s.x, s.y);
  // Seen at A then at B: the walker covered at least |AB| minus how far it stood from each when seen.
  const jumps = (track: Sighting[]) =>
    track.filter((b, i) => {
      if (i === 0) return false;
      const a = track[i - 1];
      const allowed = speedMax * ((b.ms - a.ms) / 1000);
      return Math.hypot(b.x - a.x, b.y - a.y) > allowed + 1e-6 || dist(a.spot, b.spot) > allowed + off(a) + off(b) + 1e-6;
    }).length;
  const moves = (track: Sighting[]) => track.filter((s, i) => i > 0 && s.spot !== track[i - 1].spot).length;
  tracks.forEach((track, i) => {
    t.equal(jumps(track), 0, `phantom ${i}: no step longer than speed × elapsed allows (${moves(track)} moves)`);
  });
  t.ok(tracks.every((track) => moves(track) >= 3), 'the phantoms do move');
  t.comment(`a per-query random decoy jumps in ${jumps(randomTrack)} of ${randomTrack.length - 1} steps`);
  t.ok(jumps(randomTrack) > randomTrack.length * 0.8, 'the same check fails for per-query random decoys');
});

t.test('a walker is seen at the spot nearest to where it really is, and its position is continuous', async (t) => {
  const walker = new Walker(model, seededRandom(3));
  let last = walker.positionAt(0);
  let worst = 0;
  let notNearest = 0;
  for (let ms = 5_000; ms <= 2 * HOUR; ms += 5_000) {
    const p = walker.positionAt(ms);
    worst = Math.max(worst, Math.hypot(p.x - last.x, p.y - last.y) / 5);
    const seen = map.indexOf(walker.spotAt(ms));
    if (map.distanceTo(seen, p.x, p.y) > map.distanceTo(map.nearest(p.x, p.y), p.x, p.y)) notNearest++;
    last = p;
  }
  t.equal(notNearest, 0, 'always seen at the nearest spot');
  t.ok(worst <= speedMax + 1e-9, `fastest move between samples ${worst.toFixed(2)} m/s`);
  t.throws(() => walker.spotAt(0), /no longer knows/, 'the past is gone');
});

t.test('pickDecoySpots: distinct spots, never the excluded one', async (t) => {
  for (const [spots, k] of [[200, 4], [200, 8], [6, 5]] as const) {
    const g = spots === 200 ? gallery : makeGallery({ seed: 5, spots, clusters: 2 });
    const random = seededRandom(6 + k);
    let now = 0;
    const crowd = new PhantomCrowd({ map: g.spots, walkers: k, random, clock: () => now });
    const user = new Walker(crowd.model, random);
    let bad = 0;
    for (let i = 0; i < 1000; i++) {
      now += 30_000 * random.next();
      const real = user.spotAt(now);
      const decoys = crowd.pickDecoySpots(k - 1, new Set([real]));
      const dummy = crowd.pickDecoySpots(k, new Set());
      if (decoys.length !== k - 1 || new Set(decoys).size !== k - 1 || decoys.includes(real)) bad++;
      if (dummy.length !== k || new Set(dummy).size !== k) bad++;
    }
    t.equal(bad, 0, `${spots} spots, k = ${k}`);
  }
  const crowd = new PhantomCrowd({ map: model, walkers: 3, random: seededRandom(7), clock: () => 0 });
  t.throws(() => crowd.pickDecoySpots(4, new Set()), /4 decoys need 4 phantom walkers/);
  t.throws(() => crowd.pickDecoySpots(-1, new Set()), RangeError);
  t.throws(() => new PhantomCrowd({ map: gallery.spots.slice(0, 2), walkers: 3, random: seededRandom(1) }), /at least 3 spots/);
});

t.test('a phantom on a taken spot is shown at the other one', async (t) => {
  // Two spots 130 m apart: whichever phantom loses the shared spot is shown at the other.
  const spots = [
    { id: 'a', x: 0, y: 0, popularity: 1 },
    { id: 'b', x: 130, y: 0, popularity: 1 },
  ];
  const twoSpots = new WalkModel(spots, { dwellMedianMs: 10 * HOUR, dwellSigma: 0 });
  let now = 0;
  const crowd = new PhantomCrowd({ map: twoSpots, walkers: 2, random: seededRandom(8), clock: () => now });
  t.equal(crowd.positions().length, 2);
  const picked = crowd.pickDecoySpots(2, new Set());
  t.same([...picked].sort(), ['a', 'b'], 'two phantoms, two distinct spots');
  // A real user at 'a' with one decoy: the other walker must show 'b' (nudged if it stood at 'a').
  const decoy = crowd.pickDecoySpots(1, new Set(['a']));
  t.same(decoy, ['b']);
  now = 5 * 60_000;
  t.same([...crowd.pickDecoySpots(2, new Set())].sort(), ['a', 'b'], 'still distinct later');
});

t.test('walkers survive a clock jump of decades without walking them', async (t) => {
  const walker = new Walker(model, seededRandom(9), { atMs: 0 });
  const started = Date.now();
  const spot = walker.spotAt(Date.UTC(2030, 0, 1));
  t.ok(map.has(spot));
  t.ok(Date.now() - started < 1000, 'answered at once');
  t.throws(() => walker.advance(Number.NaN), /finite/);
});

/** Share of a real user's steps the path attack names correctly, over `trials` simulated hours. */
function pathAttack(k: number, picker: 'phantoms' | 'random', options: { trials: number; gapMs: number; realShare: number; seed: number }): number {
  let hits = 0;
  let steps = 0;
  for (let trial = 0; trial < options.trials; trial++) {
    const random = seededRandom(options.seed + trial);
    let now = 0;
    const user = new Walker(model, random);
    const decoys: DecoySpotPicker =
      picker === 'phantoms'
        ? new PhantomCrowd({ map: model, walkers: k, random, clock: () => now })
        : new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.7 }, random });
    const sets: string[][] = [];
    const times: number[] = [];
    const truth: (string | null)[] = [];
    while (now < HOUR) {
      now += -Math.log(1 - random.next()) * options.gapMs; // Poisson slots
      times.push(now);
      if (random.next() < options.realShare) {
        const real = user.spotAt(now);
        truth.push(real);
        sets.push(random.shuffle([real, ...decoys.pickDecoySpots(k - 1, new Set([real]))]));
      } else {
        user.advance(now);
        truth.push(null);
        sets.push(decoys.pickDecoySpots(k, new Set()));
      }
    }
    const path = mostLikelyPath(sets, times, model);
    truth.forEach((real, i) => {
      if (real === null) return;
      steps++;
      if (path[i] === real) hits++;
    });
  }
  return hits / steps;
}

t.test('the path attack finds the real path among random decoys, but not among phantoms', async (t) => {
  const k = 4;
  // Real queries only, one a minute on average, 200 simulated hours (one hour is one path: fewer hours are noisy).
  const realOnly = { trials: 200, gapMs: 60_000, realShare: 1, seed: 1000 };
  const phantoms = pathAttack(k, 'phantoms', realOnly);
  const random = pathAttack(k, 'random', realOnly);
  t.comment(`k = ${k}, real queries only: path attack recovers ${phantoms.toFixed(3)} of steps with phantoms, ${random.toFixed(3)} with random decoys (1/k = ${1 / k})`);
  t.ok(phantoms <= 1 / k + 0.05, 'phantoms: about 1/k');
  t.ok(phantoms >= 1 / k - 0.08, 'phantoms: the real path is not avoided either');
  t.ok(random >= 0.9, 'random decoys: the real path stands out');
  // Cover traffic: a slot every 20 s, a third of them real, the rest dummies from the same phantoms.
  const mixed = { trials: 60, gapMs: 20_000, realShare: 1 / 3, seed: 2000 };
  const phantomsMixed = pathAttack(k, 'phantoms', mixed);
  const randomMixed = pathAttack(k, 'random', mixed);
  t.comment(`k = ${k}, with dummies: ${phantomsMixed.toFixed(3)} with phantoms, ${randomMixed.toFixed(3)} with random decoys`);
  t.ok(phantomsMixed <= 1 / k + 0.05, 'phantoms with dummies: about 1/k');
  t.ok(randomMixed > phantomsMixed + 0.2, 'random decoys with dummies: still far easier');
});

t.test('mostLikelyPath follows a movement model and checks its input', async (t) => {
  // A walker's own path, padded with far-away spots, comes back whole.
  const random = seededRandom(11);
  const walker = new Walker(model, random);
  const times = Array.from({ length: 30 }, (_, i) => i * 60_000);
  const truth = times.map((ms) => walker.spotAt(ms));
  const sets = truth.map((s) => {
    const far = map.id(map.nearest(1000 - map.x(map.indexOf(s)), 1000 - map.y(map.indexOf(s))));
    return random.shuffle(far === s ? [s] : [s, far]);
  });
  t.same(mostLikelyPath(sets, times, model), truth);
  t.same(mostLikelyPath([], [], model), []);
  t.throws(() => mostLikelyPath([['spot-1']], [], model), /one time per candidate set/);
  t.throws(() => mostLikelyPath([['spot-1'], []], [0, 1], model), /set 1 is empty/);
  t.throws(() => mostLikelyPath([['spot-1'], ['spot-2']], [5, 1], model), /must not decrease/);
  t.ok(model.logTransition('spot-1', 'spot-1', 1000) > model.logTransition('spot-1', 'spot-1', HOUR), 'staying put gets less likely with time');
});

t.test('movement model input is validated', async (t) => {
  t.throws(() => new SpotMap([]), /no spots/);
  t.throws(() => new SpotMap([{ id: 'a', x: Number.NaN, y: 0, popularity: 1 }]), /"a" has non-finite coordinates/);
  t.throws(() => new SpotMap([{ id: 'a', x: 0, y: 0, popularity: 0 }]), /popularity 0/);
  t.throws(() => new SpotMap([{ id: 'a', x: 0, y: 0, popularity: 1 }, { id: 'a', x: 1, y: 0, popularity: 1 }]), /appears twice/);
  t.throws(() => new WalkModel(gallery.spots, { speedMedian: 5 }), /speedMin <= speedMedian <= speedMax/);
  t.throws(() => new WalkModel(gallery.spots, { lambdaM: 0 }), /lambdaM/);
  // A one-spot map: the walker stays.
  const lonely = new Walker(new WalkModel([{ id: 'only', x: 0, y: 0, popularity: 1 }]), seededRandom(1));
  t.equal(lonely.spotAt(10 * HOUR - 1), 'only');
});

t.test('createTransform uses phantoms by default and random decoys on request', async (t) => {
  const k = 4;
  const deps = (clock: () => number) => ({ pool: { spots: gallery.spots }, variation: { sigma: 0.7 }, random: seededRandom(12), clock });
  let now = 0;
  const phantom = createTransform({ kind: 'kmix', decoys: 'wearer', candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k }, deps(() => now));
  const d1 = phantom.dummy().decoySpots;
  const d2 = phantom.dummy().decoySpots;
  t.same([...d1].sort(), [...d2].sort(), 'phantoms do not move while the clock stands still');
  const f = gallery.photo('spot-3', seededRandom(13));
  const real = phantom.transform(f);
  t.equal(real.decoySpots.length, k - 1);
  t.notOk(real.decoySpots.includes('spot-3'));
  t.ok(real.decoySpots.every((s) => d1.includes(s)), 'a real query shows the phantoms the dummy showed, minus the user\'s stand-in');
  now = 2 * HOUR;
  t.notSame([...phantom.dummy().decoySpots].sort(), [...d1].sort(), 'two hours later they are elsewhere');

  const random = createTransform({ kind: 'kmix', candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k, decoys: 'random' }, deps(() => 0));
  t.notSame([...random.dummy().decoySpots].sort(), [...random.dummy().decoySpots].sort(), 'random decoys are drawn afresh per query');
  const bogus = { kind: 'kmix', k, decoys: 'ghosts' } as unknown as Parameters<typeof createTransform>[0];
  t.throws(() => createTransform(bogus, deps(() => 0)), UserError);
  t.throws(() => createTransform(bogus, deps(() => 0)), /privacy.decoys/);
  // Bad k is still reported by the transform itself, not by the crowd.
  t.throws(() => createTransform({ kind: 'kmix', decoys: 'wearer', candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k: 2.5 }, deps(() => 0)), /privacy k must be an integer/);
});
