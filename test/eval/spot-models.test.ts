import t from 'tap';
import { dot64 } from '../../daemon/eval/attacks/linalg.js';
import { SpotModels } from '../../daemon/eval/attacks/spot-models.js';
import type { RegionSpot } from '../../daemon/domain/spot.js';
import { seededRandom } from '../../daemon/util/random.js';

function gallery(size: number, dimension: number): RegionSpot[] {
  const random = seededRandom(size);
  return Array.from({ length: size }, (_, i) => ({
    id: `s${i}`,
    feature: Float32Array.from({ length: dimension }, () => random.normal()),
    x: i,
    y: 0,
    popularity: 1,
  }));
}

// Small galleries keep template products in a full table, large ones in a map by pair: both must give the product.
for (const size of [40, 5000]) {
  t.test(`templateDot is the templates' product, either way round, asked once or again (${size} spots)`, async (t) => {
    const models = new SpotModels(gallery(size, 16), 0.3);
    const random = seededRandom(7);
    for (let trial = 0; trial < 200; trial++) {
      const a = models.get(`s${random.int(size)}`);
      const b = models.get(`s${random.int(size)}`);
      const expected = dot64(a.template, b.template);
      t.equal(models.templateDot(a, b), expected);
      t.equal(models.templateDot(b, a), expected, 'the other way round, from the cache');
      t.equal(models.templateDot(a, b), expected, 'again');
    }
    const a = models.get('s0');
    t.ok(Math.abs(models.templateDot(a, a) - dot64(a.template, a.template)) === 0 && models.templateDot(a, a) < 1, 'a template is shorter than a unit vector (its view spread)');
  });
}
