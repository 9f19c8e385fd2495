/**
 * Features are stored as raw little-endian float32 BLOBs: 4 bytes per element, no framing, so a 512-d feature
 * costs 2 KiB and reads back without parsing.
 */

export function featureToBlob(feature: Float32Array): Buffer {
  return Buffer.from(feature.buffer, feature.byteOffset, feature.byteLength);
}

/** Copies, because SQLite hands back Buffers that may share a pool and need not be 4-byte aligned. */
export function blobToFeature(blob: Buffer | Uint8Array): Float32Array {
  if (blob.byteLength % 4 !== 0) throw new RangeError(`feature blob of ${blob.byteLength} bytes is not a float32 array`);
  const out = new Float32Array(blob.byteLength / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}
