import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { createFrameSource, FilesSource, listImageFiles } from '../../daemon/camera/index.js';
import type { Frame } from '../../daemon/camera/types.js';
import type { CameraConfig } from '../../daemon/config/types.js';
import { UserError } from '../../daemon/util/errors.js';

async function image(format: 'png' | 'jpeg' | 'webp', width: number, height: number, shade: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: shade, g: 255 - shade, b: 128 } } })
    .toFormat(format)
    .toBuffer();
}

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

async function drain(source: FilesSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (let frame = await source.next(); frame; frame = await source.next()) frames.push(frame);
  return frames;
}

t.test('lists images of the folder and its direct sub-folders, in natural name order', async (t) => {
  const dir = t.testdir({ sub: { deeper: {} }, empty: {} });
  writeFileSync(join(dir, 'frame10.jpg'), await image('jpeg', 40, 30, 10));
  writeFileSync(join(dir, 'frame2.png'), await image('png', 40, 30, 20));
  writeFileSync(join(dir, 'FRAME3.JPEG'), await image('jpeg', 40, 30, 30));
  writeFileSync(join(dir, 'sub', 'a.webp'), await image('webp', 40, 30, 40));
  writeFileSync(join(dir, 'sub', 'deeper', 'too-deep.jpg'), await image('jpeg', 40, 30, 50));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  writeFileSync(join(dir, '.hidden.jpg'), await image('jpeg', 40, 30, 60));
  t.same(await listImageFiles(dir), ['frame2.png', 'FRAME3.JPEG', 'frame10.jpg', 'sub/a.webp']);
});

t.test('one pass (loop: false) waits for a slow consumer: every image is shown, none dropped', async (t) => {
  const dir = t.testdir();
  for (let i = 0; i < 6; i++) writeFileSync(join(dir, `${i}.jpg`), await image('jpeg', 16, 16, i * 40));
  const source = new FilesSource({ dir, fps: 100, loop: false });
  await source.start();
  const labels: string[] = [];
  for (let frame = await source.next(); frame; frame = await source.next()) {
    labels.push(frame.label!);
    await new Promise((r) => setTimeout(r, 60)); // six times slower than the camera's 10 ms
  }
  t.same(labels, ['0.jpg', '1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg']);
  t.same(source.stats(), { produced: 6, dropped: 0 });
});

t.test('one pass (loop: false) hands out every image once, then null', async (t) => {
  const dir = t.testdir({ spot_a: {}, spot_b: {} });
  writeFileSync(join(dir, 'spot_a', '1.jpg'), await image('jpeg', 64, 48, 0));
  writeFileSync(join(dir, 'spot_a', '2.png'), await image('png', 32, 16, 80));
  writeFileSync(join(dir, 'spot_b', '1.webp'), await image('webp', 20, 10, 160));
  const source = new FilesSource({ dir, fps: 50, loop: false });
  t.equal(source.kind, 'files');
  await source.start();
  const frames = await drain(source);
  t.same(
    frames.map((f) => f.label),
    ['spot_a/1.jpg', 'spot_a/2.png', 'spot_b/1.webp'],
  );
  t.same(
    frames.map((f) => [f.format, f.width, f.height]),
    [
      ['encoded', 64, 48],
      ['encoded', 32, 16],
      ['encoded', 20, 10],
    ],
  );
  t.same(
    frames.map((f) => f.seq),
    [1, 2, 3],
  );
  const meta = await sharp(frames[1].data).metadata();
  t.equal(meta.format, 'png', 'frames carry the file bytes as they are');
  t.equal(await source.next(), null, 'stays ended');
  t.same(source.stats(), { produced: 3, dropped: 0 });
  await source.stop();
});

t.test('a slow consumer makes the source drop frames and get the newest one', async (t) => {
  const dir = t.testdir();
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `${i}.png`), await image('png', 16, 16, i * 50));
  const source = new FilesSource({ dir, fps: 100 });
  await source.start();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const frame = await source.next();
  const { produced, dropped } = source.stats();
  t.ok(produced > 3, `looping keeps producing (${produced})`);
  t.equal(dropped, produced - 1, 'every frame but the one taken was dropped');
  t.equal(frame?.seq, produced, 'the frame taken is the newest');
  await source.stop();
  t.equal(await source.next(), null, 'next() is null after stop()');
  const after = source.stats().produced;
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(source.stats().produced, after, 'no timer keeps running after stop()');
});

t.test('unreadable images are skipped with a log line, once', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'a.jpg'), await image('jpeg', 16, 16, 0));
  writeFileSync(join(dir, 'b.jpg'), Buffer.from('this is not a jpeg'));
  writeFileSync(join(dir, 'c.png'), await image('png', 16, 16, 200));
  const { logger, lines } = capturingLogger();
  const source = new FilesSource({ dir, fps: 100, loop: false, logger });
  await source.start();
  const frames = await drain(source);
  t.same(
    frames.map((f) => f.label),
    ['a.jpg', 'c.png'],
  );
  const warnings = lines.filter((line) => line.level === 40);
  t.equal(warnings.length, 1);
  t.match(String(warnings[0].file), /b\.jpg$/);
});

t.test('a folder with nothing readable ends the source instead of spinning', async (t) => {
  const dir = t.testdir({ 'broken.png': 'garbage' });
  const { logger, lines } = capturingLogger();
  const source = new FilesSource({ dir, fps: 100, loop: true, logger });
  await source.start();
  t.equal(await source.next(), null);
  t.ok(lines.some((line) => line.level === 50), 'logs that no image is left');
});

t.test('a missing or empty folder is a UserError naming the folder', async (t) => {
  const dir = t.testdir({ empty: {}, 'file.txt': 'x' });
  for (const bad of [join(dir, 'missing'), join(dir, 'empty'), join(dir, 'file.txt')]) {
    const source = new FilesSource({ dir: bad, fps: 5 });
    await t.rejects(source.start(), UserError);
    await source.start().catch((error: Error) => t.match(error.message, bad));
  }
  mkdirSync(join(dir, 'empty', 'sub'));
  await t.rejects(new FilesSource({ dir: join(dir, 'empty'), fps: 5 }).start(), /no \.jpg/);
});

t.test('a bad fps is a UserError', async (t) => {
  for (const fps of [0, -1, Number.NaN, Infinity]) t.throws(() => new FilesSource({ dir: '.', fps }), UserError);
});

t.test('createFrameSource builds the files source, and a source for every other kind', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'x.jpg'), await image('jpeg', 16, 16, 0));
  const camera: CameraConfig = {
    kind: 'files', dir, fps: 20, loop: false, width: 1280, height: 720, rotation: 0, input: 'v4l2', device: '/dev/video0',
    sensorId: 0, stallSeconds: 10, restart: { initialDelayMs: 500, maxDelayMs: 30000 },
    gate: { enabled: true, maxDistance: 5, refreshSeconds: 2 }, still: { intervalSeconds: 0, settleMs: 500 },
  };
  const source = createFrameSource(camera);
  t.equal(source.kind, 'files');
  await source.start();
  t.equal((await source.next())?.label, 'x.jpg');
  t.equal(await source.next(), null);
  await source.stop();

  // Built, not started: starting needs the capture programs (see streaming-source and still-source tests).
  for (const kind of ['libcamera', 'still', 'gstreamer', 'ffmpeg'] as const) t.equal(createFrameSource({ ...camera, kind }).kind, kind);
  t.throws(() => createFrameSource({ ...camera, dir: undefined }), { name: 'UserError', message: /camera.dir is missing/ });
});
