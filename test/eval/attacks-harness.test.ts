/**
 * The stronger attacks as the harness runs them (`attack()` in eval-harness.ts), on a synthetic world with view
 * models and the device's own k-mix with phantoms: users of smart glasses whose frames of a spot drift slowly, an
 * identity change per user halfway, and a few frames of no spot that leak as real queries. Persistence finds the
 * user among decoys drawn afresh (and is measured against drifting ones, decoys.ts ViewDrift); every new figure is
 * reported.
 */
import t from 'tap';
import { nextFrame, syntheticGallery } from '../../daemon/eval/attacks/synthetic.js';
import { attack } from '../../daemon/eval/eval-harness.js';
import { simulateTimeline } from '../../daemon/eval/simulation.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';
import { sampleView } from '../../daemon/privacy/decoys.js';
import { seededRandom } from '../../daemon/privacy/random.js';
import { createTransform } from '../../daemon/privacy/transform.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { dot } from '../../daemon/util/vector.js';

const K = 4;
const USERS = 3;
const MINUTES = 20;

function run(driftSeconds: number) {
  const random = seededRandom(5);
  const scenes = syntheticGallery({ spots: 100, dimension: 128, similarity: 0.3, sideM: 500, random });
  const region = scenes.slice(0, 80);
  const elsewhere = scenes.slice(80);
  const walk = new WalkModel(region);
  const world = {
    region,
    walk,
    sigma: 0.5,
    ownViews: new Map(region.map((s) => [s.id, [0, 1, 2, 3].map(() => sampleView(s.feature, s.view!, random))])),
  };
  let now = 0;
  const timeline = simulateTimeline({ model: walk, users: USERS, durationMs: MINUTES * 60_000, ratePerSecond: 0.5, mode: 'constant', random: seededRandom(6) });
  const devices = Array.from({ length: USERS }, (_, u) =>
    createTransform(
      { kind: 'kmix', k: K, candidatesPerComponent: 4 },
      { pool: { spots: region }, variation: { sigma: 0.5 }, random: seededRandom(60 + u), clock: () => now, driftSeconds },
    ),
  );
  // Each user's glasses: one held view per spot in front of them; each frame of it is that view, slightly moved.
  const frames = Array.from({ length: USERS }, () => ({ spot: '', held: new Float32Array(0) }));
  const records: ServerRecord[] = [];
  const truths: { user: number; spot: string | null; offGallery?: boolean }[] = [];
  timeline.slots.forEach((slot, n) => {
    now = slot.t;
    const device = devices[slot.user];
    const frame = frames[slot.user];
    // Every 40th slot of a user carries a frame of no spot that slipped through.
    const offGallery = n % 40 === 7;
    let query;
    if (offGallery) {
      const scene = elsewhere[n % elsewhere.length];
      query = device.transform(sampleView(scene.feature, scene.view!, random));
    } else if (slot.photo) {
      const spot = region.find((s) => s.id === slot.photo!.spot)!;
      if (frame.spot !== spot.id) frame.held = sampleView(spot.feature, spot.view!, random);
      frame.spot = spot.id;
      query = device.transform(nextFrame(frame.held, random));
    } else {
      query = device.dummy();
    }
    const candidates = region
      .map((s) => ({ id: s.id, score: dot(query.vector, s.feature) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, query.topM)
      .map((c) => c.id);
    const session = `enfpire/v1/reply/u${slot.user}-${slot.t < (MINUTES * 60_000) / 2 ? 0 : 1}`;
    records.push({ t: slot.t, reply_topic: session, vector: Array.from(query.vector), topM: query.topM, candidates });
    truths.push(offGallery ? { user: slot.user, spot: null, offGallery } : { user: slot.user, spot: slot.photo?.spot ?? null });
  });
  return attack(world, K, records, truths, { seed: 1, options: { candidatesPerComponent: 4 } });
}

t.test('the stronger attacks in the harness report', async (t) => {
  const fresh = run(0);
  const drifting = run(20);
  t.comment(`fresh decoys: ${JSON.stringify({ ...fresh, adversaries: undefined })}`);
  t.comment(`adversaries (fresh decoys): ${JSON.stringify(fresh.adversaries)}`);
  t.comment(`adversaries (drifting decoys): ${JSON.stringify(drifting.adversaries)}`);
  for (const name of ['persistence', 'shadow_jump', 'component_test_exhaustive', 'arrival_attack_exhaustive', 'path_attack_exhaustive']) {
    t.type(fresh.adversaries[name], 'number', `${name} is reported`);
  }
  t.ok(fresh.adversaries.persistence > 0.6, `persistence finds the user among fresh decoys (${fresh.adversaries.persistence})`);
  t.comment(`persistence against the device's drifting decoys (τ = 20 s): ${drifting.adversaries.persistence}`);
  t.ok(fresh.server_top1 >= fresh.adversaries.persistence, 'server_top1 counts it');
  t.ok(fresh.decomposition_recall.exhaustive >= fresh.decomposition_recall.omp - 0.02, 'exhaustive recall at least OMP');
  t.ok(fresh.decomposition_recall.exhaustive > 0.9, `the real spot is among the components (${fresh.decomposition_recall.exhaustive})`);
  t.ok(Math.abs(fresh.timing_auc - 0.5) < 0.1, `slots on time: timing at chance (${fresh.timing_auc})`);
  t.ok(fresh.dummy_auc >= fresh.timing_auc, 'dummy_auc folds timing in');
  t.ok(fresh.offgallery_auc > 0.8, `frames of no spot stand out (${fresh.offgallery_auc})`);
  t.equal(fresh.rotations, USERS, 'one identity change per user');
  t.ok(fresh.rotation_bridging >= 0 && fresh.rotation_bridging <= 1 && fresh.rotation_bridging_chance > 0);
});
