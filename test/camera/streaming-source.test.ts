import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createFrameSource, measureSourceFps, ProcessSupervisor, type Frame, type FrameSource } from '../../daemon/camera/index.js';
import { schemaDefaults } from '../../daemon/config/load.js';
import type { CameraConfig } from '../../daemon/config/types.js';
import { OnnxExtractor } from '../../daemon/extractor/index.js';
import { UserError } from '../../daemon/util/errors.js';
import { norm } from '../../daemon/util/vector.js';
import { envWithPrograms } from './fake-path.js';
import { recordingLogger } from '../transport/fixtures.js';

const MODEL = new URL('../../models/enfpire-gist-int8-v1.json', import.meta.url).pathname;

function camera(overrides: Partial<CameraConfig>): CameraConfig {
  // The schema's defaults, with small frames and quick restarts so the tests run fast.
  return {
    ...(schemaDefaults('edge', 'camera') as unknown as CameraConfig),
    kind: 'libcamera',
    fps: 30,
    width: 320,
    height: 240,
    restart: { initialDelayMs: 50, maxDelayMs: 400 },
    still: { intervalSeconds: 0, settleMs: 1 },
    ...overrides,
  };
}

/** A log file the fakes append their command lines to, and how to read it. */
function runLog(): { file: string; runs: () => Array<{ program: string; args: string[]; pid: number; at: number }> } {
  const file = join(mkdtempSync(join(tmpdir(), 'enfpire-fake-log-')), 'runs.jsonl');
  const runs = () => {
    try {
      return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { program: string; args: string[]; pid: number; at: number });
    } catch {
      return [];
    }
  };
  return { file, runs };
}

