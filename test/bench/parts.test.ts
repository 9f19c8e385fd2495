import t from 'tap';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { measureSource } from '../../daemon/bench/camera-bench.js';
import { rgbToI420 } from '../../daemon/bench/inputs.js';
import { runRecognizerBench } from '../../daemon/bench/recognizer-bench.js';
import { FilesSource } from '../../daemon/camera/files-source.js';
import { toRgb } from '../../daemon/extractor/preprocess.js';

const SPOTS = new URL('../../samples/spots/', import.meta.url).pathname;

t.test('YUV frames made by the bench decode back to their colours through the real preprocessing', async (t) => {
  const colours: [number, number, number][] = [[200, 30, 40], [20, 160, 90], [250, 250, 250], [10, 10, 10]];
  for (const c of colours) {
    const rgb = Buffer.alloc(16 * 8 * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set(c, i);
    const back = await toRgb({ data: rgbToI420(rgb, 16, 8), format: 'yuv420', width: 16, height: 8, seq: 1, capturedAt: 0 }, { width: 4, height: 4, fit: 'fill' });
    const worst = Math.max(...[...back].map((v, i) => Math.abs(v - c[i % 3])));
    t.ok(worst <= 3, `rgb(${c.join(',')}) comes back within ${worst} levels`);
  }
  t.throws(() => rgbToI420(Buffer.alloc(3 * 3 * 3), 3, 3), RangeError, 'odd sizes refused');
});

t.test('the camera measurement counts the frames a real files source delivers', async (t) => {
  const dir = t.testdir();
  await copyFile(join(SPOTS, 'aqua.jpg'), join(dir, 'a.jpg'));
  await sharp({ create: { width: 32, height: 24, channels: 3, background: '#336699' } }).png().toFile(join(dir, 'b.png'));
  const result = await measureSource(new FilesSource({ dir, fps: 2000, loop: true }), 25, 2000);
  t.equal(result.frames, 25);
  t.equal(result.requested_fps, 2000);
  t.ok(result.fps > 0 && Number.isFinite(result.fps));
  t.ok(Math.abs(result.fps - result.frames / result.seconds) <= 0.01 * result.fps, 'fps is frames over seconds');

  const once = await measureSource(new FilesSource({ dir, fps: 2000, loop: false }), 25, 2000);
  t.equal(once.frames, 1, 'a finite replay ends the measurement early instead of hanging');
});

t.test('recognizer bench: a search as broad as the gallery gives HNSW full recall; recall stays a fraction', async (t) => {
  const base = { gallery: 300, dimension: 32, queries: 60, warmup: 5, topM: 10, seed: 3 };
  const broad = await runRecognizerBench({ ...base, efSearch: 300 });
  t.equal(broad.hnsw_recall_at_10, 1, 'efSearch ≥ gallery is exhaustive');
  const narrow = await runRecognizerBench({ ...base, mix: 8, efSearch: 10 });
  t.ok(narrow.hnsw_recall_at_10 >= 0 && narrow.hnsw_recall_at_10 <= 1, `recall ${narrow.hnsw_recall_at_10}`);
  t.same([broad.gallery, broad.dimension, broad.queries, broad.top_m], [300, 32, 60, 10]);
  for (const r of [broad, narrow]) t.ok(r.exact.qps > 0 && r.hnsw.qps > 0 && r.exact.build_ms > 0 && r.hnsw.build_ms > 0);
});
