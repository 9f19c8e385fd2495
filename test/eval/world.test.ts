/**
 * The simulated world in front of the cameras (daemon/eval/world): timelines are reproducible, the share of frames
 * of no spot follows the setting, people are not phantoms, frames arrive like a device's, and benchmark windows
 * keep to the overlap rule. No model here; world-render.test.ts measures frames with the real one.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../daemon/util/random.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { placeSpots } from '../../daemon/recognizer/enroll.js';
import { sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos, loadSpotMetadata } from '../../daemon/util/spots-dir.js';
import {
  DEFAULT_WINDOW_RULES,
  DetailMap,
  describeStream,
  iou,
  loadWorld,
  loadWorldSpots,
  PERSON_KINDS,
  pickWindows,
  simulateWorld,
  type WorldOptions,
  type WorldSpot,
  type WorldStream,
} from '../../daemon/eval/world/index.js';

/** A city of `n` spots at seeded positions in a `sizeM` square, each with one (never rendered) photo. */
function city(n: number, sizeM: number, seed = 7): WorldSpot[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `s${String(i).padStart(3, '0')}`,
    x: Math.round(random.next() * sizeM),
    y: Math.round(random.next() * sizeM),
    popularity: 0.2 + random.next(),
    files: [`/photos/s${i}.jpg`],
  }));
}
const offGallery = Array.from({ length: 20 }, (_, i) => `/off/${i}.jpg`);
// A dense centre (nearest spot ~30 m away, like the debian-windows map's streets).
const base: WorldOptions = { spots: city(300, 1000), offGallery, seed: 5, durationMs: 60 * 60_000, people: 9 };

