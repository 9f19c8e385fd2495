import t from 'tap';
import { RegionGate } from '../../daemon/edge/region-gate.js';
import { seededRandom } from '../../daemon/util/random.js';
import { cosine, normalize } from '../../daemon/util/vector.js';
import { makeGallery } from '../privacy/synthetic-gallery.js';

t.test('photos of region spots pass, frames of no spot are kept off the wire', async (t) => {
  const gallery = makeGallery({ seed: 31, spots: 200 });
  const region = gallery.spots.slice(0, 150);
  const offGallery = gallery.spots.slice(150);
  // Photos sit at cos ≈ 0.8 from their reference here and neighbours of a cluster at ≈ 0.6: a gate between them.
  const gate = new RegionGate(region, 0.7);
  const random = seededRandom(32);
  const admittedPhotos = region.filter((s) => gate.admits(gallery.photo(s.id, random))).length;
  // Other spots of the same clusters are the hardest frames of no spot: they look like a region spot's neighbours.
  const admittedStrangers = offGallery.filter((s) => gate.admits(gallery.photo(s.id, random))).length;
  const bestStranger = Math.max(...offGallery.map((s) => gate.bestCosine(gallery.photo(s.id, random))));
  t.comment(`admitted: ${admittedPhotos}/150 photos of region spots, ${admittedStrangers}/50 photos of other places (best cosine ${bestStranger.toFixed(3)})`);
  t.ok(admittedPhotos >= 140, 'almost every photo of a region spot may become a query');
  t.ok(admittedStrangers <= 10, 'photos of other places, even look-alike neighbours, are mostly kept off');
  const noise = Float32Array.from({ length: gallery.dimension }, () => random.normal());
  t.notOk(gate.admits(noise), 'a frame unlike any spot (a wall) never becomes a query');
  const unit = normalize(region[7].feature);
  t.ok(Math.abs(gate.bestCosine(unit) - Math.max(...region.map((s) => cosine(unit, s.feature)))) < 1e-5, 'best cosine is the maximum over the region');
  t.throws(() => new RegionGate(region, 2), /cosine/);
});
