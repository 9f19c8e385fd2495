/**
 * The alternative transforms DESIGN §4 asks to compare with k-mix: Gaussian noise on the feature and coarse buckets.
 * Both go through `createTransform` like k-mix, so the daemon and the harness treat them alike.
 */
import t from 'tap';
import { seededRandom } from '../../daemon/util/random.js';
import { createTransform } from '../../daemon/privacy/transform.js';
import { BucketTransform } from '../../daemon/privacy/buckets.js';
import { dot } from '../../daemon/util/vector.js';
import { UserError } from '../../daemon/util/errors.js';
import { makeGallery } from './synthetic-gallery.js';

const gallery = makeGallery({ seed: 41 });
const deps = (seed: number) => ({ pool: { spots: gallery.spots }, variation: { sigma: 0.7 }, random: seededRandom(seed), clock: () => 0 });

t.test('noise: the server sees a blurred feature; more noise, more misses on both sides', async (t) => {
  const random = seededRandom(2);
  const share = (noise: number) => {
    const transform = createTransform({ kind: 'noise', decoys: 'wearer', k: 4, candidatesPerComponent: 6, noise }, deps(3));
    let serverHits = 0;
    let inReply = 0;
    const trials = 300;
    for (let i = 0; i < trials; i++) {
      const spot = gallery.visit(random);
      const q = transform.transform(gallery.photo(spot.id, random));
      const reply = gallery.topM(q.vector, q.topM);
      if (reply[0].id === spot.id) serverHits++;
      if (reply.some((c) => c.id === spot.id)) inReply++;
    }
    return { server: serverHits / trials, inReply: inReply / trials };
  };
  const none = share(0);
  const some = share(4);
  const lots = share(8);
  t.comment(`server top-1 / real spot in reply: noise 0 ${none.server}/${none.inReply}, 4 ${some.server}/${some.inReply}, 8 ${lots.server}/${lots.inReply}`);
  t.ok(none.server > some.server && some.server > lots.server, 'noise hides the spot from the server');
  t.ok(lots.inReply < none.inReply, 'and from the user too: the real spot drops out of the reply');

  const transform = createTransform({ kind: 'noise', decoys: 'wearer', candidatesPerComponent: 4, k: 4, noise: 1 }, deps(4));
  t.equal(transform.transform(gallery.photo('spot-1', random)).topM, 16, 'k × the default 4 candidates');
  const d1 = transform.dummy();
  const d2 = transform.dummy();
  t.equal(d1.vector.length, gallery.dimension);
  t.ok(Math.abs(dot(d1.vector, d1.vector) - 1) < 1e-5, 'a unit vector like a real query');
  t.ok(dot(d1.vector, d2.vector) < 0.999, 'no vector is sent twice');
  t.throws(() => createTransform({ kind: 'noise', decoys: 'wearer', candidatesPerComponent: 4, k: 4, noise: -1 }, deps(5)), UserError);
});

t.test('bucket: the query is a public centroid whose reply holds the real spot', async (t) => {
  const transform = createTransform({ kind: 'bucket', k: 4 }, deps(6)) as BucketTransform;
  const buckets = transform.buckets();
  t.equal(buckets.flat().length, gallery.spots.length, 'every spot is in one bucket');
  t.same(new BucketTransform({ spots: [...gallery.spots].reverse(), k: 4, random: seededRandom(9) }).buckets(), buckets, 'the same buckets from the same region pack, whatever its order');
  const random = seededRandom(7);
  let inReply = 0;
  const vectors = new Set<string>();
  const trials = 300;
  for (let i = 0; i < trials; i++) {
    const spot = gallery.visit(random);
    const q = transform.transform(gallery.photo(spot.id, random));
    vectors.add(Array.from(q.vector.slice(0, 4)).join());
    if (gallery.topM(q.vector, q.topM).some((c) => c.id === spot.id)) inReply++;
  }
  t.comment(`${buckets.length} buckets (sizes ${Math.min(...buckets.map((b) => b.length))}..${Math.max(...buckets.map((b) => b.length))}), topM ${transform.topM}, real spot in reply ${inReply / trials}`);
  t.ok(inReply / trials > 0.8, 'the real spot comes back in most replies');
  t.ok(vectors.size <= buckets.length, 'only bucket centroids go out');
  const dummy = transform.dummy();
  t.equal(dummy.topM, transform.topM, 'a dummy asks for as many candidates');
  t.throws(() => createTransform({ kind: 'bucket', k: 500 }, deps(8)), /needs at least 500 spots/);
});
