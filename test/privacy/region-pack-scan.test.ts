/** One scan of the region pack per frame: the gate, k-mix's real spot and the pack's nearest spot share it. */
import t from 'tap';
import { CandidateBook } from '../../daemon/edge/candidate-book.js';
import { RegionGate } from '../../daemon/edge/region-gate.js';
import { DecoySynthesizer } from '../../daemon/privacy/decoys.js';
import { KMixTransform } from '../../daemon/privacy/kmix.js';
import { RegionPackScan } from '../../daemon/privacy/region-pack-scan.js';
import { seededRandom } from '../../daemon/util/random.js';
import { cosine } from '../../daemon/util/vector.js';
import { makeGallery } from './synthetic-gallery.js';

t.test('the nearest spot is the one a brute-force cosine scan finds, whatever the scale of the features', async (t) => {
  const random = seededRandom(71);
  // 61 dimensions: not a multiple of four, so the loop's tail counts too.
  const dimension = 61;
  const spots = Array.from({ length: 300 }, (_, i) => ({
    id: `s${i}`,
    feature: Float32Array.from({ length: dimension }, () => (0.1 + 3 * random.next()) * random.normal()),
  }));
  const scan = new RegionPackScan(spots);
  let checked = 0;
  for (let q = 0; q < 200; q++) {
    const scale = 0.01 + 10 * random.next();
    const feature = Float32Array.from({ length: dimension }, () => scale * random.normal());
    let best = -1;
    let bestCosine = -Infinity;
    spots.forEach((s, i) => {
      const c = cosine(feature, s.feature);
      if (c > bestCosine) [best, bestCosine] = [i, c];
    });
    const hit = scan.nearest(feature);
    if (hit?.index !== best || hit.id !== spots[best].id || Math.abs(hit.cosine - bestCosine) > 1e-6) {
      t.fail(`query ${q}: scan ${JSON.stringify(hit)}, brute force ${spots[best].id} at ${bestCosine}`);
    } else checked++;
  }
  t.equal(checked, 200, 'every query agrees with the brute-force scan');
  t.equal(scan.nearest(new Float32Array(dimension + 1)), null, 'another dimension: no spot');
  t.equal(new RegionPackScan([]).nearest(new Float32Array(0)), null, 'an empty pack: no spot');
});

t.test('the same array is answered from memory; another array, even of equal values, is scanned', async (t) => {
  const gallery = makeGallery({ seed: 72, spots: 50, dimension: 32 });
  const scan = new RegionPackScan(gallery.spots);
  const random = seededRandom(73);
  const frame = gallery.photo('spot-7', random);
  const first = scan.nearest(frame);
  t.equal(scan.scans, 1);
  t.equal(scan.nearest(frame), first, 'the same array: the same answer');
  t.equal(scan.scans, 1, '... without a second pass');
  t.same(scan.nearest(Float32Array.from(frame)), first, 'a copy: the same answer');
  t.equal(scan.scans, 2, '... from a pass of its own');
  scan.nearest(gallery.photo('spot-8', random));
  scan.nearest(frame);
  t.equal(scan.scans, 4, 'only the last array is remembered');
});

t.test('gate, k-mix and candidate book holding one scan pass over the pack once per frame, and agree', async (t) => {
  const gallery = makeGallery({ seed: 74, spots: 120, dimension: 64 });
  const pack = { type: 'region-pack' as const, model: 'm1', region: 'north', galleryVersion: 'g1', spots: gallery.spots };
  const scan = new RegionPackScan(gallery.spots);
  const random = seededRandom(75);
  const gate = new RegionGate(scan, 0.3);
  const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random, scan });
  const transform = new KMixTransform({ candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k: 4, synthesizer, random });
  const book = new CandidateBook(pack, undefined, scan);
  const alone = new CandidateBook(pack);
  for (let i = 0; i < 20; i++) {
    const frame = gallery.photo(gallery.visit(random).id, random);
    const before = scan.scans;
    gate.admits(frame);
    transform.transform(frame);
    const nearest = book.nearest(frame);
    t.equal(synthesizer.nearestSpot(frame).id, nearest?.id, 'k-mix names the spot the book ranks');
    t.equal(scan.scans - before, 1, `frame ${i}: one pass for all three`);
    t.equal(alone.nearest(frame)?.id, nearest?.id, 'a book with a scan of its own names the same spot');
  }
  t.throws(() => new DecoySynthesizer({ spots: gallery.spots.slice(1), variation: { sigma: 0.75 }, random, scan }), /not of its spots/);
});
