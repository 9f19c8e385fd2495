/**
 * Seeded camera distortions (DESIGN §7): turns a reference photo of a spot into what a glasses or kiosk camera
 * would plausibly capture of it. Enrolment renders the views it fits a spot's view model from with it, the demo its
 * camera frames, and the evaluation its queries. The same seed always gives the same bytes (for the same
 * sharp/libvips build), so enrolment and an evaluation run can be repeated exactly.
 */
import sharp from 'sharp';
import { seededRandom, type Random } from '../util/random.js';

/** Inclusive [low, high] ranges the parameters are drawn from, uniformly. */
export interface DistortionRanges {
  /** Share of the photo's area kept by the viewpoint crop. */
  cropArea: [number, number];
  /** Crop aspect ratio relative to the photo's (1: same shape). */
  cropAspect: [number, number];
  /** Output width in pixels (height follows the crop's aspect ratio). */
  outputWidth: [number, number];
  /** In-plane rotation in degrees. */
  rotationDeg: [number, number];
  /** Horizontal and vertical shear factors (stand-in for perspective, see below). */
  shear: [number, number];
  /** Overall gain on pixel values. */
  exposure: [number, number];
  /** Per-channel gain on top of exposure. */
  whiteBalance: [number, number];
  /** Gaussian blur sigma in pixels; below 0.3 no blur is applied (sharp's smallest sigma). */
  blurSigma: [number, number];
  /** Standard deviation of the Gaussian sensor noise, in 8-bit pixel levels. */
  noiseSigma: [number, number];
  jpegQuality: [number, number];
}

export const DEFAULT_DISTORTION_RANGES: Readonly<DistortionRanges> = Object.freeze<DistortionRanges>({
  cropArea: [0.7, 0.95],
  cropAspect: [0.9, 1.1],
  outputWidth: [480, 800],
  rotationDeg: [-10, 10],
  shear: [-0.08, 0.08],
  exposure: [0.7, 1.3],
  whiteBalance: [0.9, 1.1],
  blurSigma: [0, 1.2],
  noiseSigma: [1, 6],
  jpegQuality: [60, 92],
});

export type DistortionOptions = Partial<DistortionRanges>;

/** The parameters one seed stands for; logged by the harness next to each query photo. */
export interface DistortionParams {
  seed: number;
  crop: {
    area: number;
    aspect: number;
    /** Position of the crop inside the free margin, 0 (left/top) to 1 (right/bottom). */
    x: number;
    y: number;
  };
  outputWidth: number;
  rotationDeg: number;
  shearX: number;
  shearY: number;
  exposure: number;
  /** Gains for red, green, blue. */
  whiteBalance: [number, number, number];
  /** 0 when no blur is applied. */
  blurSigma: number;
  noiseSigma: number;
  jpegQuality: number;
}

/** Draws the distortion parameters of `seed` (an integer; equal seeds give equal parameters). */
export function describeDistortion(seed: number, options: DistortionOptions = {}): DistortionParams {
  return sample(seed, options).params;
}

/** The parameters, and the generator left after drawing them, which then drives the sensor noise. */
function sample(seed: number, options: DistortionOptions): { params: DistortionParams; random: Random } {
  const ranges: DistortionRanges = { ...DEFAULT_DISTORTION_RANGES, ...options };
  const random = seededRandom(seed);
  const draw = ([low, high]: [number, number]) => low + (high - low) * random.next();
  // Draw order is part of the contract: changing it changes every seed's photo.
  const crop = { area: draw(ranges.cropArea), aspect: draw(ranges.cropAspect), x: random.next(), y: random.next() };
  const outputWidth = Math.round(draw(ranges.outputWidth));
  const rotationDeg = draw(ranges.rotationDeg);
  const shearX = draw(ranges.shear);
  const shearY = draw(ranges.shear);
  const exposure = draw(ranges.exposure);
  const whiteBalance: [number, number, number] = [
    draw(ranges.whiteBalance),
    draw(ranges.whiteBalance),
    draw(ranges.whiteBalance),
  ];
  const blurSigma = draw(ranges.blurSigma);
  const noiseSigma = draw(ranges.noiseSigma);
  const jpegQuality = Math.round(draw(ranges.jpegQuality));
  const params: DistortionParams = {
    seed,
    crop,
    outputWidth,
    rotationDeg,
    shearX,
    shearY,
    exposure,
    whiteBalance,
    blurSigma: blurSigma >= 0.3 ? blurSigma : 0,
    noiseSigma,
    jpegQuality,
  };
  return { params, random };
}

/** Decoded 8-bit sRGB pixels, three channels (what distortPixels starts from). */
export interface RawPhoto {
  data: Buffer;
  info: { width: number; height: number; channels: 3 };
}

/** A rectangle of a photo, in pixels. */
export interface PixelArea {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Decodes any image sharp reads to plain 8-bit sRGB: EXIF orientation applied, transparency flattened on white. */
export async function decodeForDistortion(input: Buffer): Promise<RawPhoto> {
  const { data, info } = await sharp(input)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, info: { width: info.width, height: info.height, channels: 3 } };
}

/**
 * A realistic camera view of `input` (any image sharp decodes), as JPEG bytes, deterministic from `seed`.
 * Steps, in the order light takes: viewpoint crop, rotation and shear (with the black corners cropped
 * away), scale to the output size, optical blur, exposure and white balance, sensor noise, JPEG.
 */
export async function distortPhoto(input: Buffer, seed: number, options: DistortionOptions = {}): Promise<Buffer> {
  return distortPixels(await decodeForDistortion(input), seed, options);
}

