import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { cacheHit, Resolver } from '../../daemon/edge/resolver.js';
import { DecoySynthesizer, estimateSigma } from '../../daemon/privacy/decoys.js';
import { KMixTransform } from '../../daemon/privacy/kmix.js';
import { seededRandom } from '../../daemon/util/random.js';
import type { Candidate } from '../../daemon/transport/messages.js';
import { makeGallery } from '../privacy/synthetic-gallery.js';

/** A unit vector at cosine `c` from the first axis, bent towards axis `axis`. */
function at(c: number, axis: number, dimension = 8): Float32Array {
  const v = new Float32Array(dimension);
  v[0] = c;
  v[axis] = Math.sqrt(1 - c * c);
  return v;
}
// A server score travels along as an extra field no candidate type has, so a resolver that read it would be caught.
const candidate = (id: string, feature: Float32Array, score = 0): Candidate => ({ id, feature, info: { name: `Name of ${id}` }, ...{ score } });
const f = at(1, 1); // the original feature: the first axis
const threshold = 0.5;

t.test('re-ranks by the original feature, ignoring the server score', async (t) => {
  const resolver = new Resolver({ threshold });
  const r = resolver.resolve(f, [candidate('loud', at(0.6, 1), 0.99), candidate('right', at(0.9, 2), 0.1), candidate('far', at(0.2, 3), 0.5)]);
  t.equal(r.spotId, 'right');
  t.ok(Math.abs(r.score - 0.9) < 1e-6);
  t.ok(Math.abs(r.margin - 0.3) < 1e-6, `margin ${r.margin}`);
  t.same(r.info, { name: 'Name of right' });
  t.equal(r.smoothed, false);
});

t.test('the threshold turns a weak best match into unknown', async (t) => {
  const weak = [candidate('a', at(0.45, 1)), candidate('b', at(0.3, 2))];
  const unknown = new Resolver({ threshold }).resolve(f, weak);
  t.equal(unknown.spotId, null);
  t.ok(Math.abs(unknown.score - 0.45) < 1e-6, 'the best score is still reported');
  t.equal(unknown.info, undefined);
  t.equal(new Resolver({ threshold: 0.4 }).resolve(f, weak).spotId, 'a', 'configurable');
  const none = new Resolver({ threshold }).resolve(f, []);
  t.same(none, { spotId: null, score: 0, margin: 0, smoothed: false }, 'no candidates: unknown');
});

t.test('margin ignores repeats of the best spot; a lone candidate has margin = score', async (t) => {
  const resolver = new Resolver({ threshold });
  const r = resolver.resolve(f, [candidate('a', at(0.7, 1)), candidate('b', at(0.8, 2)), candidate('a', at(0.9, 3)), candidate('b', at(0.6, 4))]);
  t.equal(r.spotId, 'a');
  t.ok(Math.abs(r.margin - 0.1) < 1e-6, `margin ${r.margin}`);
  const lone = resolver.resolve(f, [candidate('a', at(0.8, 1)), candidate('a', at(0.75, 2))]);
  t.ok(Math.abs(lone.margin - 0.8) < 1e-6);
});

t.test('bad candidates are skipped with one log line, never fatal', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const resolver = new Resolver({ threshold, logger: pino({ level: 'warn' }, sink) });
  const nan = at(0.9, 1);
  nan[3] = NaN;
  const r = resolver.resolve(f, [candidate('short', new Float32Array([1, 0])), candidate('nan', nan), candidate('ok', at(0.7, 2))]);
  t.equal(r.spotId, 'ok');
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]), { skipped: 2, msg: /skipped candidates/ });
});

t.test('options are validated', async (t) => {
  t.throws(() => new Resolver({ threshold: 2 }), /threshold must be a cosine/);
  t.throws(() => new Resolver({ threshold, cacheThreshold: NaN }), /cacheThreshold/);
  t.throws(() => new Resolver({ threshold, window: { size: 0, maxAgeMs: 100 } }), /window.size/);
  t.throws(() => new Resolver({ threshold, window: { size: 3, maxAgeMs: 0 } }), /maxAgeMs/);
});

t.test('smoothing keeps the answer through one outlier frame', async (t) => {
  const resolver = new Resolver({ threshold, window: { size: 5, maxAgeMs: 2000 } });
  const A = [candidate('A', at(0.8, 1)), candidate('B', at(0.4, 2))];
  const B = [candidate('A', at(0.4, 1)), candidate('B', at(0.85, 2))];
  let now = 1000;
  const step = (cands: Candidate[]) => resolver.resolve(f, cands, (now += 100));
  for (let i = 0; i < 3; i++) t.equal(step(A).spotId, 'A');
  const outlier = step(B);
  t.equal(outlier.spotId, 'A', 'one odd frame does not flip the answer');
  t.equal(outlier.smoothed, true);
  t.ok(Math.abs(outlier.score - 0.8) < 1e-6, 'score and info belong to the spot reported');
  t.same(outlier.info, { name: 'Name of A' });
  t.equal(outlier.overruled?.spotId, 'B', "the frame's own answer is kept beside the window's");
  t.ok(Math.abs(outlier.overruled!.score - 0.85) < 1e-6 && outlier.overruled!.margin > 0.4, `overruled ${JSON.stringify(outlier.overruled)}`);
  const agreed = step(A);
  t.same([agreed.spotId, agreed.smoothed, agreed.overruled], ['A', false, undefined], 'nothing overruled when the frame and the window agree');
  t.equal(step(A).spotId, 'A');
  // A real change of scene wins once it holds the weighted majority of the window (the earlier odd
  // frame, still in the window, counts for B too).
  const seq = [step(B), step(B), step(B)].map((r) => r.spotId);
  t.same(seq, ['A', 'B', 'B'], `sequence ${seq.join(',')}`);
});

