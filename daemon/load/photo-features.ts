/**
 * Features of many windows of real photographs, for the load generator's galleries (docs/scaling.md, "Galleries").
 * Each photograph is cut into windows (eval/world/windows.ts rules, looser: smaller and more overlapping windows, so
 * one photo gives hundreds of spots that look alike, the way the shop fronts of one street do), and each window's
 * feature comes from the real extractor. A second, jittered crop of some windows stands for a wearer's camera view
 * of that spot. Extraction is minutes for ten thousand windows, so the result is cached, keyed by the photos, the
 * model and the rules.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { seededRandom } from '../util/random.js';
import { DEFAULT_WINDOW_RULES, pickWindows, type PixelWindow, type WindowRules } from '../eval/world/windows.js';
import { isImageFile } from '../util/spots-dir.js';

/** One real window: its reference feature, and (for some) the feature of a jittered view of it. */
export interface PhotoFeatures {
  /** Cache key: changes with the photos, the model and the rules. */
  key: string;
  dimension: number;
  /** Unit features of windows, row-major, `count` × `dimension`. */
  references: Float32Array;
  /** Per window: the photo it was cut from (index into `photos`). */
  photoOf: Uint16Array;
  photos: string[];
  /** Unit features of a jittered crop of windows viewWindow(i) (a camera view of that spot), row-major. */
  views: Float32Array;
  count: number;
  viewCount: number;
}

export interface PhotoFeatureOptions {
  /** Folders of photographs (searched one level deep). */
  dirs: string[];
  manifestPath: string;
  /** Windows wanted in all; photos are cut into about count / photos windows each. */
  count: number;
  /** Windows that also get a jittered view feature. */
  views: number;
  seed?: number;
  cacheDir?: string;
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
}

/** The window whose camera view is view i: views are spread evenly over the windows. */
export function viewWindow(f: Pick<PhotoFeatures, 'count' | 'viewCount'>, i: number): number {
  return Math.floor((i * f.count) / f.viewCount);
}

/** Looser than the benchmark's windows: a spot per few percent of a photo, overlapping up to 0.5. */
const LOAD_WINDOW_RULES: Readonly<WindowRules> = Object.freeze({
  ...DEFAULT_WINDOW_RULES,
  maxIou: 0.5,
  areaShare: [0.01, 0.2] as [number, number],
  minWidthPx: 96,
  maxWindows: 1000,
  tries: 20000,
});

/** Side of the crops handed to the extractor (the model takes 128x128; a little more keeps resizing honest). */
const CROP_SIDE = 192;
const CACHE_VERSION = 2;

export function defaultLoadCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'enfpire', 'load');
}

/** Benchmark photo folders built by scripts/build-benchmark.mjs, when present, and the bundled samples. */
export function defaultPhotoDirs(repoRoot: string): string[] {
  const bench = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'enfpire', 'benchmark');
  const dirs = [join(bench, 'debian-photos'), join(repoRoot, 'samples', 'spots'), join(repoRoot, 'samples', 'offgallery')];
  return dirs.filter((d) => existsSync(d));
}

async function listPhotos(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = resolve(dir, entry.name);
      if (entry.isFile() && isImageFile(entry.name)) out.push(path);
      else if (entry.isDirectory()) {
        for (const name of (await readdir(path)).sort()) if (isImageFile(name)) out.push(join(path, name));
      }
    }
  }
  return out;
}

