/**
 * The off-gallery test (daemon/eval/attacks/off-gallery.ts): scenes drawn like the gallery's spots but not in it
 * leave a residual no k gallery views explain, and are told from dummies; real photos of gallery spots, exchangeable
 * with decoys, are not.
 */
import t from 'tap';
import { decompose } from '../../daemon/eval/attacks/decompose.js';
import { OffGalleryTest } from '../../daemon/eval/attacks/off-gallery.js';
import { KMixSimulator } from '../../daemon/eval/attacks/simulate.js';
import { SpotModels } from '../../daemon/eval/attacks/spot-models.js';
import { syntheticGallery } from '../../daemon/eval/attacks/synthetic.js';
import { rocAuc } from '../../daemon/eval/stats.js';
import { sampleView } from '../../daemon/privacy/decoys.js';
import { seededRandom } from '../../daemon/util/random.js';
import type { RegionSpot } from '../../daemon/transport/messages.js';

const K = 4;
const TOP_M = 16;

t.test('off-gallery frames stand out from dummies; photos of gallery spots do not', async (t) => {
  const random = seededRandom(7);
  // 300 scenes alike; the server's gallery holds the first 150, the others are "no spot".
  const scenes = syntheticGallery({ spots: 300, dimension: 128, similarity: 0.4, random });
  const gallery = scenes.slice(0, 150);
  const elsewhere = scenes.slice(150);
  const models = new SpotModels(gallery, 0.5);
  const test = new OffGalleryTest(models, gallery, { k: K, sigma: 0.5, topM: TOP_M, random: seededRandom(8), simulations: 200 });
  const device = new KMixSimulator(gallery, { k: K, sigma: 0.5, topM: TOP_M, random });

  /** A query whose real component is a view of `scene`, with k − 1 decoys. */
  const realQuery = (scene: RegionSpot) => {
    const decoys = device.spots(K - 1, new Set([scene.id]));
    return device.mix(
      [scene.id, ...decoys],
      [sampleView(scene.feature, scene.view!, random), ...decoys.map((d) => device.view(d))],
    ).record;
  };
  const score = (record: ReturnType<typeof realQuery>) => test.score(record, decompose(record.vector, record.candidates, models, K));
  const dummies = Array.from({ length: 300 }, () => score(device.dummy().record));
  const offGallery = elsewhere.map((scene) => score(realQuery(scene)));
  const onGallery = [...gallery, ...gallery].map((scene) => score(realQuery(scene)));
  const auc = (positives: number[]) => rocAuc([...positives, ...dummies], [...positives.map(() => true), ...dummies.map(() => false)]);
  t.comment(`off-gallery AUC ${auc(offGallery).toFixed(3)}; photos of gallery spots ${auc(onGallery).toFixed(3)}`);
  t.ok(auc(offGallery) > 0.85, 'frames of no spot are found');
  t.ok(Math.abs(auc(onGallery) - 0.5) < 0.07, 'photos of spots, drawn like decoys: chance');
});
