import sharp from 'sharp';
import type { Frame } from '../camera/types.js';
import { BadImageError } from './errors.js';
import type { ModelManifest } from './types.js';

export type ResizeFit = 'fill' | 'cover';

/** Everything preprocessing needs to know about a model's input. */
export interface InputSpec {
  width: number;
  height: number;
  layout: 'NCHW' | 'NHWC';
  mean: [number, number, number];
  std: [number, number, number];
  /**
   * 'fill' stretches the whole picture to the input size; 'cover' scales and centre-crops. 'fill' is the
   * default: on the sample photos it measured equal or better (see the model card), and it never throws
   * away the sides of a wide camera frame, which hold as much of the spot as the middle.
   */
  fit: ResizeFit;
}

export function inputSpec(manifest: ModelManifest): InputSpec {
  const [, a, b, c] = manifest.input.shape;
  const nchw = manifest.input.layout === 'NCHW';
  return {
    width: nchw ? c : b,
    height: nchw ? b : a,
    layout: manifest.input.layout,
    mean: manifest.input.mean,
    std: manifest.input.std,
    fit: manifest.input.resize ?? 'fill',
  };
}

/**
 * An encoded picture (JPEG/PNG/WebP/…) or a camera frame → the model's input tensor data.
 * A picture that cannot be decoded is a BadImageError, never a crash.
 */
export async function preprocess(image: Buffer | Frame, spec: InputSpec): Promise<Float32Array> {
  return toTensorData(await toRgb(image, spec), spec);
}

/** Decodes and resizes to the input size: interleaved 8-bit RGB, width*height*3 bytes. */
export async function toRgb(image: Buffer | Frame, spec: Pick<InputSpec, 'width' | 'height' | 'fit'>): Promise<Buffer> {
  if (Buffer.isBuffer(image)) return encodedToRgb(image, spec, undefined);
  if (image.format === 'yuv420') return yuv420ToRgb(image, spec);
  if (image.format === 'encoded') return encodedToRgb(image.data, spec, image.label);
  throw new BadImageError(`Frame ${describe(image.label)}has unknown format ${JSON.stringify(image.format)}; expected 'encoded' or 'yuv420'.`);
}

/** Interleaved 8-bit RGB at the input size → normalised float tensor data in the model's layout. */
export function toTensorData(rgb: Uint8Array, spec: InputSpec): Float32Array {
  const n = spec.width * spec.height;
  if (rgb.length !== n * 3) throw new Error(`expected ${n * 3} RGB bytes, got ${rgb.length}`);
  // (p/255 - mean)/std folded into one multiply-add per value.
  const scale = spec.std.map((s) => 1 / (255 * s));
  const offset = spec.mean.map((m, c) => -m / spec.std[c]);
  const out = new Float32Array(n * 3);
  if (spec.layout === 'NHWC') {
    for (let i = 0; i < n * 3; i += 3) {
      out[i] = rgb[i] * scale[0] + offset[0];
      out[i + 1] = rgb[i + 1] * scale[1] + offset[1];
      out[i + 2] = rgb[i + 2] * scale[2] + offset[2];
    }
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      out[i] = rgb[j] * scale[0] + offset[0];
      out[n + i] = rgb[j + 1] * scale[1] + offset[1];
      out[2 * n + i] = rgb[j + 2] * scale[2] + offset[2];
    }
  }
  return out;
}

async function encodedToRgb(data: Buffer, spec: Pick<InputSpec, 'width' | 'height' | 'fit'>, label: string | undefined): Promise<Buffer> {
  if (data.length === 0) throw new BadImageError(`Picture ${describe(label)}is empty (0 bytes); check the camera or the file.`);
  try {
    const { data: rgb, info } = await sharp(data)
      .autoOrient() // honour EXIF rotation: a portrait phone photo must not be described sideways
      .flatten({ background: '#ffffff' }) // transparent PNGs onto white, as a viewer shows them
      .resize(spec.width, spec.height, { fit: spec.fit })
      .toColourspace('srgb') // greyscale and CMYK pictures become 3-channel RGB
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return rgb;
  } catch (err) {
    throw new BadImageError(
      `Picture ${describe(label)}cannot be decoded (${(err as Error).message.split('\n')[0]}); use an intact JPEG, PNG or WebP file.`,
      { cause: err },
    );
  }
}

