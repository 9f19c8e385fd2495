#!/usr/bin/env node
// Measures a feature model the way the product uses it: the real extractor (sharp + ONNX Runtime) on real
// photographs under seeded camera distortions, nearest neighbour by cosine against the undistorted photo.
//
//   node scripts/measure-model.mjs            # shipped model; writes models/<id>.eval.json (a few minutes)
//   node scripts/measure-model.mjs --manifest /tmp/m/enfpire-gist-int8-v1.json --quick   # a tuning build
//
// Then rebuild (`/usr/bin/python3 scripts/build-model.py`) to copy the figures into the model card.
// View sets: "camera" (the product's target distortions), "camera 4:3" (the same through a 4:3 window)
// and "stress" (every range doubled, which still separates settings once "camera" is at 1.000). Options: --views N (10) --seed S (1)
// --quick (stress set, 'fill' only, no sweep, no timing, nothing written; 25 views unless --views)
// --views-dir DIR (save the camera views to look at) --views-cache DIR (reuse views between runs)
// --timing-runs N (200) --no-write. Runs on the TypeScript sources through the loader tap uses.

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

await import('@tapjs/typescript/import');
const { OnnxExtractor } = await import('../daemon/extractor/index.js');
const { dot } = await import('../daemon/util/vector.js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PHOTOS = '/usr/share/backgrounds/mate/nature';
// GNOME's wallpapers are rendered art, not photographs: they join the gallery as distractors only.
const DISTRACTORS = '/usr/share/backgrounds/gnome';

const { values: args } = parseArgs({
  options: {
    manifest: { type: 'string', default: join(ROOT, 'models/enfpire-gist-int8-v1.json') },
    views: { type: 'string' },
    seed: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    'views-dir': { type: 'string' },
    'views-cache': { type: 'string' },
    'timing-runs': { type: 'string', default: '200' },
    'no-write': { type: 'boolean', default: false },
  },
});
const VIEWS = Number(args.views ?? (args.quick ? 25 : 10));
const SEED = Number(args.seed);

/** mulberry32: small, fast, and the same sequence on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.uniform = (lo, hi) => lo + (hi - lo) * next();
  next.gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return next;
}

const DISTORTION_TEXT = {
  camera:
    'crop to 80-90 % of the side (shrunk where a rotated view would leave the picture), random position, ' +
    'rotation ±8°, exposure ×0.7-1.3, white balance R/B gains 1±0.12, Gaussian blur σ 0.5-1.5 px on half the ' +
    'views, sensor noise σ 0-3 levels, JPEG quality 50-90, 640 px wide',
  'camera 4:3':
    'the camera distortions, seen through a 4:3 window (the photos are 16:10 or 5:4): what a 4:3 camera ' +
    'sensor delivers when the spot was enrolled from a wider photo',
  stress:
    'crop to 65-80 %, rotation ±16°, exposure ×0.5-1.8, white balance 1±0.24, blur σ 0.5-3 px on half, ' +
    'noise σ 0-6, JPEG quality 25-60',
};

/** `hard` widens every range, to tell apart settings that all score 1.000 on the camera ranges. */
function randomDistortion(r, hard, aspect) {
  const k = hard ? 2 : 1;
  return {
    aspect,
    crop: hard ? r.uniform(0.65, 0.8) : r.uniform(0.8, 0.9),
    angle: r.uniform(-8 * k, 8 * k),
    shiftX: r.uniform(-1, 1),
    shiftY: r.uniform(-1, 1),
    exposure: hard ? Math.exp(r.uniform(Math.log(0.5), Math.log(1.8))) : r.uniform(0.7, 1.3),
    wb: r.uniform(-0.12 * k, 0.12 * k),
    blur: r() < 0.5 ? 0 : r.uniform(0.5, 1.5 * k),
    noise: r.uniform(0, 3 * k),
    quality: Math.round(hard ? r.uniform(25, 60) : r.uniform(50, 90)),
  };
}

const IDENTITY = { crop: 1, angle: 0, shiftX: 0, shiftY: 0, exposure: 1, wb: 0, blur: 0, noise: 0, quality: 92 };
const SWEEP = {
  'crop 0.80': { crop: 0.8, shiftX: 1, shiftY: 1 },
  'rotate +8°': { angle: 8, crop: 0.8 },
  'rotate -8°': { angle: -8, crop: 0.8 },
  'exposure ×0.7': { exposure: 0.7 },
  'exposure ×1.3': { exposure: 1.3 },
  'white balance warm': { wb: 0.12 },
  'white balance cool': { wb: -0.12 },
  'blur σ 1.5': { blur: 1.5 },
  'noise σ 3': { noise: 3 },
  'JPEG q 50': { quality: 50 },
};

/**
 * A camera-like view of a photo. `src` is the photo as raw RGB (already at most 1280 px wide): rotate it,
 * cut an axis-aligned window that stays inside the rotated picture, then blur, gains, noise and JPEG.
 */
async function makeView(src, d, r) {
  const { data, info } = src;
  const W = info.width;
  const H = info.height;
  const th = (d.angle * Math.PI) / 180;
  const rot = await sharp(data, { raw: { width: W, height: H, channels: info.channels } }).rotate(d.angle, { background: '#000000' }).raw().toBuffer({ resolveWithObject: true });
  const RW = rot.info.width;
  const RH = rot.info.height;
  // Is the window (centre cx, cy in rotated coordinates; size w x h) inside the original picture?
  const inside = (cx, cy, w, h) =>
    [[-1, -1], [1, -1], [-1, 1], [1, 1]].every(([sx, sy]) => {
      const x = cx + (sx * w) / 2 - RW / 2;
      const y = cy + (sy * h) / 2 - RH / 2;
      const ox = x * Math.cos(th) + y * Math.sin(th) + W / 2;
      const oy = -x * Math.sin(th) + y * Math.cos(th) + H / 2;
      return ox >= 0 && ox <= W && oy >= 0 && oy <= H;
    });
  // The window keeps the photo's aspect unless the distortion names another (a 4:3 camera).
  const fw = d.aspect ? Math.min(W, (H * d.aspect)) : W;
  const fh = d.aspect ? fw / d.aspect : H;
  let s = d.crop;
  while (!inside(RW / 2, RH / 2, s * fw, s * fh)) s -= 0.005;
  const w = s * fw;
  const h = s * fh;
  // Slide the window towards (shiftX, shiftY) as far as it stays inside.
  let t = 1;
  const at = (k) => [RW / 2 + k * d.shiftX * ((W - w) / 2), RH / 2 + k * d.shiftY * ((H - h) / 2)];
  while (t > 0 && !inside(...at(t), w, h)) t -= 0.05;
  const [cx, cy] = at(Math.max(t, 0));
  const region = {
    left: Math.max(0, Math.round(cx - w / 2)),
    top: Math.max(0, Math.round(cy - h / 2)),
    width: Math.min(Math.round(w), RW),
    height: Math.min(Math.round(h), RH),
  };
  region.width = Math.min(region.width, RW - region.left);
  region.height = Math.min(region.height, RH - region.top);
  let img = sharp(rot.data, { raw: { width: RW, height: RH, channels: rot.info.channels } }).extract(region).resize({ width: 640 });
  if (d.blur > 0) img = img.blur(Math.max(0.3, d.blur));
  const gains = [d.exposure * (1 + d.wb), d.exposure, d.exposure * (1 - d.wb)];
  const view = await img.linear(gains, [0, 0, 0]).raw().toBuffer({ resolveWithObject: true });
  if (d.noise > 0) {
    for (let i = 0; i < view.data.length; i++) {
      view.data[i] = Math.max(0, Math.min(255, Math.round(view.data[i] + d.noise * r.gauss())));
    }
  }
  return sharp(view.data, { raw: { width: view.info.width, height: view.info.height, channels: view.info.channels } }).jpeg({ quality: d.quality }).toBuffer();
}

async function loadRaw(path) {
  return sharp(path).autoOrient().resize({ width: 1280, withoutEnlargement: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
}

async function listImages(dir, ext, minBytes = 10_000) {
  try {
    const names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith(ext)).sort();
    const out = [];
    for (const n of names) {
      const bytes = await readFile(join(dir, n));
      if (bytes.length >= minBytes) out.push({ name: basename(n, ext), path: join(dir, n), bytes });
    }
    return out;
  } catch {
    return [];
  }
}

function evaluate(name, refs, queries) {
  let correct = 0;
  let own = 0;
  let other = 0;
  let worst = Infinity;
  let margin = 0;
  let closerOthers = 0;
  for (const q of queries) {
    let best = -Infinity;
    let bestId = '';
    let bestOther = -Infinity;
    for (const ref of refs) {
      const c = dot(q.feature, ref.feature);
      if (c > best) [best, bestId] = [c, ref.id];
      if (ref.id === q.id) own += c;
      else if (c > bestOther) bestOther = c;
    }
    if (bestId === q.id) correct++;
    other += bestOther;
    const ownCos = dot(q.feature, refs.find((ref) => ref.id === q.id).feature);
    worst = Math.min(worst, ownCos - bestOther);
    margin += ownCos - bestOther;
    for (const ref of refs) if (ref.id !== q.id && dot(q.feature, ref.feature) >= ownCos) closerOthers++;
  }
  const n = queries.length;
  // Margin: how much closer a view is to its own photo than to the nearest other one, relative to the
  // spread of the gallery; worst_margin < 0 means at least one miss.
  return { name, top1: correct / n, correct, queries: n, own_cos: own / n, other_cos: other / n,
    mean_margin: margin / n, worst_margin: worst, closer_pairs: closerOthers / (n * (refs.length - 1)) };
}

async function withExtractor(manifestPath, fn) {
  const extractor = new OnnxExtractor({ manifestPath });
  await extractor.start();
  try {
    return await fn(extractor);
  } finally {
    await extractor.stop();
  }
}

/** The same model with another resize policy: a manifest copy in a temp folder pointing at the same file. */
async function manifestWithFit(manifestPath, fit) {
  const m = JSON.parse(await readFile(manifestPath, 'utf8'));
  const dir = join(os.tmpdir(), `enfpire-measure-${process.pid}`);
  await mkdir(dir, { recursive: true });
  m.file = relative(dir, resolve(dirname(manifestPath), m.file));
  m.input.resize = fit;
  const path = join(dir, `${fit}.json`);
  await writeFile(path, JSON.stringify(m));
  return path;
}

/** I420 (BT.601 limited range) from raw RGB, as a camera would deliver it. */
function rgbToI420(rgb, w, h) {
  const cw = w >> 1;
  const ch = h >> 1;
  const out = Buffer.alloc(w * h + 2 * cw * ch);
  for (let i = 0; i < w * h; i++) {
    const [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    out[i] = Math.round(16 + 0.256788 * r + 0.504129 * g + 0.097906 * b);
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let r = 0, g = 0, b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = 3 * ((2 * y + dy) * w + 2 * x + dx);
        r += rgb[p] / 4; g += rgb[p + 1] / 4; b += rgb[p + 2] / 4;
      }
      out[w * h + y * cw + x] = Math.round(128 - 0.148223 * r - 0.290993 * g + 0.439216 * b);
      out[w * h + cw * ch + y * cw + x] = Math.round(128 + 0.439216 * r - 0.367788 * g - 0.071427 * b);
    }
  }
  return out;
}


async function makeViews(photos, set) {
  const hard = set === 'stress';
  const aspect = set === 'camera 4:3' ? 4 / 3 : undefined;
  const cache = args['views-cache'] ? join(args['views-cache'], `${SEED}-${VIEWS}-${set.replace(/\W/g, '')}`) : null;
  if (cache) {
    try {
      const views = [];
      for (const photo of photos) {
        for (let v = 0; v < VIEWS; v++) views.push({ id: photo.name, bytes: await readFile(join(cache, `${photo.name}-${v}.jpg`)) });
      }
      return views;
    } catch {
      // not cached yet
    }
  }
  const r = rng(SEED + { camera: 0, stress: 1000, 'camera 4:3': 3000 }[set]);
  const views = [];
  for (const photo of photos) {
    const src = await loadRaw(photo.path);
    for (let v = 0; v < VIEWS; v++) views.push({ id: photo.name, v, bytes: await makeView(src, randomDistortion(r, hard, aspect), r) });
  }
  for (const dir of [set === 'camera' ? args['views-dir'] : null, cache].filter(Boolean)) {
    await mkdir(dir, { recursive: true });
    await Promise.all(views.map((v) => writeFile(join(dir, `${v.id}-${v.v}.jpg`), v.bytes)));
  }
  return views;
}

async function makeSweepViews(photos) {
  const r = rng(SEED + 2000);
  const views = [];
  for (const photo of photos) {
    const src = await loadRaw(photo.path);
    for (const [name, d] of Object.entries(SWEEP)) views.push({ sweep: name, id: photo.name, bytes: await makeView(src, { ...IDENTITY, ...d }, r) });
  }
  return views;
}

async function extractAll(x, items) {
  const out = [];
  for (const item of items) out.push({ id: item.id, feature: await x.extract(item.bytes) });
  return out;
}

/** Steady state: one 640 px JPEG view and one 640x480 I420 frame, many times each; medians. */
async function timeExtractor(x, jpeg) {
  const runsN = Number(args['timing-runs']);
  const rgb = await sharp(jpeg).resize(640, 480, { fit: 'fill' }).raw().toBuffer();
  const frame = { data: rgbToI420(rgb, 640, 480), format: 'yuv420', width: 640, height: 480, seq: 1, capturedAt: Date.now() };
  const jp = [];
  const yp = [];
  const inf = [];
  for (let i = 0; i < runsN; i++) {
    await x.extract(jpeg);
    jp.push(x.lastTimings.preprocessMs);
    inf.push(x.lastTimings.inferenceMs);
    await x.extract(frame);
    yp.push(x.lastTimings.preprocessMs);
    inf.push(x.lastTimings.inferenceMs);
  }
  return {
    machine: `${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}, ${os.cpus().length} cores`,
    ort: (await import('onnxruntime-node')).default.env.versions.node,
    preprocessMs: median(jp),
    yuvPreprocessMs: median(yp),
    inferenceMs: median(inf),
    runs: runsN,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  const manifestPath = resolve(args.manifest);
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  const shippedFit = manifest.input.resize ?? 'fill';
  const photos = await listImages(PHOTOS, '.jpg');
  if (photos.length === 0) throw new Error(`no photos in ${PHOTOS}: install the Debian package mate-backgrounds`);
  const distractors = await listImages(DISTRACTORS, '.webp');

  // Views are generated once and shared by every setting measured.
  const sets = args.quick ? ['stress'] : ['camera', 'camera 4:3', 'stress'];
  const views = {};
  for (const set of sets) views[set] = await makeViews(photos, set);
  const sweepViews = args.quick ? [] : await makeSweepViews(photos);

  const runs = [];
  const sweep = [];
  let timing = null;
  for (const fit of args.quick ? [shippedFit] : ['fill', 'cover']) {
    const path = fit === shippedFit ? manifestPath : await manifestWithFit(manifestPath, fit);
    await withExtractor(path, async (x) => {
      const refs = await extractAll(x, photos.map((p) => ({ id: p.name, bytes: p.bytes })));
      const others = await extractAll(x, distractors.map((d) => ({ id: `distractor:${d.name}`, bytes: d.bytes })));
      const tag = `resize '${fit}'${fit === shippedFit ? ' (shipped)' : ''}`;
      for (const set of sets) {
        const queries = await extractAll(x, views[set]);
        runs.push({ set, fit, ...evaluate(`${set}, ${photos.length} photos, ${tag}`, refs, queries) });
        if (others.length > 0) {
          runs.push({ set, fit, ...evaluate(`${set}, + ${others.length} distractors, ${tag}`, [...refs, ...others], queries) });
        }
      }
      if (fit !== shippedFit || args.quick) return;
      for (const name of Object.keys(SWEEP)) {
        sweep.push(evaluate(name, refs, await extractAll(x, sweepViews.filter((v) => v.sweep === name))));
      }
      timing = await timeExtractor(x, views.camera[0].bytes);
    });
  }

  const result = {
    model: manifest.id,
    sha256: manifest.sha256,
    photos: photos.length,
    distractors: distractors.length,
    views_per_photo: VIEWS,
    seed: SEED,
    distortions: DISTORTION_TEXT,
    runs,
    sweep,
    timing,
  };
  for (const row of [...runs, ...sweep]) {
    console.log(
      `${row.name.padEnd(56)} top-1 ${row.top1.toFixed(3)} (${row.correct}/${row.queries})  own ${row.own_cos.toFixed(3)}  ` +
        `other ${row.other_cos.toFixed(3)}  margin ${row.mean_margin.toFixed(3)} worst ${row.worst_margin.toFixed(3)} ` +
        `pairs ${(100 * row.closer_pairs).toFixed(2)}%`,
    );
  }
  if (timing) console.log(JSON.stringify(timing));
  if (!args['no-write'] && !args.quick) {
    const out = join(dirname(manifestPath), `${manifest.id}.eval.json`);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${relative(process.cwd(), out)}; refresh the model card with /usr/bin/python3 scripts/build-model.py`);
  }
}

await main();
