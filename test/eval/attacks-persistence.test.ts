/**
 * Persistence (daemon/eval/attacks/persistence.ts) on a synthetic gallery with view models: the user's frames drift
 * slowly (cosine 0.99 between neighbours) while every spot of the query stays for a while (phantoms dwell too).
 * Decoys drawn afresh at every query give the user away; decoys whose views drift like the user's frames leave the
 * attack at chance, unless dummies show the user's spot with a view that does not continue the user's frames.
 */
import t from 'tap';
import { GalleryIndex } from '../../daemon/eval/adversaries.js';
import { exhaustiveAnalyses } from '../../daemon/eval/attacks/decompose.js';
import { PersistenceAttack, statistic } from '../../daemon/eval/attacks/persistence.js';
import { KMixSimulator } from '../../daemon/eval/attacks/simulate.js';
import { SpotModels } from '../../daemon/eval/attacks/spot-models.js';
import { nextFrame, syntheticGallery } from '../../daemon/eval/attacks/synthetic.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';
import { seededRandom } from '../../daemon/util/random.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';

const K = 4;
const TOP_M = 16;

function world(seed: number) {
  const random = seededRandom(seed);
  const gallery = syntheticGallery({ spots: 150, dimension: 128, similarity: 0.4, random });
  const models = new SpotModels(gallery, 0.5);
  const index = new GalleryIndex({ gallery, k: K, walk: new WalkModel(gallery) });
  const attack = new PersistenceAttack(models, gallery, { k: K, sigma: 0.5, topM: TOP_M, random: seededRandom(seed + 1) });
  return { gallery, models, index, attack, simulator: new KMixSimulator(gallery, { k: K, sigma: 0.5, topM: TOP_M, random }) };
}

/**
 * Four sessions; every 6 queries all k spots move on (user and phantoms dwell alike). The user's frame drifts.
 * Decoys: drawn afresh each time; drifting the same way as the frames; or drifting, with every third query a dummy
 * that shows the user's spot with a decoy view of its own (a shadow whose view does not continue the frames).
 */
function run(decoys: 'fresh' | 'drift' | 'drift+dummies', seed: number): { hits: number; drift: number } {
  const { models, index, attack, simulator } = world(seed);
  const records: ServerRecord[] = [];
  const truth: (string | null)[] = [];
  for (const session of ['a', 'b', 'c', 'd']) {
    let spots: string[] = [];
    let views: Float32Array[] = [];
    let shadow: Float32Array = new Float32Array(0);
    for (let i = 0; i < 150; i++) {
      const dummy = decoys === 'drift+dummies' && i % 3 === 2;
      if (i % 6 === 0) {
        spots = simulator.spots(K);
        views = spots.map((s) => simulator.view(s));
        shadow = simulator.view(spots[0]);
      } else {
        // Slot 0 is the user's: a later frame of the same scene. The others are decoys.
        views = views.map((v, j) => (j === 0 || decoys !== 'fresh' ? nextFrame(v, simulator.random) : simulator.view(spots[j])));
        shadow = nextFrame(shadow, simulator.random);
      }
      const shown = dummy ? [shadow, ...views.slice(1)] : views;
      records.push({ ...simulator.mix(spots, shown).record, t: i * 1000, reply_topic: session });
      truth.push(dummy ? null : spots[0]);
    }
  }
  const { analyses } = exhaustiveAnalyses(records, models, index);
  const guesses = attack.guess(analyses);
  const real = truth.flatMap((s, i) => (s ? [i] : []));
  return { hits: real.filter((i) => guesses[i] === truth[i]).length / real.length, drift: attack.driftSeconds! };
}

t.test('the calibration: the statistic under the decoy model rises with the views\' correlation', async (t) => {
  const { attack } = world(3);
  const at = (rho: number) => attack.calibration.find((c) => c.rho === rho)!;
  t.comment(attack.calibration.map((c) => `ρ ${c.rho}: ${c.mean.toFixed(2)} ± ${c.sd.toFixed(2)}`).join(', '));
  t.ok(Math.abs(at(0).mean) < 0.3 && Math.abs(at(0).sd - 1) < 0.25, 'independent views: about N(0, 1)');
  t.ok(at(1).mean > at(0).mean + 2 * at(0).sd && at(1).sd < 0.3, 'the same view: far above, narrow');
  t.ok(at(0.9).mean > at(0.5).mean && at(0.5).mean > at(0).mean, 'monotone');
  t.ok(attack.surprise(at(1).mean, 0) > attack.surprise(at(0).mean, 0), 'a persistent pair is surprising among independent decoys');
  t.ok(attack.surprise(0, 0.995) > attack.surprise(at(0.995).mean, 0.995), 'a broken pair is surprising among drifting decoys');
  t.equal(statistic(Float64Array.of(1, 0, 0, 0), Float64Array.of(1, 0, 0, 0)), 2, '√J for identical states');
});

t.test('decoys drawn afresh: the persistent component is the user', async (t) => {
  const { hits, drift } = run('fresh', 11);
  t.comment(`persistence names the user in ${hits.toFixed(3)} of real queries (chance 0.25); decoy drift fitted: ${drift} s`);
  t.equal(drift, 0, 'the server finds that decoys are drawn independently');
  t.ok(hits > 0.9);
});

t.test('decoys that drift like the user: chance', async (t) => {
  const { hits, drift } = run('drift', 12);
  t.comment(`persistence with drifting decoys: ${hits.toFixed(3)} (chance 0.25); decoy drift fitted: ${drift} s`);
  t.ok(drift >= 40, 'the server finds that decoys drift');
  t.ok(Math.abs(hits - 0.25) < 0.1);
});

t.test('drifting decoys, but dummies show the user\'s spot with a view of its own: the break gives the user away', async (t) => {
  const { hits, drift } = run('drift+dummies', 13);
  t.comment(`persistence, drifting decoys and a shadow view in dummies: ${hits.toFixed(3)} (chance 0.25); decoy drift fitted: ${drift} s`);
  t.ok(hits > 0.6);
});