async function take(source: FrameSource, count: number, timeoutMs = 20_000): Promise<Frame[]> {
  const frames: Frame[] = [];
  const deadline = Date.now() + timeoutMs;
  while (frames.length < count) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${frames.length} of ${count} frames in ${timeoutMs} ms`)), deadline - Date.now());
    });
    const frame = await Promise.race([source.next(), late]).finally(() => clearTimeout(timer));
    if (!frame) throw new Error('source ended');
    frames.push(frame);
  }
  return frames;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('libcamera yuv420: one rpicam-vid with the configured arguments; I420 frames the extractor reads', async (t) => {
  const log = runLog();
  const config = camera({ rotation: 180, roi: { x: 0.1, y: 0.2, width: 0.5, height: 0.6 }, fps: 15 });
  const source = createFrameSource(config, { env: envWithPrograms(['rpicam-vid'], { FAKE_CAPTURE_LOG: log.file }) });
  await source.start();
  const frames = await take(source, 4);
  for (const frame of frames) {
    t.match(frame, { format: 'yuv420', width: 320, height: 240 });
    t.equal(frame.data.length, 320 * 240 * 1.5, 'a whole I420 frame');
  }
  t.ok(frames.every((f, i) => i === 0 || f.seq > frames[i - 1].seq), 'sequence numbers grow');

  const extractor = new OnnxExtractor({ manifestPath: MODEL });
  await extractor.start();
  t.teardown(() => extractor.stop());
  const feature = await extractor.extract(frames[0]);
  t.equal(feature.length, extractor.dimension);
  t.ok(Math.abs(norm(feature) - 1) < 1e-3, 'a unit-length feature');

  const health = source.health?.();
  t.match(health, { kind: 'libcamera', running: true, restarts: 0, badFrames: 0 });
  t.ok(health && health.lastFrameAt !== null && health.produced >= 4);
  await source.stop();

  const runs = log.runs();
  t.equal(runs.length, 1, 'spawned once');
  t.equal(runs[0].program, 'rpicam-vid');
  t.same(runs[0].args, [
    '-t', '0', '-n', '--width', '320', '--height', '240', '--framerate', '15', '--codec', 'yuv420',
    '--rotation', '180', '--roi', '0.4,0.2,0.5,0.6', '-o', '-',
  ]);
  t.notOk(alive(runs[0].pid), 'stop() ended the program');
  t.equal(await source.next(), null, 'a stopped source hands out nothing');
});

t.test('libcamera rotation 90 turns raw frames in software: width and height swap', async (t) => {
  const source = createFrameSource(camera({ rotation: 90, width: 64, height: 48 }), { env: envWithPrograms(['rpicam-vid']) });
  await source.start();
  const [frame] = await take(source, 1);
  await source.stop();
  t.match(frame, { width: 48, height: 64 });
  t.equal(frame.data.length, 48 * 64 * 1.5);
});

t.test('rpicam-vid missing but libcamera-vid present: the fallback runs', async (t) => {
  const log = runLog();
  const source = createFrameSource(camera({ format: 'mjpeg' }), { env: envWithPrograms(['libcamera-vid'], { FAKE_CAPTURE_LOG: log.file }) });
  await source.start();
  const [frame] = await take(source, 1);
  await source.stop();
  t.equal(frame.format, 'encoded');
  t.equal((await sharp(frame.data).metadata()).format, 'jpeg');
  t.equal(log.runs()[0].program, 'libcamera-vid');
  t.ok(log.runs()[0].args.includes('mjpeg'));
});

t.test('neither rpicam-vid nor libcamera-vid: a clear UserError from start()', async (t) => {
  const source = createFrameSource(camera({}), { env: envWithPrograms([]) });
  await t.rejects(source.start(), UserError);
  await t.rejects(source.start.call(createFrameSource(camera({}), { env: envWithPrograms([]) })), /rpicam-vid or libcamera-vid.*install rpicam-apps/);
});

t.test('gstreamer MJPEG with truncated frames and garbage in between: only whole JPEGs come out', async (t) => {
  const log = runLog();
  const config = camera({ kind: 'gstreamer', device: '/dev/video4', fps: 20 });
  const source = createFrameSource(config, { env: envWithPrograms(['gst-launch-1.0'], { FAKE_CAPTURE_GARBAGE: '1', FAKE_CAPTURE_LOG: log.file }) });
  await source.start();
  const frames = await take(source, 6);
  await source.stop();
  for (const frame of frames) {
    const { data, info } = await sharp(frame.data, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
    t.equal(info.width, 320, 'decodes whole');
    t.equal(data.length, 320 * 240 * 3);
  }
  t.ok((source.health?.().badFrames ?? 0) >= 1, 'truncated frames were counted');
  const args = log.runs()[0].args;
  t.same(args.slice(0, 3), ['-q', 'v4l2src', 'device=/dev/video4']);
  t.ok(args.includes('video/x-raw,width=320,height=240') && args.includes('video/x-raw,framerate=20/1'));
  t.same(args.slice(-5), ['jpegenc', 'quality=85', '!', 'fdsink', 'fd=1']);
});

t.test('a capture program that dies is restarted with backoff and frames resume', async (t) => {
  const log = runLog();
  const config = camera({ kind: 'ffmpeg', fps: 30, restart: { initialDelayMs: 200, maxDelayMs: 1000 } });
  const env = envWithPrograms(['ffmpeg'], { FAKE_CAPTURE_LOG: log.file, FAKE_CAPTURE_DIE_AFTER: '2', FAKE_CAPTURE_DIE_RUNS: '2' });
  const source = createFrameSource(config, { env });
  await source.start();
  const frames = await take(source, 8);
  const health = source.health?.();
  await source.stop();
  t.equal(frames.length, 8, 'frames resumed after the deaths');
  t.equal(health?.restarts, 2, 'restarted twice');
  const runs = log.runs();
  t.equal(runs.length, 3);
  t.notOk(runs.some((run) => alive(run.pid)), 'no program left running');
  t.same(runs[0].args.slice(runs[0].args.indexOf('-f')), ['-f', 'v4l2', '-framerate', '30', '-video_size', '320x240', '-i', '/dev/video0', '-f', 'mjpeg', '-q:v', '5', '-']);
});

t.test('backoff doubles while the program keeps failing at once, capped; stderr reaches health', async (t) => {
  // /bin/sh fails in milliseconds (a node fake needs most of a second to start), so the gaps show the delays.
  const exits: number[] = [];
  const { logger, lines } = recordingLogger();
  const supervisor = new ProcessSupervisor({
    logger,
    command: '/bin/sh',
    args: ['-c', 'echo "ERROR: no cameras available" >&2; exit 1'],
    restart: { initialDelayMs: 100, maxDelayMs: 400 },
    stallMs: 60_000,
    onData: () => undefined,
    onExit: () => exits.push(Date.now()),
  });
  supervisor.start();
  await new Promise((resolve) => setTimeout(resolve, 1600));
  const stats = supervisor.stats();
  await supervisor.stop();
  const gaps = exits.slice(1).map((at, i) => at - exits[i]);
  t.ok(gaps.length >= 3, `${exits.length} runs`);
  t.ok(gaps[0] >= 95 && gaps[1] >= 195 && gaps[2] >= 395, `delays double: ${gaps.join(', ')} ms`);
  // The cap is read from the delays the supervisor chose: a gap also holds the time to start /bin/sh again, which a
  // loaded machine stretches past any margin.
  const delays = lines().flatMap((line) => ('restartInMs' in line ? [line.restartInMs as number] : []));
  t.same(delays.slice(0, 4), [100, 200, 400, 400], 'delays chosen: doubled, then capped at maxDelayMs');
  t.equal(stats.restarts, exits.length - 1);
  t.match(stats.lastError, /exited with code 1.*no cameras available/);
  t.equal(stats.lastFrameAt, null);
});

t.test('a stalled program is reported and restarted', async (t) => {
  const log = runLog();
  // A frame every 5 s with stallSeconds 1: the first frame (or the gap after it) is late, so the program is restarted.
  // The test waits for the restart itself, not for a frame: on a loaded machine the fake may not deliver one before
  // each restart, and a source left running would keep the test process alive.
  const config = camera({ kind: 'ffmpeg', fps: 0.2, stallSeconds: 1, restart: { initialDelayMs: 50, maxDelayMs: 100 } });
  const source = createFrameSource(config, { env: envWithPrograms(['ffmpeg'], { FAKE_CAPTURE_LOG: log.file }) });
  let restarts = 0;
  let stalls = 0;
  try {
    await source.start();
    const deadline = Date.now() + 20_000;
    while ((restarts = source.health?.().restarts ?? 0) < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    stalls = source.health?.().stalls ?? 0;
  } finally {
    await source.stop();
  }
  t.ok(restarts >= 1, 'restarted after the stall');
  t.ok(stalls >= 1, 'the stall is counted');
  t.match(source.health?.().lastError ?? '', /stall|no frame|frames/i, 'the stall is the reported reason');
  t.notOk(log.runs().some((run) => alive(run.pid)), 'no program is left running');
});

t.test('measureSourceFps reports the rate of each streaming kind with the fakes', async (t) => {
  for (const kind of ['libcamera', 'gstreamer', 'ffmpeg'] as const) {
    const result = await measureSourceFps(kind, {
      camera: { width: 320, height: 240, fps: 20 },
      durationMs: 1000,
      env: envWithPrograms(['rpicam-vid', 'gst-launch-1.0', 'ffmpeg']),
    });
    t.ok(result.fps > 10 && result.fps < 30, `${kind}: ${result.fps.toFixed(1)} fps at 20 asked`);
    t.ok(result.bytesPerFrame > 0);
  }
});