/**
 * distortPhoto on pixels already decoded, seeing only `area` of them (default all): the same bytes as distortPhoto
 * on a lossless picture of that area, without encoding and decoding one (the evaluation renders hundreds of
 * thousands of views of windows of a few photographs).
 */
export async function distortPixels(source: RawPhoto, seed: number, options: DistortionOptions = {}, area?: PixelArea): Promise<Buffer> {
  const { params: p, random } = sample(seed, options);
  const { left: areaLeft, top: areaTop, width: W, height: H } = area ?? { left: 0, top: 0, ...source.info };
  if (areaLeft < 0 || areaTop < 0 || W < 1 || H < 1 || areaLeft + W > source.info.width || areaTop + H > source.info.height) {
    throw new RangeError(`area ${JSON.stringify(area)} is not inside the ${source.info.width}×${source.info.height} photo`);
  }

  // Viewpoint: keep a random window of the photo.
  let wf = Math.sqrt(p.crop.area * p.crop.aspect);
  let hf = Math.sqrt(p.crop.area / p.crop.aspect);
  if (wf > 1) [wf, hf] = [1, p.crop.area];
  if (hf > 1) [wf, hf] = [p.crop.area, 1];
  const cw = Math.max(8, Math.min(W, Math.round(wf * W)));
  const ch = Math.max(8, Math.min(H, Math.round(hf * H)));
  const crop = {
    left: areaLeft + Math.round(p.crop.x * (W - cw)),
    top: areaTop + Math.round(p.crop.y * (H - ch)),
    width: cw,
    height: ch,
  };

  // Rotation and shear in one affine map. sharp has no projective warp, so perspective (looking at a
  // facade from the side) is approximated by the shear: it skews parallel lines but cannot make them
  // converge.
  const angle = (p.rotationDeg * Math.PI) / 180;
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  const matrix: [number, number, number, number] = [
    cos - sin * p.shearY,
    cos * p.shearX - sin,
    sin + cos * p.shearY,
    sin * p.shearX + cos,
  ];
  // Largest centred rectangle of the crop's aspect that stays inside the warped image (no black corners),
  // as a fraction `keep` of the pre-warp size; 2 % margin keeps interpolation fringes out.
  const det = matrix[0] * matrix[3] - matrix[1] * matrix[2];
  const inverse = [matrix[3] / det, -matrix[1] / det, -matrix[2] / det, matrix[0] / det];
  const aspect = ch / cw;
  const keep =
    0.98 *
    Math.min(
      1 / (Math.abs(inverse[0]) + Math.abs(inverse[1]) * aspect),
      aspect / (Math.abs(inverse[2]) + Math.abs(inverse[3]) * aspect),
    );

  // Resize before warping so the warp works at about the output's resolution, not the photo's.
  const outW = p.outputWidth;
  const outH = Math.max(1, Math.round(outW * aspect));
  const preW = Math.ceil(outW / keep) + 2;
  const preH = Math.max(1, Math.round(preW * aspect));
  const warped = await sharp(source.data, { raw: source.info })
    .extract(crop)
    .resize(preW, preH, { fit: 'fill' })
    .affine(matrix, { background: '#000000', interpolator: sharp.interpolators.bicubic })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const innerW = Math.min(warped.info.width, Math.floor(keep * preW));
  const innerH = Math.min(warped.info.height, Math.floor(keep * preH));
  const inner = {
    left: Math.floor((warped.info.width - innerW) / 2),
    top: Math.floor((warped.info.height - innerH) / 2),
    width: innerW,
    height: innerH,
  };

  let optics = sharp(warped.data, { raw: warped.info }).extract(inner).resize(outW, outH, { fit: 'fill' });
  if (p.blurSigma > 0) optics = optics.blur(p.blurSigma);
  const gains = p.whiteBalance.map((gain) => gain * p.exposure);
  const exposed = await optics.linear(gains, [0, 0, 0]).raw().toBuffer({ resolveWithObject: true });

  addGaussianNoise(exposed.data, p.noiseSigma, random);
  return sharp(exposed.data, { raw: exposed.info }).jpeg({ quality: p.jpegQuality }).toBuffer();
}

/** Standard normal draws that sensor noise picks from (a fixed table, so a photo's noise costs no transcendentals). */
const NOISE_TABLE_BITS = 16;
let noiseTable: Float32Array | undefined;

function standardNormals(): Float32Array {
  if (!noiseTable) {
    const random = seededRandom(0x5e75);
    noiseTable = Float32Array.from({ length: 1 << NOISE_TABLE_BITS }, () => random.normal());
  }
  return noiseTable;
}

/**
 * Adds zero-mean Gaussian noise to 8-bit samples in place, rounding and clamping to 0..255. Each sample takes a
 * normal from a fixed 65,536-entry table at a position drawn by a xorshift generator seeded from `random`: as
 * Gaussian and as independent between pixels as drawing each afresh, at a twentieth of the cost (a camera view
 * has about a million samples, and the evaluation renders thousands of views). The table is scaled and rounded once
 * per view: a sample is an integer, so rounding it plus the noise is it plus the rounded noise, and the clamped
 * array clamps (the same bytes as rounding each sum, in about a quarter of the time).
 */
function addGaussianNoise(pixels: Buffer, sigma: number, random: Random): void {
  const table = standardNormals();
  const offsets = new Int16Array(table.length);
  for (let j = 0; j < table.length; j++) offsets[j] = Math.round(sigma * table[j]);
  const samples = new Uint8ClampedArray(pixels.buffer, pixels.byteOffset, pixels.length);
  const shift = 32 - NOISE_TABLE_BITS;
  let state = (random.int(0xffffffff) + 1) >>> 0; // xorshift32 must not start at 0
  for (let i = 0; i < samples.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    samples[i] += offsets[state >>> shift];
  }
}
