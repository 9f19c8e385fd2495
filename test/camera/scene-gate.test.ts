import t from 'tap';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { frameHash, hammingDistance, SceneGate } from '../../daemon/camera/scene-gate.js';
import type { Frame } from '../../daemon/camera/types.js';

const SPOTS = new URL('../../samples/spots/', import.meta.url);
let seq = 0;

/** A camera-sized view of a sample photo with fresh sensor noise (seeded by `seed`) and a small exposure change. */
async function view(name: string, seed: number, brightness = 1): Promise<{ rgb: Buffer; jpeg: Frame }> {
  const rgb = await sharp(await readFile(new URL(`${name}.jpg`, SPOTS))).resize(320, 240, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  let state = seed * 2654435761;
  for (let i = 0; i < rgb.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    rgb[i] = Math.max(0, Math.min(255, Math.round(rgb[i] * brightness + ((state >>> 16) % 25) - 12)));
  }
  const data = await sharp(rgb, { raw: { width: 320, height: 240, channels: 3 } }).jpeg({ quality: 70 }).toBuffer();
  return { rgb, jpeg: { data, format: 'encoded', seq: ++seq, capturedAt: Date.now() } };
}

function i420(rgb: Buffer, w: number, h: number): Frame {
  const data = Buffer.alloc(w * h * 1.5, 128);
  for (let i = 0; i < w * h; i++) data[i] = Math.round(16 + 0.257 * rgb[3 * i] + 0.504 * rgb[3 * i + 1] + 0.098 * rgb[3 * i + 2]);
  return { data, format: 'yuv420', width: w, height: h, seq: ++seq, capturedAt: Date.now() };
}

const NAMES = ['aqua', 'blinds', 'dune', 'garden', 'ladybird', 'storm', 'wood'];

t.test('noisy views of one scene hash close; different scenes far apart (JPEG and I420)', async (t) => {
  for (const name of NAMES) {
    const a = await view(name, 1);
    const b = await view(name, 2, 1.08);
    t.ok(hammingDistance(await frameHash(a.jpeg), await frameHash(b.jpeg)) <= 5, `${name}: JPEG views within 5 bits`);
    t.ok(hammingDistance(await frameHash(i420(a.rgb, 320, 240)), await frameHash(i420(b.rgb, 320, 240))) <= 5, `${name}: I420 views within 5 bits`);
  }
  for (let i = 0; i < NAMES.length; i++) {
    for (let j = i + 1; j < NAMES.length; j++) {
      const d = hammingDistance(await frameHash((await view(NAMES[i], 1)).jpeg), await frameHash((await view(NAMES[j], 1)).jpeg));
      t.ok(d > 5, `${NAMES[i]} vs ${NAMES[j]}: ${d} bits apart`);
    }
  }
});

t.test('the gate skips the same scene, passes a new one, and refreshes', async (t) => {
  let now = 0;
  const gate = new SceneGate({ enabled: true, maxDistance: 5, refreshSeconds: 2, now: () => now });
  t.equal(await gate.shouldProcess((await view('garden', 1)).jpeg), true, 'first frame passes');
  now = 500;
  t.equal(await gate.shouldProcess((await view('garden', 2)).jpeg), false, 'same scene with noise is skipped');
  now = 1000;
  t.equal(await gate.shouldProcess((await view('storm', 3)).jpeg), true, 'a different scene passes');
  now = 1500;
  t.equal(await gate.shouldProcess((await view('storm', 4)).jpeg), false);
  now = 3100;
  t.equal(await gate.shouldProcess((await view('storm', 5)).jpeg), true, 'refreshSeconds lets one through');
  t.same(gate.stats(), { passed: 3, skipped: 2 });
  t.equal(await gate.shouldProcess({ data: Buffer.from('not an image'), format: 'encoded', seq: 99, capturedAt: 0 }), true, 'undecodable frames go on to the extractor');
});

t.test('a disabled gate passes everything', async (t) => {
  const gate = new SceneGate({ enabled: false, maxDistance: 64, refreshSeconds: 3600 });
  const frame = (await view('dune', 1)).jpeg;
  t.equal(await gate.shouldProcess(frame), true);
  t.equal(await gate.shouldProcess(frame), true);
});
