/** Why bytes of a stream were thrown away. */
export type DropReason = 'truncated' | 'too-large' | 'invalid-marker';

export interface JpegSplitterOptions {
  /** A frame that grows past this without its EOI is dropped (memory stays bounded). Default 8 MiB. */
  maxFrameBytes?: number;
  /** Called once per dropped partial frame. */
  onDrop?: (reason: DropReason, bytes: number) => void;
}

type State = 'seek' | 'header' | 'entropy';

/**
 * Splits a byte stream of concatenated JPEGs (MJPEG from rpicam-vid, gst-launch `jpegenc ! fdsink`,
 * `ffmpeg -f mjpeg -`) into whole JPEG files.
 *
 * It walks the marker segments instead of just scanning for FF D9, so an EXIF thumbnail's EOI inside an
 * APP1 segment does not end the frame early, and a frame cut short by a dying camera is recognised: a new
 * SOI (FF D8) can never appear inside entropy-coded data, so seeing one there drops the broken frame
 * instead of gluing it to the next one. Bytes before a SOI are skipped. (Garbage that itself holds an FF D9
 * right after a cut frame would still end that frame; a capture program that dies mid-frame is handled by
 * reset(), which the source calls when the program ends.)
 */
export class JpegSplitter {
  private readonly maxFrameBytes: number;
  private readonly onDrop: (reason: DropReason, bytes: number) => void;
  private buf: Buffer = Buffer.alloc(0);
  /** Start of the frame being assembled in buf (valid outside 'seek'). */
  private start = 0;
  /** Next byte to look at in buf. */
  private pos = 0;
  private state: State = 'seek';
  private skippedBytes = 0;

  constructor(options: JpegSplitterOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? 8 * 1024 * 1024;
    this.onDrop = options.onDrop ?? (() => undefined);
  }

  /** Bytes skipped while looking for a SOI (garbage between frames), since construction. */
  get skipped(): number {
    return this.skippedBytes;
  }

  /** Feeds a chunk; returns the JPEGs it completed, each a buffer of its own. */
  push(chunk: Buffer): Buffer[] {
    this.append(chunk);
    const frames: Buffer[] = [];
    while (this.step(frames));
    if (this.state !== 'seek' && this.buf.length - this.start > this.maxFrameBytes) {
      this.drop('too-large', this.buf.length);
    }
    return frames;
  }

  /** Forgets a partial frame (the capture program restarted: its next bytes start a new stream). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.start = 0;
    this.pos = 0;
    this.state = 'seek';
  }

  private append(chunk: Buffer): void {
    // Keep only what is still needed: the partial frame, or in 'seek' the unread tail.
    const keepFrom = this.state === 'seek' ? this.pos : this.start;
    const kept = this.buf.subarray(keepFrom);
    this.buf = kept.length === 0 ? chunk : Buffer.concat([kept, chunk]);
    this.pos -= keepFrom;
    this.start -= keepFrom;
  }

  /** Advances the parser; false when it needs more bytes. */
  private step(frames: Buffer[]): boolean {
    const buf = this.buf;
    if (this.state === 'seek') {
      const soi = findSoi(buf, this.pos);
      if (soi < 0) {
        // A trailing FF may be the first half of the next SOI.
        const keep = buf.length > this.pos && buf[buf.length - 1] === 0xff ? 1 : 0;
        this.skippedBytes += buf.length - keep - this.pos;
        this.pos = buf.length - keep;
        return false;
      }
      this.skippedBytes += soi - this.pos;
      this.start = soi;
      this.pos = soi + 2;
      this.state = 'header';
      return true;
    }

    if (this.state === 'header') {
      if (this.pos + 2 > buf.length) return false;
      if (buf[this.pos] !== 0xff) return this.invalid();
      const marker = buf[this.pos + 1];
      if (marker === 0xff) {
        this.pos += 1; // fill byte
        return true;
      }
      if (marker === 0xd8) return this.restartAt(this.pos);
      if (marker === 0xd9 || marker < 0xc0) return this.invalid(); // EOI before any scan, or a reserved marker
      if (marker >= 0xd0 && marker <= 0xd7) {
        this.pos += 2;
        return true;
      }
      if (this.pos + 4 > buf.length) return false;
      const length = buf.readUInt16BE(this.pos + 2);
      if (length < 2) return this.invalid();
      this.pos += 2 + length;
      if (marker === 0xda) this.state = 'entropy';
      return true;
    }

    // Entropy-coded data: FF is stuffed as FF 00; RSTn may appear; anything else is a marker.
    for (;;) {
      const ff = buf.indexOf(0xff, this.pos);
      if (ff < 0 || ff + 1 >= buf.length) {
        this.pos = ff < 0 ? buf.length : ff;
        return false;
      }
      const next = buf[ff + 1];
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) {
        this.pos = ff + 2;
        continue;
      }
      if (next === 0xff) {
        this.pos = ff + 1;
        continue;
      }
      if (next === 0xd9) {
        frames.push(Buffer.from(buf.subarray(this.start, ff + 2)));
        this.pos = ff + 2;
        this.state = 'seek';
        return true;
      }
      if (next === 0xd8) return this.restartAt(ff);
      // Another segment (a progressive JPEG's next DHT/SOS) or garbage: the header walk decides.
      this.pos = ff;
      this.state = 'header';
      return true;
    }
  }

  /** A SOI inside a frame: the frame was cut short; the new one starts here. */
  private restartAt(soi: number): boolean {
    this.onDrop('truncated', soi - this.start);
    this.start = soi;
    this.pos = soi + 2;
    this.state = 'header';
    return true;
  }

  private invalid(): boolean {
    this.drop('invalid-marker', this.pos);
    return true;
  }

  /** Gives up the partial frame ending at `end` and looks for the next SOI after it. */
  private drop(reason: DropReason, end: number): void {
    this.onDrop(reason, end - this.start);
    // After a bad marker, search again from just past the broken frame's SOI: the next frame's SOI may
    // hide in what a bogus segment length skipped. An over-long frame is skipped whole.
    this.pos = reason === 'too-large' ? end : this.start + 2;
    this.state = 'seek';
  }
}

function findSoi(buf: Buffer, from: number): number {
  for (let i = buf.indexOf(0xff, from); i >= 0 && i + 1 < buf.length; i = buf.indexOf(0xff, i + 1)) {
    if (buf[i + 1] === 0xd8) return i;
  }
  return -1;
}
