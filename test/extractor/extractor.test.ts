import t, { type Test } from 'tap';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import sharp from 'sharp';
import { BadImageError, ModelOutputError, OnnxExtractor, type ModelManifest } from '../../daemon/extractor/index.js';
import { UserError } from '../../daemon/util/errors.js';
import { dot, norm } from '../../daemon/util/vector.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SHIPPED = join(ROOT, 'models/enfpire-gist-int8-v1.json');
/** The learned model (models/enfpire-mnv2-int8-v1.md), selectable by manifest. */
const LEARNED = join(ROOT, 'models/enfpire-mnv2-int8-v1.json');
const FIXTURES = join(ROOT, 'test/fixtures/models');
const TINY = join(FIXTURES, 'enfpire-test-tiny-v1.json');
const SPOTS = join(ROOT, 'samples/spots');

async function samplePhotos(): Promise<Map<string, Buffer>> {
  const names = (await readdir(SPOTS)).filter((n) => n.endsWith('.jpg')).sort();
  return new Map(await Promise.all(names.map(async (n) => [n.replace(/\.jpg$/, ''), await readFile(join(SPOTS, n))] as const)));
}

/** A camera-like view: rotate, crop to 85 % off-centre, brighter and warmer, blurred, JPEG 70. */
async function distortedView(photo: Buffer): Promise<Buffer> {
  const rotated = await sharp(photo).rotate(6, { background: '#000' }).toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = (await sharp(photo).metadata()) as { width: number; height: number };
  const cw = Math.round(w * 0.78);
  const ch = Math.round(h * 0.78);
  const left = Math.round((rotated.info.width - cw) / 2) + Math.round(w * 0.02);
  const top = Math.round((rotated.info.height - ch) / 2);
  return sharp(rotated.data)
    .extract({ left, top, width: cw, height: ch })
    .linear([1.25 * 1.08, 1.25, 1.25 * 0.92], [0, 0, 0])
    .blur(0.8)
    .jpeg({ quality: 70 })
    .toBuffer();
}

/** RGB → I420 with BT.601 limited range, the conversion a camera does. */
function rgbToI420(rgb: Buffer, w: number, h: number): Buffer {
  const cw = w >> 1;
  const ch = h >> 1;
  const out = Buffer.alloc(w * h + 2 * cw * ch);
  for (let i = 0; i < w * h; i++) {
    out[i] = Math.round(16 + 0.256788 * rgb[3 * i] + 0.504129 * rgb[3 * i + 1] + 0.097906 * rgb[3 * i + 2]);
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = 3 * ((2 * y + dy) * w + 2 * x + dx);
        r += rgb[p] / 4;
        g += rgb[p + 1] / 4;
        b += rgb[p + 2] / 4;
      }
      out[w * h + y * cw + x] = Math.round(128 - 0.148223 * r - 0.290993 * g + 0.439216 * b);
      out[w * h + cw * ch + y * cw + x] = Math.round(128 + 0.439216 * r - 0.367788 * g - 0.071427 * b);
    }
  }
  return out;
}

async function started(manifestPath: string, t: Test, options: Partial<ConstructorParameters<typeof OnnxExtractor>[0]> = {}) {
  const x = new OnnxExtractor({ manifestPath, ...options });
  await x.start();
  t.teardown(() => x.stop());
  return x;
}

t.test('the shipped model gives unit vectors, equal for the same photo', async (t) => {
  const x = await started(SHIPPED, t);
  t.equal(x.modelId, 'enfpire-gist-int8-v1');
  t.equal(x.executionProvider, 'cpu');
  const photos = await samplePhotos();
  t.ok(photos.size >= 10, 'sample spots present');
  const [first, second] = [...photos.values()];
  const a = await x.extract(first);
  t.equal(a.length, x.dimension);
  t.ok(Math.abs(norm(a) - 1) < 1e-5, 'unit length');
  t.ok(a.every(Number.isFinite));
  const again = await x.extract(Buffer.from(first));
  t.ok(dot(a, again) > 0.99999, 'same bytes, same feature');
  const png = await sharp(first).png().toBuffer();
  t.ok(dot(a, await x.extract(png)) > 0.999, 'same picture as PNG, same feature');
  const b = await x.extract(second);
  t.ok(dot(a, b) < 0.95, `another photo differs (cos ${dot(a, b).toFixed(3)})`);
  const timings = x.lastTimings;
  t.ok(timings && timings.preprocessMs > 0 && timings.inferenceMs > 0, 'timings recorded');
});

for (const manifestPath of [SHIPPED, LEARNED]) {
  t.test(`${manifestPath.split('/').pop()}: a distorted view is closer to its own photo than to every other sample`, async (t) => {
    const x = await started(manifestPath, t);
    const photos = await samplePhotos();
    const refs = new Map<string, Float32Array>();
    for (const [id, bytes] of photos) refs.set(id, await x.extract(bytes));
    for (const [id, bytes] of photos) {
      const q = await x.extract(await distortedView(bytes));
      const own = dot(q, refs.get(id)!);
      const others = [...refs].filter(([other]) => other !== id).map(([, f]) => dot(q, f));
      t.ok(own > Math.max(...others), `${id}: own ${own.toFixed(3)} > best other ${Math.max(...others).toFixed(3)}`);
    }
  });
}