t.test('an unknown frame does not end the answer, a run of them does; old frames expire', async (t) => {
  const resolver = new Resolver({ threshold, window: { size: 4, maxAgeMs: 1000 } });
  const A = [candidate('A', at(0.8, 1))];
  const blur = [candidate('A', at(0.2, 1))];
  t.equal(resolver.resolve(f, A, 0).spotId, 'A');
  t.equal(resolver.resolve(f, A, 100).spotId, 'A');
  t.equal(resolver.resolve(f, blur, 200).spotId, 'A', 'one blurred frame');
  t.equal(resolver.resolve(f, blur, 300).spotId, 'A', 'two unknowns (weight 0.5 each) against two A (0.8 each)');
  t.equal(resolver.resolve(f, blur, 400).spotId, null, 'looked away');
  // After a gap longer than maxAgeMs the window has nothing to outvote a new scene.
  const B = [candidate('B', at(0.6, 2))];
  const fresh = resolver.resolve(f, B, 5000);
  t.same([fresh.spotId, fresh.smoothed], ['B', false]);
  resolver.reset();
  t.equal(resolver.resolve(f, blur, 5100).spotId, null);
});

t.test('a frame the region gate held back votes unknown: one keeps the standing answer, a run of them ends it', async (t) => {
  const resolver = new Resolver({ threshold, window: { size: 4, maxAgeMs: 1000 } });
  const A = [candidate('A', at(0.8, 1))];
  t.equal(resolver.resolve(f, A, 0).spotId, 'A');
  t.equal(resolver.resolve(f, A, 100).spotId, 'A');
  const held = resolver.resolveUnmatched(200);
  t.same([held.spotId, held.smoothed, held.info], ['A', true, { name: 'Name of A' }], 'one weak frame of the scene just named');
  t.equal(resolver.resolveUnmatched(300).spotId, 'A', 'two unknowns (0.5 each) against two A (0.8 each)');
  t.equal(resolver.resolveUnmatched(400).spotId, null, 'three: the answer ends');
  resolver.reset();
  t.same(resolver.resolveUnmatched(500), { spotId: null, score: 0, margin: 0, smoothed: false }, 'a new scene: nothing to hold');
  const unsmoothed = new Resolver({ threshold });
  unsmoothed.resolve(f, A, 0);
  t.equal(unsmoothed.resolveUnmatched(100).spotId, null, 'no window: unknown at once');
});

t.test('cache hits answer locally only for a near-certain match', async (t) => {
  const spots = [
    { id: 'near', feature: at(0.95, 1), info: { name: 'Near' } },
    { id: 'other', feature: at(0.5, 2), info: { name: 'Other' } },
  ];
  const hit = cacheHit(f, spots, 0.9);
  t.match(hit, { id: 'near', info: { name: 'Near' } });
  t.ok(Math.abs(hit!.score - 0.95) < 1e-6 && Math.abs(hit!.margin - 0.45) < 1e-6);
  t.equal(cacheHit(f, spots, 0.96), null, 'below the cache threshold: ask the server');
  t.equal(cacheHit(f, [], 0.5), null);

  const resolver = new Resolver({ threshold, cacheThreshold: 0.9, window: { size: 3, maxAgeMs: 1000 } });
  t.equal(resolver.cacheHit(f, spots)?.id, 'near', 'method uses the configured threshold');
  t.equal(resolver.cacheHit(f, spots, 0.99), null, 'or the one passed');
  t.equal(resolver.resolveFromCache(f, spots, 0)?.spotId, 'near');
  t.equal(resolver.resolveFromCache(f, spots, 10)?.spotId, 'near');
  // The two cache answers sit in the window, so one odd server answer does not flip the result.
  t.equal(resolver.resolve(f, [candidate('other', at(0.7, 2))], 20).spotId, 'near');
  t.equal(resolver.resolveFromCache(f, [spots[1]], 30), null);
});

t.test('through the k-mix transform the resolver recovers the real spot', async (t) => {
  const gallery = makeGallery({ seed: 21 });
  const random = seededRandom(200);
  const sigma = estimateSigma(
    Array.from({ length: 400 }, (_, i) => {
      const spot = gallery.spots[i % gallery.spots.length];
      return { photo: gallery.photo(spot.id, random), reference: spot.feature };
    }),
  );
  const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma }, random });
  const resolver = new Resolver({ threshold });
  for (const candidatesPerComponent of [4, 6]) {
    const transform = new KMixTransform({ k: 4, candidatesPerComponent, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', synthesizer, random });
    let correct = 0;
    let present = 0;
    let correctWhenPresent = 0;
    let serverTop1 = 0;
    const queries = 1000;
    for (let i = 0; i < queries; i++) {
      const spot = gallery.visit(random);
      const feature = gallery.photo(spot.id, random);
      const q = transform.transform(feature);
      const candidates = gallery.topM(q.vector, q.topM);
      const answer = resolver.resolve(feature, candidates).spotId;
      if (candidates[0].id === spot.id) serverTop1++;
      if (answer === spot.id) correct++;
      if (candidates.some((c) => c.id === spot.id)) {
        present++;
        if (answer === spot.id) correctWhenPresent++;
      }
    }
    t.comment(
      `k = 4, topM = ${transform.topM}: user top-1 ${correct / queries}, server top-1 ${serverTop1 / queries}, ` +
        `real spot present ${present / queries}, resolver right when present ${(correctWhenPresent / present).toFixed(4)}`,
    );
    t.ok(correctWhenPresent / present >= 0.995, `topM = ${transform.topM}: the resolver picks the real spot when it is there`);
    if (candidatesPerComponent === 6) t.ok(correct / queries >= 0.99, 'topM = 24: user top-1 at least 0.99');
  }
});