/**
 * I420: Y plane (w*h), then U and V planes (ceil(w/2)*ceil(h/2)), BT.601 limited range (what libcamera
 * and V4L2 deliver for video by default).
 *
 * The planes are interleaved into one 3-channel YUV image, resized by sharp in a single call (resizing
 * is linear and YUV→RGB is affine, so resizing before converting changes next to nothing), and only the
 * model-sized result is converted to RGB. When the model input is at most half the frame, luma is first
 * averaged 2x2 down to the chroma resolution: nothing the resize keeps is lost, and sharp gets a quarter
 * of the pixels. One sharp call instead of three halves the time (3.4 vs 8.8 ms for 640x480 here).
 */
async function yuv420ToRgb(frame: Frame, spec: Pick<InputSpec, 'width' | 'height' | 'fit'>): Promise<Buffer> {
  const yuv = interleaveYuv420(frame, spec);
  let small: Buffer;
  try {
    small = await sharp(yuv.data, { raw: { width: yuv.width, height: yuv.height, channels: 3 } })
      .resize(spec.width, spec.height, { fit: spec.fit })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new BadImageError(`YUV420 frame ${describe(frame.label)}cannot be resized (${(err as Error).message}).`, { cause: err });
  }
  for (let j = 0; j < small.length; j += 3) {
    const c = 1.164383 * (small[j] - 16);
    const d = small[j + 1] - 128;
    const e = small[j + 2] - 128;
    small[j] = clamp(c + 1.596027 * e);
    small[j + 1] = clamp(c - 0.391762 * d - 0.812968 * e);
    small[j + 2] = clamp(c + 2.017232 * d);
  }
  return small;
}

/**
 * The one 3-channel YUV image yuv420ToRgb hands sharp: at chroma resolution (luma averaged 2x2) when the model input
 * is at most half the frame, at full resolution otherwise. Exported so the benchmark can time sharp's resize of
 * exactly this image on its own (its "decode floor" for raw frames).
 */
export function interleaveYuv420(frame: Frame, spec: Pick<InputSpec, 'width' | 'height'>): { data: Buffer; width: number; height: number } {
  const { width: w, height: h, data } = frame;
  if (!isDim(w) || !isDim(h)) {
    throw new BadImageError(`YUV420 frame ${describe(frame.label)}needs positive integer width and height, got ${w}x${h}; the camera source must set them.`);
  }
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const expected = w * h + 2 * cw * ch;
  if (data.length !== expected) {
    throw new BadImageError(`YUV420 frame ${describe(frame.label)}of ${w}x${h} must hold ${expected} bytes, got ${data.length}; check the camera's pixel format and stride.`);
  }
  const half = spec.width * 2 <= w && spec.height * 2 <= h;
  return half ? { data: interleaveHalf(data, w, h, cw, ch), width: cw, height: ch } : { data: interleaveFull(data, w, h, cw, ch), width: w, height: h };
}

/** Y averaged 2x2 down to the chroma grid, interleaved with U and V: cw*ch*3 bytes. */
function interleaveHalf(data: Buffer, w: number, h: number, cw: number, ch: number): Buffer {
  const out = Buffer.allocUnsafe(cw * ch * 3);
  const u = w * h;
  const v = u + cw * ch;
  for (let y = 0; y < ch; y++) {
    const r0 = 2 * y * w;
    const r1 = Math.min(2 * y + 1, h - 1) * w; // odd heights repeat the last row
    for (let x = 0; x < cw; x++) {
      const x0 = 2 * x;
      const x1 = Math.min(x0 + 1, w - 1);
      const i = 3 * (y * cw + x);
      out[i] = (data[r0 + x0] + data[r0 + x1] + data[r1 + x0] + data[r1 + x1] + 2) >> 2;
      out[i + 1] = data[u + y * cw + x];
      out[i + 2] = data[v + y * cw + x];
    }
  }
  return out;
}

/** Full-resolution Y with each chroma sample repeated over its 2x2 block: w*h*3 bytes. */
function interleaveFull(data: Buffer, w: number, h: number, cw: number, ch: number): Buffer {
  const out = Buffer.allocUnsafe(w * h * 3);
  const u = w * h;
  const v = u + cw * ch;
  for (let y = 0; y < h; y++) {
    const c = (y >> 1) * cw;
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      out[i] = data[y * w + x];
      out[i + 1] = data[u + c + (x >> 1)];
      out[i + 2] = data[v + c + (x >> 1)];
    }
  }
  return out;
}

const clamp = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
const isDim = (x: unknown): x is number => Number.isInteger(x) && (x as number) > 0;
const describe = (label: string | undefined): string => (label ? `${label} ` : '');
