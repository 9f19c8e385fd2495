import t from 'tap';
import sharp from 'sharp';
import { BadImageError } from '../../daemon/extractor/errors.js';
import { toRgb, toTensorData, type InputSpec } from '../../daemon/extractor/preprocess.js';

const spec = (layout: 'NCHW' | 'NHWC'): InputSpec => ({
  width: 2,
  height: 1,
  layout,
  mean: [0.5, 0.25, 0],
  std: [0.5, 0.25, 1],
  fit: 'fill',
});

t.test('tensor data follows the layout and the per-channel mean/std', async (t) => {
  // Two pixels: white, then (0, 51, 255).
  const rgb = new Uint8Array([255, 255, 255, 0, 51, 255]);
  const white = [(1 - 0.5) / 0.5, (1 - 0.25) / 0.25, 1];
  const second = [(0 - 0.5) / 0.5, (0.2 - 0.25) / 0.25, 1];
  const close = (a: Float32Array, b: number[]): boolean => a.length === b.length && b.every((v, i) => Math.abs(a[i] - v) < 1e-5);
  t.ok(close(toTensorData(rgb, spec('NHWC')), [...white, ...second]), 'NHWC interleaves channels');
  t.ok(close(toTensorData(rgb, spec('NCHW')), [white[0], second[0], white[1], second[1], white[2], second[2]]), 'NCHW keeps planes');
  t.throws(() => toTensorData(new Uint8Array(5), spec('NCHW')), /expected 6 RGB bytes/);
});

/** I420 of a uniform colour, BT.601 limited range. */
function uniformI420(w: number, h: number, [r, g, b]: number[]): Buffer {
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const y = Math.round(16 + 0.256788 * r + 0.504129 * g + 0.097906 * b);
  const u = Math.round(128 - 0.148223 * r - 0.290993 * g + 0.439216 * b);
  const v = Math.round(128 + 0.439216 * r - 0.367788 * g - 0.071427 * b);
  return Buffer.concat([Buffer.alloc(w * h, y), Buffer.alloc(cw * ch, u), Buffer.alloc(cw * ch, v)]);
}

t.test('YUV420 frames convert to RGB, odd sizes included', async (t) => {
  for (const [w, h] of [[64, 48], [5, 3]]) {
    for (const colour of [[200, 30, 40], [128, 128, 128], [10, 220, 90]]) {
      const rgb = await toRgb({ data: uniformI420(w, h, colour), format: 'yuv420', width: w, height: h, seq: 1, capturedAt: 0 }, { width: 8, height: 8, fit: 'fill' });
      t.equal(rgb.length, 8 * 8 * 3);
      const worst = Math.max(...Array.from(rgb).map((v, i) => Math.abs(v - colour[i % 3])));
      t.ok(worst <= 3, `${w}x${h} ${colour.join(',')}: within ${worst} levels`);
    }
  }
  const frame = { data: Buffer.alloc(10), format: 'yuv420' as const, width: 4.5, height: 2, seq: 1, capturedAt: 0 };
  await t.rejects(toRgb(frame, { width: 8, height: 8, fit: 'fill' }), BadImageError);
});

t.test("'fill' keeps the sides of a wide picture, 'cover' crops them", async (t) => {
  // 200x100: a red band over the left 20 %, grey elsewhere.
  const raw = Buffer.alloc(200 * 100 * 3, 128);
  for (let y = 0; y < 100; y++) for (let x = 0; x < 40; x++) raw.set([255, 0, 0], 3 * (y * 200 + x));
  const png = await sharp(raw, { raw: { width: 200, height: 100, channels: 3 } }).png().toBuffer();
  const redAt = (rgb: Buffer, x: number): boolean => rgb[3 * (5 * 10 + x)] > 200 && rgb[3 * (5 * 10 + x) + 1] < 60;
  const fill = await toRgb(png, { width: 10, height: 10, fit: 'fill' });
  const cover = await toRgb(png, { width: 10, height: 10, fit: 'cover' });
  t.ok(redAt(fill, 0), 'fill: the band is at the left edge');
  t.notOk(redAt(cover, 0), 'cover: the band was cropped away');
});

t.test('greyscale and 16-bit pictures come out as 8-bit RGB', async (t) => {
  const grey = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#404040' } }).greyscale().png().toBuffer();
  const deep = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#ff8000' } }).toColourspace('rgb16').png().toBuffer();
  const g = await toRgb(grey, { width: 4, height: 4, fit: 'fill' });
  const d = await toRgb(deep, { width: 4, height: 4, fit: 'fill' });
  t.equal(g.length, 48);
  t.ok(Math.abs(g[0] - 64) <= 1 && g[0] === g[1] && g[1] === g[2], 'grey stays grey');
  const orange = [255, 128, 0];
  t.ok([...d.subarray(0, 3)].every((v, i) => Math.abs(v - orange[i]) <= 1), `orange stays orange at 8 bits (${[...d.subarray(0, 3)].join(',')})`);
});
