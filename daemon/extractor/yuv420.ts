import type { Frame } from '../camera/types.js';
import { BadImageError } from './errors.js';

/** The output an I420 frame is resampled to: the model's input size and fit. */
export interface Yuv420Target {
  width: number;
  height: number;
  fit: 'fill' | 'cover';
}

/**
 * One axis of a separable area (box) resample: output i is the weighted sum of the `taps` source samples
 * index[i*taps ..] with the matching weights, which sum to 1. Every output has the same number of taps (the
 * most any needs; the others are padded with zero weights on a sample they already read), so the loops below
 * run a fixed, unrolled count. `first`/`end` bound the source samples any output reads (a 'cover' crop skips
 * the rest).
 */
interface AxisTaps {
  count: number;
  taps: number;
  index: Int32Array;
  weight: Float64Array;
  first: number;
  end: number;
}

/** The taps for one frame size → target (frames of a camera all have one size, so this is built once) and scratch. */
interface Plan {
  lumaX: AxisTaps;
  lumaY: AxisTaps;
  chromaX: AxisTaps;
  /** The U plane's rows, then the V plane's: the two planes lie one after the other and resample as one. */
  chromaY: AxisTaps;
  /** One vertically resampled source row. */
  row: Float64Array;
  y: Float64Array;
  /** U (the first width*height values), then V. */
  uv: Float64Array;
}

/**
 * Output sample i covers source [from + i*step, from + (i+1)*step) with step = span/out; each source sample k
 * (the interval [k, k+1)) weighs by the length it shares with that interval, over step. Exact for any ratio: a
 * shrink averages whole and partial samples, an enlargement takes one sample (or blends two across a boundary).
 * Indices past the plane (only by rounding at the far edge) read its last sample.
 */
function axisTaps(samples: number, from: number, span: number, out: number): AxisTaps {
  const step = span / out;
  const lists: Array<Array<[number, number]>> = [];
  for (let i = 0; i < out; i++) {
    const a = from + i * step;
    const b = i === out - 1 ? from + span : from + (i + 1) * step;
    const list: Array<[number, number]> = [];
    for (let k = Math.floor(a); k < b; k++) {
      const w = Math.min(b, k + 1) - Math.max(a, k);
      if (w > 1e-9) list.push([Math.min(Math.max(k, 0), samples - 1), w]);
    }
    const total = list.reduce((sum, [, w]) => sum + w, 0);
    lists.push(list.map(([k, w]) => [k, w / total]));
  }
  const taps = Math.max(...lists.map((list) => list.length));
  const index = new Int32Array(out * taps);
  const weight = new Float64Array(out * taps);
  let first = samples;
  let end = 0;
  lists.forEach((list, i) => {
    for (let t = 0; t < taps; t++) index[i * taps + t] = list[Math.min(t, list.length - 1)][0];
    list.forEach(([k, w], t) => {
      weight[i * taps + t] = w;
      first = Math.min(first, k);
      end = Math.max(end, k + 1);
    });
  });
  return { count: out, taps, index, weight, first, end };
}

/** `ys` twice, the second time `rows` further down: the taps of two planes stacked one above the other. */
function stacked(ys: AxisTaps, rows: number): AxisTaps {
  const index = new Int32Array(2 * ys.index.length);
  index.set(ys.index);
  for (let t = 0; t < ys.index.length; t++) index[ys.index.length + t] = ys.index[t] + rows;
  const weight = new Float64Array(2 * ys.weight.length);
  weight.set(ys.weight);
  weight.set(ys.weight, ys.weight.length);
  return { count: 2 * ys.count, taps: ys.taps, index, weight, first: ys.first, end: ys.end + rows };
}

/**
 * The source rectangle in luma samples: the whole frame for 'fill'; for 'cover' the centred crop with the
 * target's aspect (what scaling to cover and cropping the middle keeps), fractional edges included.
 */
