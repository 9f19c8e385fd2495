import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Frame } from '../camera/types.js';
import { listImageFiles } from '../camera/files-source.js';
import { UserError } from '../util/errors.js';

/** The pictures the extractor benchmark feeds: the same photos as a phone/MJPEG camera and as a raw video camera gives them. */
export interface BenchInputs {
  /** 640 px wide JPEGs (quality 85), as an MJPEG camera stream delivers them. */
  jpeg: Frame[];
  /** 640x480 I420 frames (BT.601 limited range), as libcamera/V4L2 deliver raw video. */
  yuv420: Frame[];
}

export const BENCH_WIDTH = 640;
export const BENCH_YUV_HEIGHT = 480;

/** Loads every image of `dir` (a spot-photo folder) and prepares both input kinds once, outside any timed loop. */
export async function loadBenchInputs(dir: string): Promise<BenchInputs> {
  const files = await listImageFiles(dir);
  if (files.length === 0) throw new UserError(`bench: ${dir} holds no .jpg, .jpeg, .png or .webp images; pass --spots with a folder of photos.`);
  const jpeg: Frame[] = [];
  const yuv420: Frame[] = [];
  for (const [i, label] of files.entries()) {
    const original = await readFile(join(dir, label));
    const { data, info } = await sharp(original)
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .resize({ width: BENCH_WIDTH })
      .jpeg({ quality: 85 })
      .toBuffer({ resolveWithObject: true });
    jpeg.push({ data, format: 'encoded', width: info.width, height: info.height, seq: i + 1, capturedAt: 0, label });
    const rgb = await sharp(original)
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .resize(BENCH_WIDTH, BENCH_YUV_HEIGHT, { fit: 'cover' })
      .toColourspace('srgb')
      .raw()
      .toBuffer();
    yuv420.push({ data: rgbToI420(rgb, BENCH_WIDTH, BENCH_YUV_HEIGHT), format: 'yuv420', width: BENCH_WIDTH, height: BENCH_YUV_HEIGHT, seq: i + 1, capturedAt: 0, label });
  }
  return { jpeg, yuv420 };
}

/**
 * Interleaved RGB → I420 with BT.601 limited-range coefficients (the inverse of what preprocess.ts decodes), chroma
 * from each 2x2 block's mean. Even width and height only: that is all a benchmark needs.
 */
export function rgbToI420(rgb: Uint8Array, width: number, height: number): Buffer {
  if (width % 2 !== 0 || height % 2 !== 0) throw new RangeError(`rgbToI420 needs even sizes, got ${width}x${height}`);
  if (rgb.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} RGB bytes, got ${rgb.length}`);
  const cw = width / 2;
  const ch = height / 2;
  const out = Buffer.alloc(width * height + 2 * cw * ch);
  const uBase = width * height;
  const vBase = uBase + cw * ch;
  for (let i = 0, p = 0; i < width * height; i++, p += 3) {
    out[i] = clamp(16 + (65.738 * rgb[p] + 129.057 * rgb[p + 1] + 25.064 * rgb[p + 2]) / 256);
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
        const p = 3 * ((2 * y + dy) * width + 2 * x + dx);
        r += rgb[p];
        g += rgb[p + 1];
        b += rgb[p + 2];
      }
      r /= 4;
      g /= 4;
      b /= 4;
      out[uBase + y * cw + x] = clamp(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256);
      out[vBase + y * cw + x] = clamp(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256);
    }
  }
  return out;
}

const clamp = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
