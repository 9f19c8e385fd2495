import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createFrameSource, StillSource } from '../../daemon/camera/index.js';
import type { CameraConfig } from '../../daemon/config/types.js';
import { UserError } from '../../daemon/util/errors.js';
import { envWithPrograms } from './fake-path.js';

// node-libcamera runs libcamera-still through a shell with this process's PATH, so the fake goes there.
const originalPath = process.env.PATH;
t.teardown(() => {
  process.env.PATH = originalPath;
});

function config(overrides: Partial<CameraConfig> = {}): CameraConfig {
  return {
    kind: 'still', fps: 5, loop: true, width: 320, height: 240, rotation: 0, input: 'v4l2', device: '/dev/video0', sensorId: 0,
    stallSeconds: 10, restart: { initialDelayMs: 500, maxDelayMs: 30000 }, gate: { enabled: true, maxDistance: 5, refreshSeconds: 2 },
    still: { intervalSeconds: 0, settleMs: 1 }, ...overrides,
  };
}

// Each test file gets a temporary folder of its own: other tests (the bench) capture stills in parallel, and counting
// folders in the shared /tmp would see theirs.
const ownTmp = mkdtempSync(join(tmpdir(), 'enfpire-still-test-'));
const originalTmp = process.env.TMPDIR;
process.env.TMPDIR = ownTmp;
t.teardown(() => {
  if (originalTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = originalTmp;
  rmSync(ownTmp, { recursive: true, force: true });
});
const stillDirs = () => readdirSync(ownTmp).filter((name) => name.startsWith('enfpire-still-')).length;

t.test('trigger() captures a real JPEG through node-libcamera; 90 degrees turns it', async (t) => {
  process.env.PATH = envWithPrograms(['libcamera-still']).PATH;
  const dirsBefore = stillDirs();
  const source = createFrameSource(config({ rotation: 90 })) as StillSource;
  await source.start();
  const [a, b] = await Promise.all([source.trigger(), source.trigger()]);
  t.equal(a, b, 'a trigger during a capture shares it');
  const frame = await source.next();
  t.equal(frame, a);
  t.match(frame, { format: 'encoded', width: 240, height: 320, seq: 1 });
  t.equal((await sharp(frame!.data).metadata()).format, 'jpeg');
  t.match(source.health(), { kind: 'still', running: true, produced: 1, badFrames: 0 });
  await source.stop();
  t.equal(stillDirs(), dirsBefore, 'the temporary folder is gone');
});

t.test('intervalSeconds captures on its own', async (t) => {
  process.env.PATH = envWithPrograms(['libcamera-still']).PATH;
  const source = createFrameSource(config({ still: { intervalSeconds: 0.3, settleMs: 1 } }));
  await source.start();
  const frame = await source.next();
  await source.stop();
  t.equal(frame?.format, 'encoded');
  t.equal(frame?.width, 320);
});

t.test('no libcamera-still: a clear UserError', async (t) => {
  process.env.PATH = envWithPrograms([]).PATH;
  await t.rejects(createFrameSource(config()).start(), { name: 'UserError', message: /libcamera-still.*install rpicam-apps/ });
  t.ok(UserError);
});

t.test('a failing capture rejects trigger() and is counted, the source keeps going', async (t) => {
  process.env.PATH = envWithPrograms(['libcamera-still'], {}).PATH;
  process.env.FAKE_CAPTURE_FAIL = '1';
  t.teardown(() => {
    delete process.env.FAKE_CAPTURE_FAIL;
  });
  const source = createFrameSource(config()) as StillSource;
  await source.start();
  await t.rejects(source.trigger());
  delete process.env.FAKE_CAPTURE_FAIL;
  await source.trigger();
  t.match(source.health(), { badFrames: 1, produced: 1 });
  await source.stop();
});
