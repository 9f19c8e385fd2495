#!/usr/bin/env node
// Fits a model's background views (manifest field output.background, docs/decisions.md #35): features of pictures
// that are no spot, from which a device sets its region gate for whatever region pack it holds. The best cosine of a
// picture of no spot with a region's references grows with the region (25 spots: median 0.30; 1,077 windows of
// the same photographs: 0.55), so no fixed gate cosine serves every region; the device instead lets through the
// share privacy.backgroundPass of these views (edge/region-gate.ts).
//
// The pictures are the opaque colour photographs of opencv-doc and stellarium-data, two of the packages
// scripts/train-extractor.py trains on, so no benchmark photograph (docs/benchmark.md) is among them: per photograph
// the whole picture and --views - 1 windows of 2-40 % of its area, each through the camera of the eval's world
// (daemon/eval/world/render.ts: rotation, exposure, white balance, blur, noise, JPEG), all drawn from --seed.
// Packages are fetched with `apt-get download` into the trainer's cache (no installation, any user).
//
// Writes models/<id>.background.json, stamped with the model's sha256; the model build
// (scripts/build-model.py, scripts/train-extractor.py --manifest-only) then names it in the manifest.
//
//   node scripts/fit-background.mjs [--manifest models/enfpire-mnv2-int8-v1.json] [--views 10] [--seed 1] [--cache DIR]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

