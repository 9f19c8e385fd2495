import sharp from 'sharp';
import type { Frame } from '../camera/types.js';
import { BadImageError } from './errors.js';
import type { ModelManifest } from './types.js';
import { yuv420ToRgb, yuv420ToTensor } from './yuv420.js';

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
  // A raw frame converts straight into the tensor (the same values as toRgb then toTensorData, one pass fewer).
  if (!Buffer.isBuffer(image) && image.format === 'yuv420') return yuv420ToTensor(image, spec);
  return toTensorData(await toRgb(image, spec), spec);
}

/**
 * Decodes and resizes to the input size: interleaved 8-bit RGB, width*height*3 bytes. Encoded pictures go through
 * sharp; raw I420 frames are area-resampled and converted in process (yuv420.ts), without sharp.
 */
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

const describe = (label: string | undefined): string => (label ? `${label} ` : '');
