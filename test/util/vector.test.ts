import t from 'tap';
import { cosine, normalize, norm } from '../../daemon/util/vector.js';

t.test('normalize gives unit length and cosine is scale-free', async (t) => {
  const a = new Float32Array([3, 4]);
  t.ok(Math.abs(norm(normalize(a)) - 1) < 1e-6);
  t.ok(Math.abs(cosine(a, new Float32Array([6, 8])) - 1) < 1e-6);
  t.equal(cosine(a, new Float32Array([0, 0])), 0);
});