/** Window features of real photographs (cached). Throws when no photographs are found. */
export async function photoFeatures(options: PhotoFeatureOptions): Promise<PhotoFeatures> {
  const photos = await listPhotos(options.dirs);
  if (photos.length === 0) throw new Error(`no photographs in ${options.dirs.join(', ')}`);
  const seed = options.seed ?? 1;
  const hash = createHash('sha256');
  hash.update(await readFile(options.manifestPath));
  hash.update(JSON.stringify({ v: CACHE_VERSION, count: options.count, views: options.views, seed, rules: LOAD_WINDOW_RULES }));
  for (const p of photos) hash.update(`${p}\0${(await stat(p)).size}\n`);
  const key = hash.digest('hex').slice(0, 24);
  const cacheDir = options.cacheDir ?? defaultLoadCacheDir();
  const cachePath = join(cacheDir, `photo-features-${key}.bin`);
  if (existsSync(cachePath)) return decodeFeatures(await readFile(cachePath), photos, key);

  const extractor = new OnnxExtractor({ manifestPath: options.manifestPath });
  await extractor.start();
  try {
    const dimension = extractor.dimension;
    const perPhoto = Math.ceil(options.count / photos.length);
    const rules = { ...LOAD_WINDOW_RULES, maxWindows: Math.max(1, perPhoto) };
    const refs: Float32Array[] = [];
    const photoOf: number[] = [];
    const windows: { photo: number; window: PixelWindow; size: { width: number; height: number } }[] = [];
    const random = seededRandom(seed);
    for (let p = 0; p < photos.length && refs.length < options.count; p++) {
      const image = sharp(photos[p]).rotate();
      const { data, info } = await image.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const size = { width: info.width, height: info.height };
      const raw = { raw: { width: info.width, height: info.height, channels: info.channels } } as const;
      const picked = pickWindows(size, seed * 1000 + p, rules);
      for (const window of [{ left: 0, top: 0, ...size }, ...picked]) {
        if (refs.length >= options.count) break;
        refs.push(await extractor.extract(await crop(data, raw, window)));
        photoOf.push(p);
        windows.push({ photo: p, window, size });
      }
      options.progress?.(`photo features: ${refs.length} windows from ${p + 1} of ${photos.length} photos`);
    }
    // Camera views: the same window shifted and scaled a little, as a wearer standing elsewhere would frame it.
    const views: Float32Array[] = [];
    const viewCount = Math.min(options.views, refs.length);
    // Spread over all windows (so over every region of real spots): window viewOf[i] has view i.
    const viewOf = Array.from({ length: viewCount }, (_, i) => viewWindow({ count: refs.length, viewCount }, i));
    for (let i = 0; i < viewCount; i++) {
      const { photo, window, size } = windows[viewOf[i]];
      const { data, info } = await sharp(photos[photo]).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const raw = { raw: { width: info.width, height: info.height, channels: info.channels } } as const;
      views.push(await extractor.extract(await crop(data, raw, jitter(window, size, random))));
    }
    const result: PhotoFeatures = {
      key,
      dimension,
      count: refs.length,
      viewCount,
      references: concat(refs, dimension),
      views: concat(views, dimension),
      photoOf: Uint16Array.from(photoOf),
      photos,
    };
    await mkdir(cacheDir, { recursive: true });
    await writeFile(`${cachePath}.tmp`, encodeFeatures(result));
    await rename(`${cachePath}.tmp`, cachePath);
    return result;
  } finally {
    await extractor.stop?.();
  }
}

async function crop(data: Buffer, raw: { raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 } }, w: PixelWindow): Promise<Buffer> {
  return sharp(data, raw)
    .extract({ left: w.left, top: w.top, width: w.width, height: w.height })
    .resize(CROP_SIDE, CROP_SIDE, { fit: 'fill' })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** The window moved by up to 10 % of its size and scaled by 0.85..1.15, kept inside the photo. */
function jitter(w: PixelWindow, size: { width: number; height: number }, random: { next(): number }): PixelWindow {
  const s = 0.85 + 0.3 * random.next();
  const width = Math.max(16, Math.min(size.width, Math.round(w.width * s)));
  const height = Math.max(16, Math.min(size.height, Math.round(w.height * s)));
  const cx = w.left + w.width / 2 + (random.next() - 0.5) * 0.2 * w.width;
  const cy = w.top + w.height / 2 + (random.next() - 0.5) * 0.2 * w.height;
  const left = Math.round(Math.min(size.width - width, Math.max(0, cx - width / 2)));
  const top = Math.round(Math.min(size.height - height, Math.max(0, cy - height / 2)));
  return { left, top, width, height };
}

function concat(rows: Float32Array[], dimension: number): Float32Array {
  const out = new Float32Array(rows.length * dimension);
  rows.forEach((r, i) => out.set(r, i * dimension));
  return out;
}

/** Cache file: a JSON header line, then references, views and photoOf as raw little-endian arrays. */
function encodeFeatures(f: PhotoFeatures): Buffer {
  const header = Buffer.from(`${JSON.stringify({ dimension: f.dimension, count: f.count, viewCount: f.viewCount })}\n`);
  return Buffer.concat([
    header,
    Buffer.from(f.references.buffer, f.references.byteOffset, f.references.byteLength),
    Buffer.from(f.views.buffer, f.views.byteOffset, f.views.byteLength),
    Buffer.from(f.photoOf.buffer, f.photoOf.byteOffset, f.photoOf.byteLength),
  ]);
}

function decodeFeatures(buf: Buffer, photos: string[], key: string): PhotoFeatures {
  const nl = buf.indexOf(10);
  const { dimension, count, viewCount } = JSON.parse(buf.subarray(0, nl).toString()) as { dimension: number; count: number; viewCount: number };
  let offset = nl + 1;
  const take = (bytes: number): Uint8Array => {
    const slice = new Uint8Array(buf.subarray(offset, offset + bytes)); // a copy in its own (aligned) buffer
    offset += bytes;
    return slice;
  };
  const r = take(count * dimension * 4);
  const v = take(viewCount * dimension * 4);
  const p = take(count * 2);
  return {
    key,
    dimension,
    count,
    viewCount,
    references: new Float32Array(r.buffer, r.byteOffset, count * dimension),
    views: new Float32Array(v.buffer, v.byteOffset, viewCount * dimension),
    photoOf: new Uint16Array(p.buffer, p.byteOffset, count),
    photos,
  };
}
