/**
 * The statistics and the path attack on a synthetic world (no pictures, no broker): fast, and big enough for the
 * path attack's advantage over random decoys to be far above the noise.
 */
import t from 'tap';
import { arrivalAttack } from '../../daemon/eval/adversaries.js';
import { attack } from '../../daemon/eval/attack-suite.js';
import { simulateTimeline } from '../../daemon/eval/simulation.js';
import { fitLogistic, rocAuc } from '../../daemon/eval/stats.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';
import { perturb } from '../../daemon/privacy/decoys.js';
import { seededRandom } from '../../daemon/util/random.js';
import { createTransform, type DecoySpotSource } from '../../daemon/privacy/transform.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { placeSpots } from '../../daemon/recognizer/enroll.js';
import type { RegionSpot } from '../../daemon/transport/messages.js';
import { dot, normalize } from '../../daemon/util/vector.js';

t.test('ROC AUC on known cases', async (t) => {
  t.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [false, false, true, true]), 1, 'perfect separation');
  t.equal(rocAuc([0.9, 0.8, 0.2, 0.1], [false, false, true, true]), 0, 'perfectly wrong');
  t.equal(rocAuc([0.5, 0.5, 0.5, 0.5], [false, true, false, true]), 0.5, 'ties count one half');
  // Positives 0.3, 0.7 against negatives 0.1, 0.5: 3 of 4 pairs ordered right.
  t.equal(rocAuc([0.1, 0.3, 0.5, 0.7], [false, true, false, true]), 0.75);
  t.ok(Number.isNaN(rocAuc([0.1, 0.2], [true, true])), 'undefined with one class');
});

t.test('logistic regression learns a separable rule and ignores noise', async (t) => {
  const random = seededRandom(5);
  const xs: number[][] = [];
  const ys: boolean[] = [];
  for (let i = 0; i < 400; i++) {
    const a = random.normal();
    xs.push([a, random.normal()]);
    ys.push(a + 0.3 * random.normal() > 0.5);
  }
  const model = fitLogistic(xs, ys);
  t.ok(rocAuc(xs.map((x) => model.predict(x)), ys) > 0.9, 'separates on the informative feature');
  t.ok(model.predict([3, 0]) > 0.9 && model.predict([-3, 0]) < 0.1);
});

/** A synthetic region: spots on a 600 m square, random unit features, photos that look exactly like decoys. */
function world(seed: number) {
  const random = seededRandom(seed);
  const dim = 48;
  const region: RegionSpot[] = Array.from({ length: 37 }, (_, i) => ({
    id: `s${i}`,
    feature: normalize(Float32Array.from({ length: dim }, () => random.normal())),
    x: random.next() * 600,
    y: random.next() * 600,
    popularity: 0.2 + random.next(),
  }));
  let walk = new WalkModel(region);
  const ownViews = new Map(region.map((s) => [s.id, [0, 1, 2, 3].map(() => perturb(s.feature, 0.4, random))]));
  return {
    region,
    ownViews,
    sigma: 0.4,
    random,
    get walk() {
      return walk;
    },
    set walk(model: WalkModel) {
      walk = model;
    },
  };
}

