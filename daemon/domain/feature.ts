/** A feature is an extractor's output for one photo: a Float32Array, unit length once normalised. */

/** True when every element is a finite number (NaN and ±Infinity would poison every cosine they touch). */
export function isFiniteFeature(feature: unknown, dimension?: number): feature is Float32Array {
  if (!(feature instanceof Float32Array) || feature.length === 0) return false;
  if (dimension !== undefined && feature.length !== dimension) return false;
  for (let i = 0; i < feature.length; i++) if (!Number.isFinite(feature[i])) return false;
  return true;
}
