import t from 'tap';
import { backgroundGateCosine, RegionGate, regionGateFor } from '../../daemon/edge/region-gate.js';
import { loadBackground } from '../../daemon/extractor/background.js';
import { loadManifest } from '../../daemon/extractor/manifest.js';
import { defaultModelManifest } from '../../daemon/util/paths.js';
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

t.test('the gate set from background views lets that share of them through, whatever the size of the region', async (t) => {
  const gallery = makeGallery({ seed: 41, spots: 1600 });
  const random = seededRandom(42);
  // Background views: photos of places that are no spot of any region below (the last 400 spots).
  const background = gallery.spots.slice(1200).map((s) => gallery.photo(s.id, random));
  const fresh = gallery.spots.slice(1200).map((s) => gallery.photo(s.id, random));
  const cosines: number[] = [];
  for (const size of [25, 1200]) {
    const region = gallery.spots.slice(0, size);
    const cosine = backgroundGateCosine(region, background, 0.2, -1);
    const gate = new RegionGate(region, cosine);
    const viewsThrough = background.filter((v) => gate.admits(v)).length / background.length;
    const freshThrough = fresh.filter((v) => gate.admits(v)).length / fresh.length;
    const photosThrough = region.slice(0, 200).filter((s) => gate.admits(gallery.photo(s.id, random))).length / Math.min(200, size);
    t.comment(`${size} spots: gate ${cosine.toFixed(3)}, background views through ${viewsThrough.toFixed(3)}, other pictures of no spot ${freshThrough.toFixed(3)}, photos of a spot ${photosThrough.toFixed(3)}`);
    t.ok(Math.abs(viewsThrough - 0.2) <= 0.01, `${size} spots: a fifth of the background views reach the gate`);
    t.ok(Math.abs(freshThrough - 0.2) <= 0.08, `${size} spots: so do about a fifth of other pictures of no spot`);
    cosines.push(cosine);
  }
  t.ok(cosines[1] > cosines[0] + 0.05, 'the larger region gets the higher gate: its best match for a picture of no spot is closer');
  t.equal(backgroundGateCosine(gallery.spots.slice(0, 25), background, 0.2, 0.95), 0.95, 'never under the floor (the match threshold)');
  t.equal(backgroundGateCosine(gallery.spots.slice(0, 25), [], 0.2, 0.45), 0.45, 'no background views: the floor');
  t.equal(backgroundGateCosine(gallery.spots.slice(0, 25), background, 1, -1), Math.min(...background.map((v) => new RegionGate(gallery.spots.slice(0, 25), 0).bestCosine(v))), 'a pass of 1 lets every view through');
  t.throws(() => backgroundGateCosine(gallery.spots, background, 0, 0.45), /share/);
});

t.test("a device's gate: the profile's cosine, else the model's background views, else its spotCosine or threshold", async (t) => {
  const manifest = await loadManifest(defaultModelManifest);
  t.ok(manifest.output.background, 'the default model ships background views');
  const gallery = makeGallery({ seed: 43, spots: 60, dimension: manifest.output.dimension });
  const background = (await loadBackground(manifest))!;
  const settings = { backgroundPass: 0.25 };
  const fromViews = await regionGateFor(gallery.spots, manifest, settings, 0.1);
  t.equal(fromViews.minCosine, backgroundGateCosine(gallery.spots, background, 0.25, 0.1), 'set from the shipped views');
  t.equal((await regionGateFor(gallery.spots, manifest, { ...settings, minSpotCosine: 0.6 }, 0.1)).minCosine, 0.6, 'the profile overrides');
  const bare = { ...manifest, output: { ...manifest.output, background: undefined, spotCosine: 0.55 } };
  t.equal((await regionGateFor(gallery.spots, bare, settings, 0.1)).minCosine, 0.55, "no views: the model's spotCosine");
  const missing = { ...manifest, output: { ...manifest.output, background: 'nowhere.background.json' } };
  await t.rejects(regionGateFor(gallery.spots, missing, settings, 0.1), /nowhere\.background\.json does not exist; run `node scripts\/fit-background\.mjs/);
});