t.test('the learned model is int8 (QDQ), at most 4 MB, and gives unit vectors of its dimension', async (t) => {
  const manifest = JSON.parse(await readFile(LEARNED, 'utf8')) as ModelManifest;
  const bytes = await readFile(join(ROOT, 'models', manifest.file));
  t.ok(bytes.length <= 4 * 1024 * 1024, `${bytes.length} bytes`);
  t.ok(bytes.includes('QuantizeLinear') && bytes.includes('DequantizeLinear'), 'weights and activations travel as 8 bits');
  t.ok(manifest.viewVariation && manifest.output.centre, 'the manifest carries its centre and view variation');
  const x = await started(LEARNED, t);
  const [first] = (await samplePhotos()).values();
  const f = await x.extract(first);
  t.equal(f.length, manifest.output.dimension);
  t.ok(Math.abs(norm(f) - 1) < 1e-5 && f.every(Number.isFinite), 'unit and finite');
});

t.test("worker threads do not spin by default; spinning changes the session's options, not the feature", async (t) => {
  const quiet = await started(LEARNED, t);
  const spinning = await started(LEARNED, t, { threadSpinning: true });
  t.same(quiet.sessionOptions.extra, { session: { intra_op: { allow_spinning: '0' } } }, 'model.threadSpinning defaults to off');
  t.same(spinning.sessionOptions.extra, { session: { intra_op: { allow_spinning: '1' } } });
  t.same(quiet.sessionOptions.executionProviders, ['cpu'], 'the provider the session really runs on');
  const photo = (await samplePhotos()).values().next().value!;
  t.ok(dot(await quiet.extract(photo), await spinning.extract(photo)) > 0.99999, 'same feature either way');
});

/**
 * How close the I420 frame's feature must be to the JPEG's. GIST: 0.9995-0.9999 measured. The learned model is more
 * sensitive to how the picture was resampled: on these four photos the in-process area resampler gives 0.987-0.989,
 * the earlier sharp path gave 0.986-0.993, sharp resizing the frame's own full-resolution pixels 0.989-0.995, and even
 * the JPEG (quality 95) against a lossless PNG of the very same pixels only 0.990-0.996; so 0.98 for it, and
 * recognition (below) is the check that matters.
 */
const YUV_COSINE = new Map([
  [SHIPPED, 0.99],
  [LEARNED, 0.98],
]);

for (const manifestPath of [SHIPPED, LEARNED]) {
  t.test(`${manifestPath.split('/').pop()}: a YUV420 frame gives nearly the feature of the same picture as JPEG`, async (t) => {
    const bound = YUV_COSINE.get(manifestPath)!;
    const x = await started(manifestPath, t);
    const photos = await samplePhotos();
    const refs = new Map<string, Float32Array>();
    for (const [id, bytes] of photos) refs.set(id, await x.extract(bytes));
    for (const [id, bytes] of [...photos].slice(0, 4)) {
      const w = 640;
      const h = 480;
      const rgb = await sharp(bytes).resize(w, h, { fit: 'fill' }).raw().toBuffer();
      const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
      const fromJpeg = await x.extract({ data: jpeg, format: 'encoded', seq: 1, capturedAt: Date.now() });
      const fromYuv = await x.extract({ data: rgbToI420(rgb, w, h), format: 'yuv420', width: w, height: h, seq: 2, capturedAt: Date.now() });
      const c = dot(fromJpeg, fromYuv);
      t.ok(c > bound, `${id}: cos(JPEG, I420) = ${c.toFixed(4)} > ${bound}`);
      const others = [...refs].filter(([other]) => other !== id).map(([, f]) => dot(fromYuv, f));
      t.ok(dot(fromYuv, refs.get(id)!) > Math.max(...others), `${id}: the I420 frame is recognised`);
    }
    await t.rejects(
      x.extract({ data: Buffer.alloc(100), format: 'yuv420', width: 640, height: 480, seq: 3, capturedAt: 0, label: 'cam0' }),
      { name: 'BadImageError', message: /cam0.*460800 bytes, got 100/ },
      'a frame of the wrong size is a clean error',
    );
    await t.rejects(x.extract({ data: Buffer.alloc(100), format: 'yuv420', seq: 4, capturedAt: 0 }), BadImageError, 'no size');
  });
}

t.test('EXIF orientation is honoured and transparency is flattened onto white', async (t) => {
  const x = await started(SHIPPED, t);
  const photo = (await samplePhotos()).get('ladybird')!;
  const upright = await x.extract(photo);
  // Pixels stored turned a quarter left, with orientation 6 ("turn right to display").
  const stored = await sharp(photo).rotate(-90).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  const unturned = await sharp(photo).rotate(-90).jpeg({ quality: 95 }).toBuffer();
  t.ok(dot(upright, await x.extract(stored)) > 0.99, 'oriented picture matches the upright one');
  t.ok(dot(upright, await x.extract(unturned)) < 0.95, 'without the tag it would not (the check can fail)');

  const clear = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const white = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#ffffff' } }).png().toBuffer();
  t.ok(dot(await x.extract(clear), await x.extract(white)) > 0.9999, 'transparent PNG reads as white');
});

