/**
 * Frames of the simulated world through the real models: rendering is deterministic,
 * and consecutive frames of one dwell are far more alike than two independent camera views of the same spot, as a
 * camera held at one place is. A few frames only, on the bundled sample spots.
 */
import t from 'tap';
import sharp from 'sharp';
import { OnnxExtractor } from '../../daemon/extractor/onnx-extractor.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { mkdtemp, mkdir, copyFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { consecutiveDwellPairs, dwellViewOf, loadWorldSpots, measureStream, renderFrame, simulateWorld, type WorldOptions } from '../../daemon/eval/world/index.js';

const all = await loadWorldSpots(sampleSpotsDir);
// Two sample photos play the scenes between spots; the other eight are the spots.
const options: WorldOptions = {
  spots: all.slice(0, 8),
  offGallery: all.slice(8).flatMap((s) => s.files),
  seed: 21,
  durationMs: 10 * 60_000,
  people: ['tourist', 'shopper'],
  kiosks: 1,
  kioskGapS: 20,
};
const stream = simulateWorld(options);

t.test('a dwell view does not depend on where the checkout or the photos lie, only on the file and its folder', async (t) => {
  // Keyed by the whole path, the same run read server_top1 0.476 in one checkout and 0.270 in another (2026-12-06).
  const photo = all[0].files[0];
  const root = await mkdtemp(join(tmpdir(), 'enfpire-dwell-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const near = join(root, 'spots', basename(photo));
  const far = join(root, 'elsewhere', 'deeper', 'spots', basename(photo));
  const other = join(root, 'others', basename(photo));
  for (const file of [near, far, other]) {
    await mkdir(join(file, '..'), { recursive: true });
    await copyFile(photo, file);
  }
  const render = (file: string) => renderFrame(dwellViewOf(file, 7));
  t.ok((await render(near)).equals(await render(far)), 'the same file in a folder of the same name, elsewhere: the same picture');
  t.notOk((await render(near)).equals(await render(other)), 'the same file in a folder of another name: another draw');
});

t.test('a frame renders to the same JPEG every time, at the camera width', async (t) => {
  const dwell = stream.frames.find((f) => f.activity === 'dwell')!;
  const walk = stream.frames.find((f) => f.activity === 'walk' || f.activity === 'browse')!;
  const still = stream.frames.find((f) => f.activity === 'still')!;
  for (const frame of [dwell, walk, still]) {
    const a = await renderFrame(frame.view);
    const b = await renderFrame(frame.view);
    t.ok(a.equals(b), `${frame.activity} frame: same bytes`);
    const meta = await sharp(a).metadata();
    t.equal(meta.format, 'jpeg');
    const [lo, hi] = frame.view.camera.outputWidth!;
    t.ok(meta.width >= lo && meta.width <= hi, `${frame.activity} frame ${meta.width} px wide`);
  }
  const next = stream.frames.find((f) => f.device === dwell.device && f.t > dwell.t)!;
  t.notOk((await renderFrame(next.view)).equals(await renderFrame(dwell.view)), 'the next frame is another picture');
});

// The world's drift was calibrated through the hand-designed GIST model (docs/benchmark.md, "Stream statistics":
// consecutive dwell frames 0.985, as issue #9 measured real crops shifted a few per cent). A learned model is more
// sensitive to a small shift (0.92 here), so the absolute figure is checked with GIST and the ordering with both.
const GIST = defaultModelManifest.replace(/[^/]+\.json$/, 'enfpire-gist-int8-v1.json');
for (const [name, manifestPath, calibrated] of [['GIST', GIST, true], ['the default model', defaultModelManifest, false]] as const) {
  t.test(`consecutive dwelling frames are more alike than independent views of the spot (${name})`, async (t) => {
    const extractor = new OnnxExtractor({ manifestPath });
    await extractor.start();
    t.teardown(() => extractor.stop());
    t.ok(consecutiveDwellPairs(stream).length > 50, 'the stream has dwells');
    const stats = await measureStream(stream, extractor, { pairs: 8 });
    const { consecutiveDwell: c, independentViews: v } = stats.cosine;
    t.equal(c.pairs, 8);
    const consecutive = `consecutive frames of a dwell: mean cosine ${c.mean.toFixed(3)} (min ${c.min.toFixed(3)})`;
    if (calibrated) t.ok(c.mean >= 0.95, consecutive);
    t.ok(c.mean > v.mean + 0.02, `${consecutive}; independent views of the same spot: mean cosine ${v.mean.toFixed(3)} (min ${v.min.toFixed(3)})`);
    t.ok(stats.noSpotShare.glasses! > 0 && stats.noSpotShare.kiosk !== null, 'counts come with the cosines');
  });
}