await import('@tapjs/typescript/import');
const { OnnxExtractor } = await import('../daemon/extractor/index.js');
const { renderFrame } = await import('../daemon/eval/world/render.js');
const { seededRandom } = await import('../daemon/util/random.js');
const { encodeBackgroundView } = await import('../daemon/extractor/background.js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    manifest: { type: 'string', default: join(ROOT, 'models/enfpire-mnv2-int8-v1.json') },
    views: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    cache: { type: 'string', default: join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'enfpire', 'train') },
  },
});
const views = Number(args.views);
const seed = Number(args.seed);
if (!Number.isInteger(views) || views < 1) throw new Error(`--views must be an integer >= 1, got ${args.views}`);
if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${args.seed}`);

// The trainer's own packages and folders (scripts/train-extractor.py PHOTO_GLOBS); tuxpaint-stamps-default is left
// out: its stamps are objects on a transparent ground, not scenes.
const PACKAGES = ['opencv-doc', 'stellarium-data'];
const FOLDERS = [
  { dir: 'usr/share/doc/opencv-doc/examples/data', name: /\.(jpe?g|png)$/i },
  { dir: 'usr/share/doc/opencv-doc/examples/text', name: /^scenetext0.*\.jpg$/i },
  { dir: 'usr/share/doc/opencv-doc/examples/alphamat/input_images', name: /\.jpg$/i },
  { dir: 'usr/share/doc/opencv-doc/examples/ximgproc', name: /^stanford\.png$/ },
  { dir: 'usr/share/doc/opencv-doc/examples/fuzzy', name: /^input\.png$/ },
  { dir: 'usr/share/stellarium/landscapes', name: /\.(jpe?g|png)$/i, depth: 1 },
  { dir: 'usr/share/stellarium/scenery3d/Sterngarten', name: /\.(jpe?g|png)$/i, depth: 9 },
];
// The trainer's DROP_WORDS: test charts, drawings and renderings rather than photographs.
const DROP_WORDS = (await readFile(join(ROOT, 'scripts/train-extractor.py'), 'utf8')).match(/DROP_WORDS = \[([^\]]*)\]/)?.[1];
if (!DROP_WORDS) throw new Error('scripts/train-extractor.py has no DROP_WORDS list any more; update this script');
const dropWords = [...DROP_WORDS.matchAll(/'([^']+)'/g)].map((m) => m[1]);

async function unpackPackages(cache) {
  const debs = join(cache, 'debs');
  const unpacked = join(cache, 'unpacked');
  await mkdir(debs, { recursive: true });
  await mkdir(unpacked, { recursive: true });
  for (const pkg of PACKAGES) {
    let deb = (await readdir(debs)).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')).sort().at(-1);
    if (!deb) {
      const r = spawnSync('apt-get', ['download', pkg], { cwd: debs, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`apt-get download ${pkg} failed (${r.stderr.trim().split('\n').at(-1)}): run apt-get update, or check that Debian's archive can be reached`);
      deb = (await readdir(debs)).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')).sort().at(-1);
    }
    const stamp = join(unpacked, `.${deb}`);
    if (!existsSync(stamp)) {
      const r = spawnSync('dpkg-deb', ['-x', join(debs, deb), unpacked], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${r.stderr.trim()}`);
      await writeFile(stamp, '');
    }
  }
  return unpacked;
}

async function listFiles(dir, name, depth) {
  const out = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory() && depth > 0) out.push(...(await listFiles(path, name, depth - 1)));
    else if (e.isFile() && name.test(e.name)) out.push(path);
  }
  return out;
}

/** An opaque colour photograph of at least 200 px a side (the trainer's load_photo rule, stricter on alpha). */
async function isPhotograph(file) {
  try {
    const meta = await sharp(file).metadata();
    if ((meta.channels ?? 0) < 3 || Math.min(meta.width ?? 0, meta.height ?? 0) < 200) return false;
    const { data } = await sharp(file).ensureAlpha().resize(64, 64, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
    let alpha = 0;
    let colour = 0;
    for (let i = 0; i < data.length; i += 4) {
      const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
      colour += (Math.abs(data[i] - grey) + Math.abs(data[i + 1] - grey) + Math.abs(data[i + 2] - grey)) / 3;
      alpha += data[i + 3];
    }
    const pixels = data.length / 4;
    return alpha / pixels / 255 >= 0.95 && colour / pixels / 255 >= 0.01;
  } catch {
    return false;
  }
}

const unpacked = await unpackPackages(resolve(args.cache));
const candidates = [];
for (const f of FOLDERS) candidates.push(...(await listFiles(join(unpacked, f.dir), f.name, f.depth ?? 0)));
const photos = [];
for (const file of [...new Set(candidates)].sort()) {
  if (!dropWords.some((w) => file.includes(w)) && (await isPhotograph(file))) photos.push(file);
}
if (photos.length < 20) throw new Error(`only ${photos.length} photographs in ${unpacked}; the packages changed`);

const manifest = JSON.parse(await readFile(args.manifest, 'utf8'));
const extractor = new OnnxExtractor({ manifestPath: args.manifest });
await extractor.start();
const random = seededRandom(seed);
const features = [];
for (const file of photos) {
  for (let v = 0; v < views; v++) {
    // The whole picture first, then windows of 2-40 % of it, of aspect 0.75-1.35: scenes near and far.
    let window;
    if (v > 0) {
      const area = 0.02 + random.next() * 0.38;
      const aspect = 0.75 + random.next() * 0.6;
      const width = Math.min(1, Math.sqrt(area * aspect));
      const height = Math.min(1, area / width);
      window = { left: random.next() * (1 - width), top: random.next() * (1 - height), width, height };
    }
    const frame = await renderFrame({ file, window, camera: {}, seed: seed * 100_003 + features.length });
    features.push(encodeBackgroundView(await extractor.extract(frame)));
  }
}
await extractor.stop();

const out = join(dirname(args.manifest), `${manifest.id}.background.json`);
const body = {
  model: manifest.id,
  sha256: manifest.sha256,
  source:
    `${photos.length} opaque colour photographs of Debian's ${PACKAGES.join(' and ')} (none in any benchmark), ` +
    `each whole and in ${views - 1} windows of 2-40 % of its area, through the eval world's camera; seed ${seed}`,
  photos: photos.map((p) => relative(unpacked, p)),
  encoding: 'each view is base64 of int8 components scaled to the largest magnitude 127 (a direction: cosines only)',
  views: features,
};
await writeFile(out, `${JSON.stringify(body, null, 1)}\n`);
process.stderr.write(`${relative(ROOT, out)}: ${features.length} views of ${photos.length} photographs\n`);
