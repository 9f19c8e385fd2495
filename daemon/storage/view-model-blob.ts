import { dequantize, quantize } from '../domain/quantize.js';
import { MAX_VIEW_DIRECTIONS, type SpotViewModel } from '../domain/spot.js';
import { norm } from '../util/vector.js';

/**
 * Compact storage of a view model: byte 0 the format (1), byte 1 the direction count P, then float32 LE residual,
 * P float32 scales, and 1 + P int8 vectors (mean, then directions), each a float32 scale followed by `dimension`
 * int8 values, quantised as on the wire (`domain/quantize.ts`). A view model with a non-finite value is refused
 * (QuantizationError): it could not be sent either.
 */
export function viewModelToBlob(view: SpotViewModel): Buffer {
  const p = view.directions.length;
  const d = view.mean.length;
  const out = Buffer.alloc(2 + 4 + 4 * p + (1 + p) * (4 + d));
  out[0] = 1;
  out[1] = p;
  out.writeFloatLE(view.residual, 2);
  view.scales.forEach((s, j) => out.writeFloatLE(s, 6 + 4 * j));
  let at = 6 + 4 * p;
  for (const v of [view.mean, ...view.directions]) {
    const { bytes, scale } = quantize(v);
    if (bytes.length !== d) throw new RangeError(`view model vectors differ in length: ${bytes.length} and ${d}`);
    out.writeFloatLE(scale, at);
    at += 4;
    out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, d), at);
    at += d;
  }
  return out;
}

export function blobToViewModel(blob: Buffer, dimension: number): SpotViewModel {
  const p = blob[1];
  if (blob[0] !== 1 || p > MAX_VIEW_DIRECTIONS || blob.length !== 2 + 4 + 4 * p + (1 + p) * (4 + dimension)) {
    throw new RangeError(`view model blob of ${blob.length} bytes does not hold a ${dimension}-d view model`);
  }
  const residual = blob.readFloatLE(2);
  const scales = Array.from({ length: p }, (_, j) => blob.readFloatLE(6 + 4 * j));
  let at = 6 + 4 * p;
  const vectors: Float32Array[] = [];
  for (let v = 0; v <= p; v++) {
    const scale = blob.readFloatLE(at);
    at += 4;
    vectors.push(dequantize({ bytes: new Int8Array(blob.buffer, blob.byteOffset + at, dimension), scale }));
    at += dimension;
  }
  const [mean, ...directions] = vectors;
  return { mean, directions: directions.map(unit), scales, residual };
}

/** Unit length; a zero (or unreadable, NaN) direction is handed back as it is. */
function unit(v: Float32Array): Float32Array {
  const length = norm(v);
  return length > 0 ? v.map((x) => x / length) : v;
}
