import sharp from 'sharp';
import type { SceneGateConfig } from '../config/types.js';
import type { Frame } from './types.js';

/** dHash grid: 9x8 cells give 8x8 = 64 left-right comparisons. */
const HASH_W = 9;
const HASH_H = 8;

/**
 * 64-bit difference hash (dHash): the picture shrunk to 9x8 grey cells, one bit per pair of horizontal
 * neighbours (left brighter than right). Cheap, and robust to noise, exposure and JPEG quality, which a
 * steady camera changes frame to frame; a new scene changes many bits.
 *
 * I420 frames are hashed from the Y plane by area averaging (no decode, no sharp); encoded frames are
 * shrunk by sharp straight to the grid (JPEG shrink-on-load keeps that cheap).
 */
export async function frameHash(frame: Frame): Promise<bigint> {
  const grey = frame.format === 'yuv420' ? lumaGrid(frame) : await encodedGrid(frame.data);
  let hash = 0n;
  for (let y = 0; y < HASH_H; y++) {
    for (let x = 0; x < HASH_W - 1; x++) {
      hash = (hash << 1n) | (grey[y * HASH_W + x] > grey[y * HASH_W + x + 1] ? 1n : 0n);
    }
  }
  return hash;
}

/** Bits that differ between two hashes. */
export function hammingDistance(a: bigint, b: bigint): number {
  let x = a ^ b;
  let count = 0;
  while (x) {
    x &= x - 1n;
    count++;
  }
  return count;
}

function lumaGrid(frame: Frame): Float64Array {
  const { width: w = 0, height: h = 0, data } = frame;
  if (w < HASH_W || h < HASH_H || data.length < w * h) throw new Error(`YUV420 frame of ${w}x${h} with ${data.length} bytes cannot be hashed`);
  const sums = new Float64Array(HASH_W * HASH_H);
  const counts = new Float64Array(HASH_W * HASH_H);
  // Every 2nd pixel of every 2nd row is plenty for cell means and halves the work on big frames.
  for (let y = 0; y < h; y += 2) {
    const cy = Math.floor((y * HASH_H) / h) * HASH_W;
    const row = y * w;
    for (let x = 0; x < w; x += 2) {
      const cell = cy + Math.floor((x * HASH_W) / w);
      sums[cell] += data[row + x];
      counts[cell]++;
    }
  }
  for (let i = 0; i < sums.length; i++) sums[i] /= counts[i];
  return sums;
}

async function encodedGrid(data: Buffer): Promise<Uint8Array> {
  return sharp(data).autoOrient().greyscale().resize(HASH_W, HASH_H, { fit: 'fill' }).raw().toBuffer();
}

export interface SceneGateOptions extends SceneGateConfig {
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/**
 * Decides whether a frame is worth extracting (DESIGN §3: camera → gate → extractor). A frame whose hash
 * is within maxDistance bits of the last frame let through is the same scene and is skipped, except that
 * one frame passes every refreshSeconds so a slowly changing scene is still looked at. Comparing with the
 * last frame let through (not the previous frame) stops a slow pan from sneaking past in small steps.
 */
export class SceneGate {
  private readonly options: SceneGateOptions;
  private readonly now: () => number;
  private lastHash: bigint | null = null;
  private lastPassedAt = 0;
  private passedCount = 0;
  private skippedCount = 0;

  constructor(options: SceneGateOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async shouldProcess(frame: Frame): Promise<boolean> {
    if (!this.options.enabled) return this.pass(null);
    let hash: bigint;
    try {
      hash = await frameHash(frame);
    } catch {
      // Not decodable here: let it through so the extractor reports it the usual way.
      return this.pass(null);
    }
    const fresh = this.now() - this.lastPassedAt >= this.options.refreshSeconds * 1000;
    if (this.lastHash === null || fresh || hammingDistance(hash, this.lastHash) > this.options.maxDistance) {
      return this.pass(hash);
    }
    this.skippedCount++;
    return false;
  }

  /** Forget the last scene: the next frame passes (e.g. after the camera restarted). */
  reset(): void {
    this.lastHash = null;
  }

  stats(): { passed: number; skipped: number } {
    return { passed: this.passedCount, skipped: this.skippedCount };
  }

  private pass(hash: bigint | null): true {
    if (hash !== null) this.lastHash = hash;
    this.lastPassedAt = this.now();
    this.passedCount++;
    return true;
  }
}