function sourceRect(w: number, h: number, target: Yuv420Target): { x: number; y: number; w: number; h: number } {
  if (target.fit === 'cover') {
    if (w * target.height > h * target.width) {
      const cw = (h * target.width) / target.height;
      return { x: (w - cw) / 2, y: 0, w: cw, h };
    }
    const ch = (w * target.height) / target.width;
    return { x: 0, y: (h - ch) / 2, w, h: ch };
  }
  return { x: 0, y: 0, w, h };
}

const plans = new Map<string, Plan>();

function planFor(w: number, h: number, target: Yuv420Target): Plan {
  const key = `${w}x${h}>${target.width}x${target.height}:${target.fit}`;
  let plan = plans.get(key);
  if (plan) return plan;
  const r = sourceRect(w, h, target);
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const n = target.width * target.height;
  // Chroma sample k covers luma [2k, 2k+2) (sited at the centre of its 2x2 block), so chroma coordinates are
  // luma coordinates halved; an odd width's last chroma column is half outside the frame and weighs half.
  plan = {
    lumaX: axisTaps(w, r.x, r.w, target.width),
    lumaY: axisTaps(h, r.y, r.h, target.height),
    chromaX: axisTaps(cw, r.x / 2, r.w / 2, target.width),
    chromaY: stacked(axisTaps(ch, r.y / 2, r.h / 2, target.height), ch),
    row: new Float64Array(w),
    y: new Float64Array(n),
    uv: new Float64Array(2 * n),
  };
  if (plans.size >= 8) plans.delete(plans.keys().next().value!);
  plans.set(key, plan);
  return plan;
}

/**
 * Area-resamples one plane (rows of `stride` bytes from `base`) into `out`: each output row sums its source rows
 * into `row`, then each output sample sums its columns of `row`. The common tap counts are written out, one
 * pass over `row` per output row, no loop over taps per sample.
 */
function resamplePlane(src: Uint8Array, base: number, stride: number, xs: AxisTaps, ys: AxisTaps, row: Float64Array, out: Float64Array): void {
  const { first, end, index: xi, weight: xw } = xs;
  const { index: yi, weight: yw } = ys;
  const V = ys.taps;
  for (let oy = 0; oy < ys.count; oy++) {
    const k = oy * V;
    const a0 = base + yi[k] * stride;
    const w0 = yw[k];
    if (V === 1) {
      for (let x = first; x < end; x++) row[x] = src[a0 + x] * w0;
    } else if (V === 2) {
      const a1 = base + yi[k + 1] * stride;
      const w1 = yw[k + 1];
      for (let x = first; x < end; x++) row[x] = src[a0 + x] * w0 + src[a1 + x] * w1;
    } else {
      const a1 = base + yi[k + 1] * stride;
      const a2 = base + yi[k + 2] * stride;
      const w1 = yw[k + 1];
      const w2 = yw[k + 2];
      for (let x = first; x < end; x++) row[x] = src[a0 + x] * w0 + src[a1 + x] * w1 + src[a2 + x] * w2;
      for (let t = k + 3; t < k + V; t++) {
        const a = base + yi[t] * stride;
        const w = yw[t];
        for (let x = first; x < end; x++) row[x] += src[a + x] * w;
      }
    }
    horizontal(row, xi, xw, xs.taps, out, oy * xs.count, xs.count);
  }
}

/** One output row from `row`: `count` samples of `taps` taps each, written from out[o]. */
function horizontal(row: Float64Array, xi: Int32Array, xw: Float64Array, taps: number, out: Float64Array, o: number, count: number): void {
  const last = o + count;
  if (taps === 2) {
    for (let k = 0; o < last; o++, k += 2) out[o] = row[xi[k]] * xw[k] + row[xi[k + 1]] * xw[k + 1];
  } else if (taps === 3) {
    for (let k = 0; o < last; o++, k += 3) out[o] = row[xi[k]] * xw[k] + row[xi[k + 1]] * xw[k + 1] + row[xi[k + 2]] * xw[k + 2];
  } else if (taps === 4) {
    for (let k = 0; o < last; o++, k += 4) {
      out[o] = row[xi[k]] * xw[k] + row[xi[k + 1]] * xw[k + 1] + row[xi[k + 2]] * xw[k + 2] + row[xi[k + 3]] * xw[k + 3];
    }
  } else {
    for (let k = 0; o < last; o++) {
      let s = 0;
      for (const e = k + taps; k < e; k++) s += row[xi[k]] * xw[k];
      out[o] = s;
    }
  }
}

