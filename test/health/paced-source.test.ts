import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FilesSource } from '../../daemon/camera/files-source.js';
import { PacedFrameSource } from '../../daemon/health/paced-source.js';

t.test("the files camera's health through the paced source: running while it replays, rates, no capture program", async (t) => {
  const dir = t.testdir();
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 40, g: 90, b: 128 } } }).jpeg().toBuffer();
  for (let i = 0; i < 4; i++) writeFileSync(join(dir, `${i}.jpg`), jpeg);
  let now = 0;
  const paced = new PacedFrameSource(new FilesSource({ dir, fps: 100, loop: false }), 100, () => now);
  t.match(paced.stats().camera, { kind: 'files', running: false, deliveredFps: 0 }, 'not started');
  await paced.start();
  for (let i = 1; i <= 4; i++) {
    now = i * 500;
    t.ok(await paced.next());
  }
  t.same(paced.stats().camera, {
    kind: 'files',
    running: true,
    deliveredFps: 2,
    droppedFps: 0,
    restarts: 0,
    stalls: 0,
    stalled: false,
    badFrames: 0,
    lastError: null,
  });
  t.equal(await paced.next(), null, 'the replay ends');
  t.equal(paced.stats().camera.running, false, 'a replay at its end no longer runs');
  await paced.stop();
});
