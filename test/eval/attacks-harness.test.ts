/**
 * The stronger attacks as the harness runs them (`attack()` in eval-harness.ts), on a synthetic world with view
 * models and the device's own k-mix with phantoms: users of smart glasses whose frames of a spot drift slowly, an
 * identity change per user halfway, and a few frames of no spot that leak as real queries. With the frame itself as
 * the real component, persistence finds the user and the off-gallery test finds frames of no spot (so the attacks
 * work); with the default stand-in they are at chance. Every new figure is reported.
 */
import t from 'tap';
import { nextFrame, syntheticGallery } from '../../daemon/eval/attacks/synthetic.js';
import { attack } from '../../daemon/eval/attack-suite.js';
import { simulateTimeline } from '../../daemon/eval/simulation.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';
import { sampleView } from '../../daemon/privacy/decoys.js';
import type { RealComponent } from '../../daemon/privacy/kmix.js';
import { seededRandom } from '../../daemon/util/random.js';
import { createTransform } from '../../daemon/privacy/transform.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { dot } from '../../daemon/util/vector.js';

const K = 4;
const USERS = 3;
const MINUTES = 20;

function run(realComponent: RealComponent) {
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
      { kind: 'kmix', decoys: 'wearer', k: K, candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent },
      { pool: { spots: region }, variation: { sigma: 0.5 }, random: seededRandom(60 + u), clock: () => now },
    ),
  );
  // Each user's glasses: one held view per spot in front of them; each frame of it is that view, slightly moved.
  const frames = Array.from({ length: USERS }, (): { spot: string; held: Float32Array } => ({ spot: '', held: new Float32Array(0) }));
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
    // Every query here leaves: the wearer's tracks learn from what was sent, as on the device (decision 44).
    device.sent?.(query, slot.t);
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
  // The frame as the real component: the attacks must find what it gives away (else they prove nothing below).
  const frame = run('frame');
  const standIn = run('stand-in');
  t.comment(`frame: ${JSON.stringify({ ...frame, adversaries: undefined })}`);
  t.comment(`adversaries (frame): ${JSON.stringify(frame.adversaries)}`);
  t.comment(`stand-in: ${JSON.stringify({ ...standIn, adversaries: undefined })}`);
  t.comment(`adversaries (stand-in): ${JSON.stringify(standIn.adversaries)}`);
  for (const name of ['persistence', 'shadow_jump', 'component_test_exhaustive', 'arrival_attack_exhaustive', 'path_attack_exhaustive', 'central_spot_exhaustive']) {
    t.type(frame.adversaries[name], 'number', `${name} is reported`);
  }
  t.ok(frame.adversaries.persistence > 0.6, `persistence finds the user's frames among fresh decoys (${frame.adversaries.persistence})`);
  t.ok(frame.server_top1 >= frame.adversaries.persistence, 'server_top1 counts it');
  t.ok(frame.decomposition_recall.exhaustive >= frame.decomposition_recall.omp - 0.02, 'exhaustive recall at least OMP');
  t.ok(frame.decomposition_recall.exhaustive > 0.9, `the real spot is among the components (${frame.decomposition_recall.exhaustive})`);
  t.ok(Math.abs(frame.timing_auc - 0.5) < 0.1, `slots on time: timing at chance (${frame.timing_auc})`);
  t.ok(frame.dummy_auc >= frame.timing_auc, 'dummy_auc folds timing in');
  t.ok(frame.offgallery_auc > 0.8, `frames of no spot stand out (${frame.offgallery_auc})`);
  t.equal(frame.rotations, USERS, 'one identity change per user');
  t.ok(frame.rotation_bridging >= 0 && frame.rotation_bridging <= 1 && frame.rotation_bridging_chance > 0);
  t.ok(Math.abs(standIn.spot_order_null.mean - 1 / K) < 0.05 && standIn.spot_order_null.p95 >= standIn.spot_order_null.mean, `a blind spot order: about 1/k (${JSON.stringify(standIn.spot_order_null)})`);
  t.ok(standIn.central_spot_floor >= 0 && standIn.central_spot_floor <= 1, `what uniform decoys would leave the central-spot guess (${standIn.central_spot_floor})`);
  // A stand-in drawn like the decoys leaves nothing of the frame to find.
  t.ok(standIn.adversaries.persistence < 0.35, `stand-in: persistence near chance 0.25 (${standIn.adversaries.persistence})`);
  t.ok(standIn.adversaries.component_test_exhaustive < 0.35, `stand-in: component test near chance (${standIn.adversaries.component_test_exhaustive})`);
  t.ok(Math.abs(standIn.offgallery_auc - 0.5) < 0.1, `stand-in: frames of no spot look like dummies (${standIn.offgallery_auc})`);
  t.ok(standIn.decomposition_recall.exhaustive > 0.9, `stand-in: the decomposition still finds the k spots (${standIn.decomposition_recall.exhaustive})`);
});