t.test('corrupt pictures give a BadImageError and the extractor carries on', async (t) => {
  const x = await started(SHIPPED, t);
  const photo = (await samplePhotos()).get('storm')!;
  for (const [name, bytes] of [
    ['random bytes', Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7919) % 251))],
    ['truncated JPEG', photo.subarray(0, photo.length >> 1)],
    ['empty', Buffer.alloc(0)],
  ] as const) {
    const err = await x.extract(bytes).then(() => null, (e: unknown) => e);
    t.type(err, BadImageError, name);
    t.type(err, UserError, `${name}: a UserError the CLI prints as one line`);
  }
  await t.rejects(x.extract({ data: Buffer.from('nope'), format: 'encoded', seq: 1, capturedAt: 0, label: 'frame-7.jpg' }), {
    name: 'BadImageError',
    message: /^Picture frame-7\.jpg cannot be decoded/,
  });
  t.equal((await x.extract(photo)).length, x.dimension, 'still works');
});

t.test('a model of another size, layout and dimension works from its manifest', async (t) => {
  const x = await started(TINY, t);
  t.equal(x.modelId, 'enfpire-test-tiny-v1');
  t.equal(x.dimension, 64);
  t.equal(x.manifest.input.layout, 'NHWC');
  const photos = [...(await samplePhotos()).values()];
  const a = await x.extract(photos[0]);
  t.equal(a.length, 64);
  t.ok(Math.abs(norm(a) - 1) < 1e-5);
  t.ok(dot(a, await x.extract(photos[0])) > 0.99999);
  t.ok(dot(a, await x.extract(photos[1])) < 0.999, 'different photos differ');
});

t.test('non-finite model output is refused', async (t) => {
  const x = await started(join(FIXTURES, 'enfpire-test-nan-v1.json'), t);
  await t.rejects(x.extract((await samplePhotos()).get('wood')!), { name: 'ModelOutputError', message: /non-finite/ });
  t.equal(x.lastTimings, null, 'no timings for a failed extraction');
  t.ok(ModelOutputError);
});

t.test('a model file that does not match its manifest is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-model-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(join(FIXTURES, 'enfpire-test-tiny-v1.onnx'), join(dir, 'enfpire-test-tiny-v1.onnx'));
  const good = JSON.parse(await readFile(TINY, 'utf8')) as ModelManifest;
  const variant = async (name: string, m: unknown): Promise<string> => {
    const path = join(dir, `${name}.json`);
    await writeFile(path, JSON.stringify(m));
    return path;
  };
  const start = (path: string) => new OnnxExtractor({ manifestPath: path }).start();

  await t.resolves(start(await variant('good', good)), 'the copy itself is fine');
  await t.rejects(start(await variant('hash', { ...good, sha256: 'a'.repeat(64) })), {
    name: 'UserError',
    message: /enfpire-test-tiny-v1\.onnx does not match the sha256 in .*hash\.json.*download it again or rebuild/,
  });
  await t.rejects(start(await variant('missing', { ...good, file: 'nowhere.onnx' })), {
    name: 'UserError',
    message: /nowhere\.onnx named by field "file".*cannot be read/,
  });
  await t.rejects(start(await variant('shape', { ...good, input: { ...good.input, shape: [1, 96, 96, 3] } })), {
    name: 'UserError',
    message: /does not match its manifest .*shape\.json: input\.shape is \[1,96,96,3\] but the model takes \[1,64,64,3\]/,
  });
  const both = await start(
    await variant('names', { ...good, input: { ...good.input, name: 'image' }, output: { name: 'feature', dimension: 64 } }),
  ).then(() => null, (e: unknown) => e as Error);
  t.type(both, UserError);
  t.match(both?.message, /input\.name is "image".*; output\.name is "feature"/, 'all mismatches in one error');
  await t.rejects(start(await variant('dim', { ...good, output: { ...good.output, dimension: 128 } })), {
    name: 'UserError',
    message: /output\.dimension is 128/,
  });
});

t.test('unavailable execution providers fall back to CPU with one log line', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const x = await started(TINY, t, { executionProviders: ['no-such-provider', 'another-missing', 'cpu'], logger, intraOpThreads: 1 });
  t.equal(x.executionProvider, 'cpu');
  const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
  t.equal(warnings.length, 1, 'exactly one warning');
  t.match(warnings[0].msg, /no-such-provider, another-missing unavailable; using cpu/);
  t.equal((await x.extract((await samplePhotos()).get('aqua')!)).length, 64);
});

t.test('the extractor needs start() first and can be stopped twice', async (t) => {
  const x = new OnnxExtractor({ manifestPath: TINY });
  t.throws(() => x.dimension, /start\(\) first/);
  await x.start();
  await x.stop();
  await x.stop();
  await t.rejects(x.extract(Buffer.alloc(1)), /start\(\) first/);
});