/** Whole dwells (not cut by the start or end of the simulation), in ms, per kind of person. */
function dwells(stream: WorldStream, kind?: string): number[] {
  return stream.devices
    .filter((d) => d.kind === 'glasses' && (kind === undefined || d.person === kind))
    .flatMap((d) => d.activities!)
    .filter((a) => a.kind === 'dwell' && a.startMs > 0 && a.endMs < stream.durationMs)
    .map((a) => a.endMs - a.startMs);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** Two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical distribution functions. */
function ks(a: number[], b: number[]): number {
  const [x, y] = [[...a].sort((p, q) => p - q), [...b].sort((p, q) => p - q)];
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] <= v) i++;
    while (j < y.length && y[j] <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

t.test('the same seed gives the same stream; another seed another one', async (t) => {
  const a = simulateWorld({ ...base, kiosks: 2 });
  const b = simulateWorld({ ...base, kiosks: 2 });
  t.same(a, b, 'deterministic');
  const c = simulateWorld({ ...base, kiosks: 2, seed: 6 });
  t.not(JSON.stringify(a.frames.slice(0, 50)), JSON.stringify(c.frames.slice(0, 50)), 'another seed, other frames');
  const seeds = new Set(a.frames.map((f) => f.view.seed));
  t.equal(seeds.size, a.frames.length, 'every frame renders from its own seed');
  for (let i = 1; i < a.frames.length; i++) {
    if (a.frames[i].t < a.frames[i - 1].t) return t.fail(`frame ${i} is out of time order`);
  }
});

t.test('the share of frames of no spot follows the setting', async (t) => {
  for (const share of [0.3, 0.6, 0.8]) {
    const stream = simulateWorld({ ...base, noSpotShare: share });
    const measured = describeStream(stream).noSpotShare.glasses!;
    t.ok(Math.abs(measured - share) <= 0.05, `setting ${share}: measured ${measured.toFixed(3)}`);
  }
  const defaults = describeStream(simulateWorld(base)).noSpotShare.glasses!;
  t.ok(defaults > 0.5 && defaults < 0.7, `default (0.6, a wearer mostly sees no spot): ${defaults.toFixed(3)}`);
  // Kiosks: most stills are products.
  const kiosks = describeStream(simulateWorld({ ...base, people: 0, kiosks: 4, durationMs: 8 * 3600_000, kioskNoSpotShare: 0.25 }));
  t.ok(Math.abs(kiosks.noSpotShare.kiosk! - 0.25) <= 0.05, `kiosk setting 0.25: measured ${kiosks.noSpotShare.kiosk!.toFixed(3)}`);
  t.equal(kiosks.noSpotShare.glasses, null, 'no glasses, no glasses share');
});

t.test('people dwell unlike the walk model, and unlike each other', async (t) => {
  const stream = simulateWorld({ ...base, people: 15, durationMs: 2 * 3600_000 });
  const people = dwells(stream);
  const walk = new WalkModel(base.spots);
  const random = seededRandom(11);
  const phantoms = Array.from({ length: 2000 }, () => walk.drawDwellMs(random.int(walk.map.size), random));
  const d = ks(people, phantoms);
  t.ok(d > 0.4, `KS distance between people's and the walk model's dwells: ${d.toFixed(2)} (${people.length} dwells)`);
  t.ok(median(people) < median(phantoms) / 3, `people's median dwell ${(median(people) / 1000).toFixed(0)} s, the walk model's ${(median(phantoms) / 1000).toFixed(0)} s`);
  const byKind = Object.fromEntries(PERSON_KINDS.map((k) => [k, median(dwells(stream, k))]));
  t.ok(byKind.tourist > byKind.shopper && byKind.shopper > byKind.commuter, `medians (s): ${JSON.stringify(Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, Math.round(v / 1000)])))}`);
  // Routes differ too: a commuter's stops lie along one line, a shopper's in one neighbourhood.
  const spread = (kind: string) => {
    const device = stream.devices.find((dv) => dv.person === kind)!;
    const at = new Map(base.spots.map((s) => [s.id, s]));
    const stops = device.activities!.flatMap((a) => (a.kind === 'dwell' ? [at.get(a.spot)!] : []));
    const cx = stops.reduce((s, p) => s + p.x, 0) / stops.length;
    const cy = stops.reduce((s, p) => s + p.y, 0) / stops.length;
    return Math.max(...stops.map((p) => Math.hypot(p.x - cx, p.y - cy)));
  };
  t.ok(spread('shopper') <= 400, `a shopper stays within a neighbourhood (${spread('shopper').toFixed(0)} m from the centre of their stops)`);
  t.ok(spread('commuter') > spread('shopper'), `a commuter goes further (${spread('commuter').toFixed(0)} m)`);
});

t.test('frames arrive like glasses, with dropouts, and their ground truth is what is rendered', async (t) => {
  const stream = simulateWorld({ ...base, people: 3, durationMs: 20 * 60_000 });
  const counts = describeStream(stream);
  t.ok(counts.dropoutShare > 0.03 && counts.dropoutShare < 0.1, `dropouts ${counts.dropoutShare.toFixed(3)}`);
  t.ok(counts.framesPerMinute.glasses! > 30 && counts.framesPerMinute.glasses! < 120, `${counts.framesPerMinute.glasses!.toFixed(0)} frames a minute`);
  const spotFiles = new Map(base.spots.map((s) => [s.id, s.files]));
  let gaps = 0;
  let regular = 0;
  for (const device of stream.devices) {
    const frames = stream.frames.filter((f) => f.device === device.index);
    for (let i = 1; i < frames.length; i++) {
      const gap = frames[i].t - frames[i - 1].t;
      if (gap < 499) return t.fail(`gap of ${gap} ms`);
      gaps++;
      if (gap <= 2001) regular++;
    }
    for (const f of frames) {
      const act = device.activities!.find((a) => a.startMs <= f.t && f.t < a.endMs)!;
      if (f.activity === 'dwell' && (act.kind !== 'dwell' || act.spot !== f.spot)) return t.fail(`dwell frame at ${f.t} is not of the dwell's spot`);
      if (f.spot === null ? !offGallery.includes(f.view.file) : !spotFiles.get(f.spot)!.includes(f.view.file)) {
        return t.fail(`frame at ${f.t} (${f.spot}) is rendered from ${f.view.file}`);
      }
      if (f.spot === null && f.activity !== 'walk' && f.activity !== 'browse') return t.fail(`a ${f.activity} frame of no spot`);
    }
  }
  t.ok(regular / gaps > 0.85, `${((100 * regular) / gaps).toFixed(0)} % of gaps within 0.5-2 s (the rest span dropouts)`);
  t.ok(stream.frames.some((f) => f.activity === 'pass') || stream.frames.some((f) => f.activity === 'walk'), 'walking frames');
});

t.test('kiosk stills: whole products from another viewpoint, at random times', async (t) => {
  const stream = simulateWorld({ ...base, people: 0, kiosks: 2, durationMs: 3600_000 });
  t.ok(stream.frames.length > 60, `${stream.frames.length} stills in an hour`);
  t.ok(stream.frames.every((f) => f.activity === 'still' && f.view.window === undefined), 'no drifting window: distortPhoto picks the viewpoint');
  const gaps = stream.frames.filter((f) => f.device === 0).map((f, i, all) => (i > 0 ? f.t - all[i - 1].t : 0)).slice(1);
  const cv = Math.sqrt(gaps.reduce((s, g) => s + g * g, 0) / gaps.length - (gaps.reduce((s, g) => s + g, 0) / gaps.length) ** 2) / (gaps.reduce((s, g) => s + g, 0) / gaps.length);
  t.ok(cv > 0.8, `irregular times (coefficient of variation of gaps ${cv.toFixed(2)})`);
});

t.test('options are checked', async (t) => {
  t.throws(() => simulateWorld({ ...base, offGallery: [] }), /off-gallery/);
  t.throws(() => simulateWorld({ ...base, spots: [] }), /spot/);
  t.throws(() => simulateWorld({ ...base, noSpotShare: 1 }), /noSpotShare/);
  t.throws(() => simulateWorld({ ...base, people: -1 }), /people/);
});

t.test('the world uses the gallery map: spots.json coordinates, else the enrolment grid', async (t) => {
  const spots = await loadWorldSpots(sampleSpotsDir);
  const meta = await loadSpotMetadata(sampleSpotsDir);
  for (const s of spots) {
    t.same([s.x, s.y, s.popularity], [meta.get(s.id)!.x, meta.get(s.id)!.y, meta.get(s.id)!.popularity], `${s.id} where spots.json puts it`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-world-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const photos = await listSpotPhotos(sampleSpotsDir);
  await mkdir(join(dir, 'spots'));
  await mkdir(join(dir, 'off'));
  for (const p of photos.slice(0, 6)) await copyFile(p.files[0], join(dir, 'spots', `${p.id}.jpg`));
  for (const p of photos.slice(6)) await copyFile(p.files[0], join(dir, 'off', `${p.id}.jpg`));
  const world = await loadWorld(join(dir, 'spots'), join(dir, 'off'));
  const grid = placeSpots(photos.slice(0, 6).map((p) => ({ id: p.id })));
  t.same(
    world.spots.map((s) => [s.id, s.x, s.y]),
    photos.slice(0, 6).map((p) => [p.id, grid.get(p.id)!.x, grid.get(p.id)!.y]),
    'no coordinates: the grid enrolment lays out',
  );
  t.equal(world.offGallery.length, photos.length - 6);
  await copyFile(photos[0].files[0], join(dir, 'off', `${photos[0].id}.jpg`));
  await t.rejects(loadWorld(join(dir, 'spots'), join(dir, 'off')), /no spot/, 'a spot in the off-gallery pool is refused');
  await writeFile(join(dir, 'unused'), '');
});

t.test('benchmark windows: overlap rule, size, detail, reproducible', async (t) => {
  const size = { width: 2048, height: 1365 };
  const windows = pickWindows(size, 3);
  t.ok(windows.length >= 25, `${windows.length} windows of one photo`);
  t.same(pickWindows(size, 3), windows, 'same seed, same windows');
  t.notSame(pickWindows(size, 4), windows, 'another seed, other windows');
  const whole = { left: 0, top: 0, ...size };
  for (const [i, w] of windows.entries()) {
    t.ok(w.width >= DEFAULT_WINDOW_RULES.minWidthPx && w.left >= 0 && w.top >= 0 && w.left + w.width <= size.width && w.top + w.height <= size.height, `window ${i} inside and wide enough`);
    t.ok(iou(w, whole) <= DEFAULT_WINDOW_RULES.maxIou, `window ${i} vs the whole photo`);
    for (const other of windows.slice(i + 1)) if (iou(w, other) > DEFAULT_WINDOW_RULES.maxIou) t.fail(`windows overlap by IoU ${iou(w, other).toFixed(2)}`);
  }
  t.equal(iou({ left: 0, top: 0, width: 10, height: 10 }, { left: 5, top: 0, width: 10, height: 10 }), 50 / 150);
  t.equal(iou({ left: 0, top: 0, width: 10, height: 10 }, { left: 10, top: 0, width: 10, height: 10 }), 0);

  // A photo whose left half is plain (sky) and right half textured: windows only where there is something to see.
  const [tw, th] = [256, 171];
  const grey = new Uint8Array(tw * th);
  const random = seededRandom(1);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) grey[y * tw + x] = x < tw / 2 ? 120 : Math.round(random.next() * 255);
  const detail = new DetailMap(grey, tw, th, size.width, size.height);
  const textured = pickWindows(size, 3, DEFAULT_WINDOW_RULES, detail);
  t.ok(textured.length > 0 && textured.length < windows.length, `${textured.length} windows with detail`);
  t.ok(textured.every((w) => w.left + w.width > size.width / 2), 'none wholly inside the plain half');
  t.ok(windows.some((w) => w.left + w.width <= size.width / 2), 'though windows there exist without the detail rule');
  t.equal(detail.detail({ left: 0, top: 0, width: 800, height: 600 }), 0, 'the plain half has no detail');
});
