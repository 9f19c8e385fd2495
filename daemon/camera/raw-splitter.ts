/**
 * Cuts a byte stream into fixed-size frames (raw I420 from `rpicam-vid --codec yuv420 -o -` and friends).
 * Pipes deliver arbitrary chunks, so a frame may span chunks and a chunk may hold several frames; every
 * frame handed out is a buffer of its own (the consumer may hold it while the next one fills).
 */
export class FixedSizeSplitter {
  private current: Buffer;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!(Number.isInteger(frameBytes) && frameBytes > 0)) throw new Error(`frame size must be a positive integer, not ${frameBytes}`);
    this.current = Buffer.allocUnsafe(frameBytes);
  }

  /** Bytes of the incomplete frame held now. */
  get pending(): number {
    return this.filled;
  }

  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        frames.push(this.current);
        this.current = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
      }
    }
    return frames;
  }

  /** Drops a partial frame (the program ended mid-frame); returns how many bytes were dropped. */
  reset(): number {
    const dropped = this.filled;
    this.filled = 0;
    return dropped;
  }
}

/** Bytes of one I420 frame: a full-size Y plane and quarter-size U and V planes (odd sizes round up). */
export function i420Size(width: number, height: number): number {
  return width * height + 2 * ((width + 1) >> 1) * ((height + 1) >> 1);
}

/**
 * Rotates an I420 frame clockwise by 90, 180 or 270 degrees (for sensors that can only flip, like the
 * Raspberry Pi's). Width and height must be even so the chroma planes rotate exactly.
 */
export function rotateI420(data: Buffer, width: number, height: number, degrees: 90 | 180 | 270): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  const cw = width >> 1;
  const ch = height >> 1;
  rotatePlane(data, 0, width, height, out, 0, degrees);
  rotatePlane(data, width * height, cw, ch, out, width * height, degrees);
  rotatePlane(data, width * height + cw * ch, cw, ch, out, width * height + cw * ch, degrees);
  return out;
}

function rotatePlane(src: Buffer, so: number, w: number, h: number, dst: Buffer, d: number, degrees: 90 | 180 | 270): void {
  if (degrees === 180) {
    const n = w * h;
    for (let i = 0; i < n; i++) dst[d + n - 1 - i] = src[so + i];
    return;
  }
  // Rotated plane is h wide and w tall. Clockwise: source (x, y) → (h-1-y, x); counter-clockwise: (y, w-1-x).
  for (let y = 0; y < h; y++) {
    const row = so + y * w;
    if (degrees === 90) {
      const col = d + (h - 1 - y);
      for (let x = 0; x < w; x++) dst[col + x * h] = src[row + x];
    } else {
      const col = d + y;
      for (let x = 0; x < w; x++) dst[col + (w - 1 - x) * h] = src[row + x];
    }
  }
}
