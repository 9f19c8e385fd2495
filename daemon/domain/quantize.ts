/**
 * Symmetric int8 quantisation of a vector: the one scheme used on the wire (`transport/codec.ts`) and in stored view
 * models (`storage/view-model-blob.ts`), so a vector decodes to the same float32 values wherever it travelled.
 *
 * - scale = max|x| / 127, rounded to float32 (it travels and is stored as a float32);
 * - byte i = round(x_i / scale) (JavaScript's Math.round: halves go up, so -2.5 → -2), clamped to [-127, 127]
 *   (-128 is never written, so the range is symmetric);
 * - a vector whose scale is 0 (all zeros, or so small that max|x| / 127 underflows float32) is all zero bytes;
 * - a non-finite component (NaN, ±Infinity) is refused with a QuantizationError: it would make the scale NaN or
 *   Infinity and every decoded component NaN.
 * Decoding: component i = byte i × scale, as a float32.
 */

/** The largest byte magnitude: bytes lie in [-QUANT_MAX, QUANT_MAX]. */
export const QUANT_MAX = 127;

export interface QuantizedVector {
  /** One signed byte per component, in [-127, 127]. */
  bytes: Int8Array;
  /** float32 scale: component ≈ byte × scale. */
  scale: number;
}

/** A vector that can not be quantised: it holds a non-finite value. One-line reason naming the index. */
export class QuantizationError extends RangeError {
  constructor(readonly index: number) {
    super(`cannot quantise a vector with a non-finite value at index ${index}`);
    this.name = 'QuantizationError';
  }
}

/** Quantise `v` (see the file's comment); throws QuantizationError on a non-finite component. */
export function quantize(v: Float32Array): QuantizedVector {
  let maxAbs = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]);
    if (!Number.isFinite(a)) throw new QuantizationError(i);
    if (a > maxAbs) maxAbs = a;
  }
  const scale = Math.fround(maxAbs / QUANT_MAX);
  const bytes = new Int8Array(v.length);
  if (scale > 0) {
    for (let i = 0; i < v.length; i++) bytes[i] = Math.max(-QUANT_MAX, Math.min(QUANT_MAX, Math.round(v[i] / scale)));
  }
  return { bytes, scale };
}

/** The float32 vector `q` stands for: byte × scale. Validating the scale of received bytes is the caller's job. */
export function dequantize(q: QuantizedVector): Float32Array {
  const out = new Float32Array(q.bytes.length);
  for (let i = 0; i < out.length; i++) out[i] = q.bytes[i] * q.scale;
  return out;
}

/**
 * The largest per-component error a quantise/dequantise round trip can introduce for `v`: half a step, plus the
 * float32 rounding of the scale and of the decoded value.
 */
export function quantizationErrorBound(v: Float32Array): number {
  let maxAbs = 0;
  for (let i = 0; i < v.length; i++) maxAbs = Math.max(maxAbs, Math.abs(v[i]));
  return maxAbs / (2 * QUANT_MAX) + maxAbs * 2 ** -22;
}

/** Largest absolute component difference between two vectors of equal length (the measured quantisation error). */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`vector lengths differ: ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
