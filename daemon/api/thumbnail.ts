import sharp from 'sharp';
import type { Frame } from '../camera/types.js';
import { toRgb } from '../extractor/preprocess.js';
import type { LatestFrame } from './sources.js';

export interface ThumbnailOptions {
  frames: LatestFrame;
  /** Width in pixels; the height follows the frame. */
  width: number;
  /** Most encodes per second, whatever the number of clients. */
  fps: number;
}

/**
 * The operator's camera thumbnail: the latest frame scaled down to a small JPEG, in memory only. One encode serves
 * every client for 1/fps seconds, and a frame already encoded is never encoded again, so a page left open costs at
 * most `fps` small resizes a second.
 */
export class Thumbnails {
  private cached: { seq: number; at: number; jpeg: Buffer } | undefined;
  private encoding: Promise<Buffer | null> | undefined;

  constructor(private readonly options: ThumbnailOptions) {}

  /** The JPEG of the latest frame, or null before the first frame. */
  jpeg(now = Date.now()): Promise<Buffer | null> {
    const cached = this.cached;
    if (cached && now - cached.at < 1000 / this.options.fps) return Promise.resolve(cached.jpeg);
    this.encoding ??= this.encode(now).finally(() => (this.encoding = undefined));
    return this.encoding;
  }

  private async encode(now: number): Promise<Buffer | null> {
    const frame = this.options.frames.latestFrame();
    if (!frame) return null;
    if (this.cached?.seq === frame.seq) {
      this.cached.at = now;
      return this.cached.jpeg;
    }
    const jpeg = await encodeThumbnail(frame, this.options.width);
    this.cached = { seq: frame.seq, at: now, jpeg };
    return jpeg;
  }
}

async function encodeThumbnail(frame: Frame, width: number): Promise<Buffer> {
  if (frame.format === 'encoded') {
    return sharp(frame.data).autoOrient().resize({ width, withoutEnlargement: true }).jpeg({ quality: 70 }).toBuffer();
  }
  // Raw YUV420: the extractor's own conversion, straight to the thumbnail size.
  const height = Math.max(1, Math.round((width * (frame.height ?? 3)) / (frame.width ?? 4)));
  const rgb = await toRgb(frame, { width, height, fit: 'fill' });
  return sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 70 }).toBuffer();
}
