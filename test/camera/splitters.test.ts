import t from 'tap';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { JpegSplitter } from '../../daemon/camera/jpeg-splitter.js';
import { FixedSizeSplitter, i420Size, rotateI420 } from '../../daemon/camera/raw-splitter.js';

const SPOTS = new URL('../../samples/spots/', import.meta.url);

async function jpegs(): Promise<Buffer[]> {
  return Promise.all(
    ['aqua', 'dune', 'wood'].map(async (name) =>
      sharp(await readFile(new URL(`${name}.jpg`, SPOTS))).resize(160, 120).jpeg({ quality: 80 }).toBuffer(),
    ),
  );
}

/** Feeds `stream` in pieces of the given sizes (cycled) and collects the frames. */
function feed(splitter: JpegSplitter, stream: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(...splitter.push(stream.subarray(at, at + n)));
    at += n;
  }
  return out;
}

t.test('whole JPEGs come out of any chunking; garbage and truncated frames do not', async (t) => {
  const [a, b, c] = await jpegs();
  // Before any SOI anything goes, even an EOI; after a truncated frame, bytes that cannot be scan data.
  const lead = Buffer.from('garbage\xff\x00\xff\xd9 more', 'latin1');
  const junk = Buffer.from('\x00\x01 not a frame \xff\x00\xff', 'latin1');
  const stream = Buffer.concat([lead, a, junk, b.subarray(0, b.length >> 1), junk, c, a.subarray(0, 700), b, junk]);
  for (const sizes of [[1], [7, 3], [4096], [stream.length]]) {
    const drops: string[] = [];
    const frames = feed(new JpegSplitter({ onDrop: (reason) => drops.push(reason) }), stream, sizes);
    t.ok(frames.length === 3 && [a, c, b].every((f, i) => f.equals(frames[i])), `chunks of ${sizes.join(',')}: exactly the 3 whole frames`);
    t.equal(drops.length, 2, 'both truncated frames were reported');
    for (const frame of frames) t.ok((await sharp(frame).metadata()).width, 'decodes');
  }
});

t.test('an over-long frame without EOI is dropped and memory stays bounded', async (t) => {
  const [a] = await jpegs();
  const drops: Array<[string, number]> = [];
  const splitter = new JpegSplitter({ maxFrameBytes: a.length + 100, onDrop: (reason, bytes) => drops.push([reason, bytes]) });
  // A frame whose scan never ends: entropy-like bytes without markers.
  const endless = Buffer.concat([a.subarray(0, a.length - 2), Buffer.alloc(a.length * 3, 0x55)]);
  t.same(feed(splitter, endless, [1000]), []);
  t.equal(drops[0]?.[0], 'too-large');
  t.same(splitter.push(a).map((f) => f.length), [a.length], 'the next whole frame still comes out');
});

t.test('fixed-size frames across chunk boundaries; a short tail is held, then dropped on reset', async (t) => {
  const size = i420Size(8, 6);
  t.equal(size, 72);
  const stream = Buffer.from(Array.from({ length: size * 3 + 10 }, (_, i) => i % 251));
  const splitter = new FixedSizeSplitter(size);
  const frames = [...splitter.push(stream.subarray(0, 50)), ...splitter.push(stream.subarray(50, 170)), ...splitter.push(stream.subarray(170))];
  t.equal(frames.length, 3);
  frames.forEach((frame, i) => t.same(frame, stream.subarray(i * size, (i + 1) * size)));
  frames[0].fill(0);
  t.same(frames[1], stream.subarray(size, 2 * size), 'each frame owns its memory');
  t.equal(splitter.reset(), 10);
});

t.test('I420 rotation: four quarter turns and 90 then 270 are the identity; 90 moves pixels clockwise', async (t) => {
  const w = 6;
  const h = 4;
  const frame = Buffer.from(Array.from({ length: i420Size(w, h) }, (_, i) => i));
  const once = rotateI420(frame, w, h, 90);
  t.same(rotateI420(rotateI420(rotateI420(once, h, w, 90), w, h, 90), h, w, 90), frame);
  t.same(rotateI420(once, h, w, 270), frame);
  t.same(rotateI420(rotateI420(frame, w, h, 180), w, h, 180), frame);
  // Top-left luma pixel ends top-right after a clockwise turn (the rotated frame is h wide).
  t.equal(once[h - 1], frame[0]);
});