function run(decoys: DecoySpotSource, k: number) {
  const w = world(11);
  let now = 0;
  const timeline = simulateTimeline({ model: w.walk, users: 4, durationMs: 90 * 60_000, ratePerSecond: 0.1, mode: 'constant', random: seededRandom(12) });
  const transforms = [0, 1, 2, 3].map((u) =>
    createTransform({ kind: 'kmix', k, candidatesPerComponent: 3, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', decoys }, { pool: { spots: w.region }, variation: { sigma: 0.4 }, random: seededRandom(100 + u), clock: () => now }),
  );
  const records: ServerRecord[] = [];
  const truths: { user: number; spot: string | null }[] = [];
  for (const slot of timeline.slots) {
    now = slot.t;
    const photo = slot.photo;
    const spot = photo ? w.region.find((s) => s.id === photo.spot)! : undefined;
    const q = spot ? transforms[slot.user].transform(perturb(spot.feature, 0.4, w.random)) : transforms[slot.user].dummy();
    // Every query here leaves: the wearer's tracks learn from what was sent, as on the device (decision 44).
    transforms[slot.user].sent?.(q, slot.t);
    const candidates = w.region
      .map((s) => ({ id: s.id, score: dot(q.vector, s.feature) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, q.topM)
      .map((c) => c.id);
    records.push({ t: slot.t, reply_topic: `enfpire/v1/reply/u${slot.user}`, vector: Array.from(q.vector), topM: q.topM, candidates });
    truths.push({ user: slot.user, spot: photo?.spot ?? null });
  }
  return { figures: attack(w, k, records, truths, { seed: 1, options: { candidatesPerComponent: 3 } }), real: truths.filter((x) => x.spot).length };
}

t.test('the path attack finds the user among random decoys, not among phantoms', async (t) => {
  const random = run('random', 4);
  const phantoms = run('phantoms', 4);
  t.ok(random.real >= 100, `${random.real} real queries`);
  t.ok(
    random.figures.trajectory_acc >= phantoms.figures.trajectory_acc + 0.15,
    `random decoys ${random.figures.trajectory_acc} vs phantoms ${phantoms.figures.trajectory_acc}`,
  );
  t.ok(random.figures.trajectory_acc > 1 / 4 + 0.1, `the path attack beats chance (1/k) on random decoys (${random.figures.trajectory_acc})`);
});

t.test('k = 1 on the synthetic world: every attack names the photo spot', async (t) => {
  const { figures } = run('phantoms', 1);
  t.ok(figures.server_top1 >= 0.95, `server_top1 ${figures.server_top1}`);
});

t.test('camera models: photos only while standing at a spot, continuous frames on the way too', async (t) => {
  const w = world(21);
  const timeline = (camera: 'photos' | 'continuous') =>
    simulateTimeline({ model: w.walk, users: 3, durationMs: 60 * 60_000, ratePerSecond: 1, mode: 'constant', camera, random: seededRandom(22) });
  const photos = timeline('photos');
  const continuous = timeline('continuous');
  const standingAt = (tl: ReturnType<typeof timeline>, user: number, ms: number) =>
    tl.dwells[user].find((d) => d.startMs <= ms && ms < d.endMs)?.spot;
  const offSpot = (tl: ReturnType<typeof timeline>) => tl.photos.filter((p) => standingAt(tl, p.user, p.t) !== p.spot).length;
  t.equal(offSpot(photos), 0, 'every photo shows the spot its user stands at');
  t.ok(offSpot(continuous) > continuous.photos.length * 0.05, `continuous frames also show spots passed on the way (${offSpot(continuous)} of ${continuous.photos.length})`);
  const gaps = (tl: ReturnType<typeof timeline>) => (tl.photos.length > 1 ? (3 * 60 * 60_000) / tl.photos.length / 1000 : Infinity);
  t.ok(gaps(continuous) < 5 && gaps(photos) > 20, `a frame every ${gaps(continuous).toFixed(1)} s, a photo every ${gaps(photos).toFixed(0)} s`);
});

/**
 * The arrival attack at the spot level: every query's components are the spots themselves (as an adversary with a
 * perfect decomposition would see them), 24 users for an hour, on the map `enroll` gives a folder of 37 photos
 * without coordinates (the benchmark's).
 */
/** Simulated users: the effect is small (about 0.02), so the sample must be large enough to see it. */
const USERS = 96;
function arrivals(decoys: DecoySpotSource, camera: 'photos' | 'continuous'): { arrival: number; real: number } {
  const w = world(31);
  const placed = placeSpots(w.region.map((s) => ({ id: s.id })));
  w.region.forEach((s) => Object.assign(s, placed.get(s.id), { popularity: 1 }));
  w.walk = new WalkModel(w.region);
  let now = 0;
  const timeline = simulateTimeline({ model: w.walk, users: USERS, durationMs: 60 * 60_000, ratePerSecond: 0.2, mode: 'constant', camera, random: seededRandom(32) });
  const pickers = Array.from({ length: USERS }, (_, u) =>
    createTransform({ kind: 'kmix', candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k: 4, decoys }, { pool: { spots: w.region }, variation: { sigma: 0.4 }, random: seededRandom(200 + u), clock: () => now }),
  );
  const analyses = timeline.slots.map((slot) => {
    now = slot.t;
    const photo = slot.photo;
    const q = photo ? pickers[slot.user].transform(w.region.find((s) => s.id === photo.spot)!.feature) : pickers[slot.user].dummy();
    const ids = photo ? [photo.spot, ...q.decoySpots] : q.decoySpots;
    const record: ServerRecord = { t: slot.t, reply_topic: `u${slot.user}`, vector: [], topM: 0, candidates: ids };
    return { record, scores: [], components: w.random.shuffle(ids.map((id) => ({ id, weight: 1 }))), residual: new Float64Array(0), residualNorm: 0 };
  });
  const guesses = arrivalAttack().guess(analyses);
  const real = timeline.slots.flatMap((s, i) => (s.photo ? [i] : []));
  return { arrival: real.filter((i) => guesses[i] === timeline.slots[i].photo!.spot).length / real.length, real: real.length };
}

t.test('the arrival attack: phantoms walking on their own give the user away to a photo camera, lockstep phantoms do not', async (t) => {
  const photosWalkers = arrivals('phantoms', 'photos');
  const photosLockstep = arrivals('lockstep', 'photos');
  const glassesWalkers = arrivals('phantoms', 'continuous');
  t.comment(
    `arrival attack, k = 4: photos ${photosWalkers.arrival.toFixed(3)} with phantoms, ${photosLockstep.arrival.toFixed(3)} lockstep; ` +
      `continuous ${glassesWalkers.arrival.toFixed(3)} with phantoms (${photosWalkers.real} / ${glassesWalkers.real} real queries)`,
  );
  // Measured with 96 users × 1 h: 0.267 against 0.247 (about two standard errors apart at this size; with 24 users the
  // difference moved between 0.005 and 0.03 with the random stream alone).
  t.ok(photosWalkers.arrival > photosLockstep.arrival + 0.01, 'photos + independent phantoms: the freshest spot is more often the user\'s');
  t.ok(Math.abs(photosLockstep.arrival - 0.25) < 0.03, 'photos + lockstep: chance');
  t.ok(Math.abs(glassesWalkers.arrival - 0.25) < 0.03, 'continuous frames + independent phantoms: chance');
});
