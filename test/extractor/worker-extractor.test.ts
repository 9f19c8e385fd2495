import t, { type Test } from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { BadImageError, createExtractor, OnnxExtractor, WorkerExtractor, type ModelExtractor } from '../../daemon/extractor/index.js';
import { UserError } from '../../daemon/util/errors.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const LEARNED = join(ROOT, 'models/enfpire-mnv2-int8-v1.json');
const FIXTURES = join(ROOT, 'test/fixtures/models');
const SPOTS = join(ROOT, 'samples/spots');

async function photos(): Promise<Buffer[]> {
  const names = (await readdir(SPOTS)).filter((n) => n.endsWith('.jpg')).sort();
  return Promise.all(names.slice(0, 6).map((n) => readFile(join(SPOTS, n))));
}

async function started(thread: 'worker' | 'main', manifestPath = LEARNED, t?: Test): Promise<ModelExtractor> {
  const x = createExtractor({ thread, manifestPath });
  await x.start();
  t?.teardown(() => x.stop());
  return x;
}

t.test('on a worker thread the feature is the one the extractor gives on this thread, JPEG and YUV420 alike', async (t) => {
  const worker = await started('worker', LEARNED, t);
  const main = await started('main', LEARNED, t);
  t.type(worker, WorkerExtractor);
  t.type(main, OnnxExtractor);
  t.equal(worker.modelId, main.modelId);
  t.equal(worker.dimension, main.dimension);
  t.equal(worker.executionProvider, 'cpu');
  t.same(worker.manifest.viewVariation, main.manifest.viewVariation, 'the manifest crosses the thread whole');
  for (const photo of await photos()) {
    t.same(Array.from(await worker.extract(photo)), Array.from(await main.extract(photo)), 'identical feature');
  }
  const w = 320;
  const h = 240;
  const gray = await sharp((await photos())[0]).resize(w, h).greyscale().raw().toBuffer();
  // A frame whose bytes are a window on a larger buffer, as the camera's splitters hand them out.
  const backing = Buffer.alloc(w * h * 2 + 1000);
  const yuv = backing.subarray(500, 500 + (w * h * 3) / 2);
  gray.copy(yuv, 0);
  yuv.fill(128, w * h);
  const frame = { data: yuv, format: 'yuv420' as const, width: w, height: h, seq: 1, capturedAt: Date.now(), label: 'cam' };
  t.same(Array.from(await worker.extract(frame)), Array.from(await main.extract(frame)), 'identical feature of a raw frame');
  t.equal(yuv[0], gray[0], "the caller's frame is left as it was");
  t.ok(worker.lastTimings && worker.lastTimings.inferenceMs > 0, 'timings measured on the worker');
});

t.test('errors keep their class across the thread, and the worker carries on', async (t) => {
  const x = await started('worker', LEARNED, t);
  const err = await x.extract(Buffer.from('not a picture')).then(() => null, (e: unknown) => e);
  t.type(err, BadImageError, 'a bad picture is a BadImageError, dropped per frame by the daemon');
  t.type(err, UserError);
  await t.rejects(x.extract({ data: Buffer.alloc(10), format: 'yuv420', width: 64, height: 48, seq: 1, capturedAt: 0, label: 'cam9' }), {
    name: 'BadImageError',
    message: /cam9/,
  });
  t.equal((await x.extract((await photos())[0])).length, x.dimension, 'still works');

  const nan = await started('worker', join(FIXTURES, 'enfpire-test-nan-v1.json'), t);
  await t.rejects(nan.extract((await photos())[0]), { name: 'ModelOutputError', message: /non-finite/ });
});

t.test('a model that cannot be loaded fails start() with the same one-line UserError', async (t) => {
  const missing = join(FIXTURES, 'no-such-model.json');
  const onWorker = await createExtractor({ thread: 'worker', manifestPath: missing }).start().then(() => null, (e: unknown) => e);
  const onMain = await createExtractor({ thread: 'main', manifestPath: missing }).start().then(() => null, (e: unknown) => e);
  t.type(onWorker, UserError);
  t.equal((onWorker as Error).message, (onMain as Error).message);
  t.throws(() => createExtractor({ thread: 'worker', manifestPath: missing }).modelId, /start\(\) first/);
});

t.test('a worker that dies fails what it held, and the next frame gets a new one', async (t) => {
  const x = (await started('worker', LEARNED, t)) as WorkerExtractor;
  const photo = (await photos())[1];
  const before = await x.extract(photo);
  const held = x.extract(photo);
  // A native crash, as seen from here: the thread is gone.
  await (x as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  await t.rejects(held, /extraction worker exited/);
  t.same(Array.from(await x.extract(photo)), Array.from(before), 'a new worker, the same feature');
  t.equal(x.workerRestarts, 1);
});

t.test("the daemon's thread stays free while a frame is worked on (the slot timer must not wait for a frame)", async (t) => {
  // Relative, in one run: how long this thread's timers are held up per frame with the work here and on a worker.
  const pictures = await photos();
  const stall = async (x: ModelExtractor) => {
    await x.extract(pictures[0]);
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    for (let round = 0; round < 3; round++) for (const p of pictures) await x.extract(p);
    h.disable();
    return h.percentile(99) / 1e6;
  };
  const main = await stall(await started('main', LEARNED, t));
  const worker = await stall(await started('worker', LEARNED, t));
  t.comment(`event-loop delay p99: ${main.toFixed(1)} ms with the work on this thread, ${worker.toFixed(1)} ms with it on a worker`);
  t.ok(worker < 0.75 * main, `p99 delay ${worker.toFixed(1)} ms on a worker against ${main.toFixed(1)} ms here`);
});