/**
 * I420 (Y plane w*h, then U and V planes ceil(w/2)*ceil(h/2), BT.601 limited range, what libcamera and V4L2
 * deliver for video by default) → the Y, U and V planes area-resampled to the target size, as
 * floats (reused buffers: valid until the next call for the same frame size and target).
 */
function resampleYuv420(frame: Frame, target: Yuv420Target): Plan {
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
  const plan = planFor(w, h, target);
  resamplePlane(data, 0, w, plan.lumaX, plan.lumaY, plan.row, plan.y);
  resamplePlane(data, w * h, cw, plan.chromaX, plan.chromaY, plan.row, plan.uv);
  return plan;
}

/**
 * An I420 frame → interleaved 8-bit RGB at the target size, in process and without sharp: each plane is
 * area-resampled straight from the frame (resampling is linear and YUV→RGB affine, so resampling first changes
 * next to nothing and converts only model-sized pixels), then BT.601 limited range → full-range RGB.
 */
export function yuv420ToRgb(frame: Frame, target: Yuv420Target): Buffer {
  const plan = resampleYuv420(frame, target);
  const rgb = Buffer.allocUnsafe(plan.y.length * 3);
  convert(plan, rgb, [0, 1, 2], 3, [1, 1, 1], [0, 0, 0]);
  return rgb;
}

/** How a model wants its input tensor: layout, and the per-channel mean and std of (RGB / 255). */
export interface TensorNorm {
  layout: 'NCHW' | 'NHWC';
  mean: readonly number[];
  std: readonly number[];
}

/**
 * yuv420ToRgb and the tensor fill (preprocess.ts toTensorData) in one pass: the same 8-bit RGB values, written
 * straight as normalised floats in the model's layout, with no RGB buffer in between.
 */
export function yuv420ToTensor(frame: Frame, target: Yuv420Target & TensorNorm): Float32Array {
  const plan = resampleYuv420(frame, target);
  const n = plan.y.length;
  const out = new Float32Array(n * 3);
  const scale = target.std.map((s) => 1 / (255 * s));
  const offset = target.mean.map((m, c) => -m / target.std[c]);
  if (target.layout === 'NCHW') convert(plan, out, [0, n, 2 * n], 1, scale, offset);
  else convert(plan, out, [0, 1, 2], 3, scale, offset);
  return out;
}

/**
 * BT.601 limited range → RGB rounded to 0..255, each channel then times scale plus offset, written at
 * base[channel] + i * step for pixel i.
 */
function convert(plan: Plan, out: Uint8Array | Float32Array, base: number[], step: number, scale: number[], offset: number[]): void {
  const { y, uv } = plan;
  const n = y.length;
  const [r0, g0, b0] = base;
  const [rs, gs, bs] = scale;
  const [ro, go, bo] = offset;
  for (let i = 0, j = 0; i < n; i++, j += step) {
    const c = 1.164383 * (y[i] - 16);
    const d = uv[i] - 128;
    const e = uv[n + i] - 128;
    out[r0 + j] = byte(c + 1.596027 * e) * rs + ro;
    out[g0 + j] = byte(c - 0.391762 * d - 0.812968 * e) * gs + go;
    out[b0 + j] = byte(c + 2.017232 * d) * bs + bo;
  }
}

const byte = (x: number): number => (x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x));
const isDim = (x: unknown): x is number => Number.isInteger(x) && (x as number) > 0;
const describe = (label: string | undefined): string => (label ? `${label} ` : '');
