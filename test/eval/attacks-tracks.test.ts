/**
 * The shadow jump (daemon/eval/attacks/shadow-jump.ts) at the spot level (components are the spots themselves, as
 * an adversary with a perfect decomposition sees them): a track that jumps while the others walk is named; tracks
 * that all jump alike are not. Then the device's own phantom crowd, measured.
 */
import t from 'tap';
import { centralSpot, GalleryIndex, spotOrderNull, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
import { dot } from '../../daemon/util/vector.js';
import { shadowJump } from '../../daemon/eval/attacks/shadow-jump.js';
import { syntheticGallery } from '../../daemon/eval/attacks/synthetic.js';
import { simulateTimeline } from '../../daemon/eval/simulation.js';
import { seededRandom, type Random } from '../../daemon/util/random.js';
import { createTransform, type DecoySpotSource } from '../../daemon/privacy/transform.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import type { RegionSpot } from '../../daemon/transport/messages.js';

const K = 4;

function spotsOnly(t: number, session: string, ids: readonly string[], random: Random): QueryAnalysis {
  return {
    record: { t, reply_topic: session, vector: [], topM: 0, candidates: [...ids] },
    scores: [],
    components: random.shuffle(ids.map((id) => ({ id, weight: 1 }))),
    residual: new Float64Array(0),
    residualNorm: 0,
  };
}

function setup(seed: number) {
  const random = seededRandom(seed);
  const gallery = syntheticGallery({ spots: 120, dimension: 8, directions: 1, sideM: 1000, random });
  const index = new GalleryIndex({ gallery, k: K, walk: new WalkModel(gallery) });
  const nearest = (from: RegionSpot, taken: ReadonlySet<string>) =>
    gallery.filter((s) => !taken.has(s.id)).sort((a, b) => Math.hypot(a.x - from.x, a.y - from.y) - Math.hypot(b.x - from.x, b.y - from.y))[0];
  return { random, gallery, index, nearest };
}

/** Phantoms step to a nearby spot each query (`phantomsJump` false) or teleport; the user's track teleports. */
function jumps(phantomsJump: boolean): number {
  const { random, gallery, index, nearest } = setup(1);
  const analyses: QueryAnalysis[] = [];
  const truth: string[] = [];
  let tracks = random.shuffle([...gallery]).slice(0, K);
  for (let i = 0; i < 400; i++) {
    const taken = new Set<string>();
    tracks = tracks.map((s, j) => {
      const next = j === 0 || phantomsJump ? random.pick(gallery.filter((g) => !taken.has(g.id))) : nearest(s, new Set([...taken, s.id]));
      taken.add(next.id);
      return next;
    });
    analyses.push(
      spotsOnly(
        i * 1000,
        'a',
        tracks.map((s) => s.id),
        random,
      ),
    );
    truth.push(tracks[0].id);
  }
  const guesses = shadowJump(index).guess(analyses);
  return guesses.slice(1).filter((g, i) => g === truth[i + 1]).length / (guesses.length - 1);
}

t.test('the shadow jump names the track that jumps', async (t) => {
  const jumping = jumps(false);
  const alike = jumps(true);
  t.comment(`shadow jump: ${jumping.toFixed(3)} when only the user's track teleports, ${alike.toFixed(3)} when every track does`);
  t.ok(jumping > 0.9);
  t.ok(Math.abs(alike - 0.25) < 0.08, 'chance');
});

/**
 * The device's own crowd: users walk the map (photos only while standing at a spot, or continuous frames) and each
 * device's transform picks its decoys from its phantom walkers.
 */
function crowd(decoys: DecoySpotSource, camera: 'photos' | 'continuous'): { hits: number; real: number } {
  const { gallery, index } = setup(2);
  const walk = new WalkModel(gallery);
  let now = 0;
  const timeline = simulateTimeline({ model: walk, users: 12, durationMs: 60 * 60_000, ratePerSecond: 0.2, mode: 'constant', camera, random: seededRandom(3) });
  const devices = Array.from({ length: 12 }, (_, u) =>
    createTransform({ kind: 'kmix', candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k: K, decoys }, { pool: { spots: gallery }, variation: { sigma: 0.4 }, random: seededRandom(300 + u), clock: () => now }),
  );
  const shuffle = seededRandom(4);
  const analyses = timeline.slots.map((slot) => {
    now = slot.t;
    const photo = slot.photo;
    const q = photo ? devices[slot.user].transform(gallery.find((s) => s.id === photo.spot)!.feature) : devices[slot.user].dummy();
    // Every query here leaves: the wearer's tracks learn from what was sent, as on the device (decision 44).
    devices[slot.user].sent?.(q, slot.t);
    return spotsOnly(slot.t, `u${slot.user}`, photo ? [photo.spot, ...q.decoySpots] : q.decoySpots, shuffle);
  });
  const guesses = shadowJump(index).guess(analyses);
  const real = timeline.slots.flatMap((s, i) => (s.photo ? [i] : []));
  return { hits: real.filter((i) => guesses[i] === timeline.slots[i].photo!.spot).length / real.length, real: real.length };
}

t.test('the shadow jump against the phantom crowd', async (t) => {
  const photos = crowd('phantoms', 'photos');
  const continuous = crowd('phantoms', 'continuous');
  const lockstep = crowd('lockstep', 'photos');
  t.comment(
    `shadow jump, k = 4: photos ${photos.hits.toFixed(3)} (${photos.real} real), continuous ${continuous.hits.toFixed(3)} (${continuous.real}), ` +
      `lockstep photos ${lockstep.hits.toFixed(3)}`,
  );
  t.ok(photos.hits > 0.25 + 0.05, 'a camera that sees the user now and then: the shadow jumps at real queries');
  t.ok(continuous.hits < photos.hits, 'continuous frames keep the shadow on the user: smaller jumps');
});

t.test('the central-spot guess names the component nearest the region mean, and is chance for any other', async (t) => {
  const random = seededRandom(7);
  const gallery = syntheticGallery({ spots: 60, dimension: 16, directions: 1, similarity: 0.3, random });
  const index = new GalleryIndex({ gallery, k: K, walk: new WalkModel(gallery) });
  // Centrality as the sum of cosines with every reference, computed here the long way.
  const centrality = (id: string) => gallery.reduce((sum, s) => sum + dot(index.unit(id), index.unit(s.id)), 0);
  const hub = [...gallery].sort((a, b) => centrality(b.id) - centrality(a.id))[0].id;
  const others = gallery.filter((s) => s.id !== hub);
  const withHub: QueryAnalysis[] = [];
  const without: QueryAnalysis[] = [];
  const truth: string[] = [];
  for (let i = 0; i < 400; i++) {
    const drawn = random.shuffle([...others]).slice(0, K);
    withHub.push(spotsOnly(i * 1000, 'a', [hub, ...drawn.slice(1).map((s) => s.id)], random));
    without.push(spotsOnly(i * 1000, 'b', drawn.map((s) => s.id), random));
    truth.push(random.pick(drawn).id);
  }
  const attack = centralSpot(index);
  t.ok(attack.guess(withHub).every((g) => g === hub), 'a query holding the most central spot is named after it');
  const hits = attack.guess(without).filter((g, i) => g === truth[i]).length / without.length;
  t.ok(Math.abs(hits - 1 / K) < 0.07, `a real spot drawn at random is named at chance (${hits.toFixed(3)}, 1/k = ${1 / K})`);
});

t.test('the blind spot-order null: chance on average, wide when real queries fall in one long visit', async (t) => {
  const random = seededRandom(11);
  const spots = Array.from({ length: 25 }, (_, i) => `s${i}`);
  const analyses: QueryAnalysis[] = [];
  const spread = new Map<number, string>();
  const oneVisit = new Map<number, string>();
  for (let i = 0; i < 600; i++) {
    // The first 300 queries are one long visit to s0 among decoys of the other spots; the rest any four spots.
    const ids = i < 300 ? [spots[0], ...random.shuffle(spots.slice(1)).slice(0, K - 1)] : random.shuffle([...spots]).slice(0, K);
    analyses.push(spotsOnly(i * 1000, 'a', ids, random));
    if (i < 300) oneVisit.set(i, spots[0]);
    else spread.set(i, random.pick(ids));
  }
  const wide = spotOrderNull(analyses, oneVisit, spots, seededRandom(1));
  const narrow = spotOrderNull(analyses, spread, spots, seededRandom(1));
  t.ok(Math.abs(narrow.mean - 1 / K) < 0.03, `real spots spread over the components: mean ${narrow.mean.toFixed(3)} near 1/k`);
  t.ok(narrow.p95 < 0.32, `and a narrow spread (p95 ${narrow.p95.toFixed(3)})`);
  t.ok(wide.p95 > 0.5, `one long visit: some blind orders name it every time (p95 ${wide.p95.toFixed(3)})`);
  t.ok(wide.sd > 3 * narrow.sd, `the spread grows with the concentration (sd ${wide.sd.toFixed(3)} against ${narrow.sd.toFixed(3)})`);
});
