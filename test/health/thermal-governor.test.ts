import t from 'tap';
import { EventEmitter } from 'node:events';
import { ThermalGovernor, ThermalGovernorService, thermalPolicyFrom, type ThermalPolicy } from '../../daemon/health/thermal-governor.js';
import { PacedFrameSource } from '../../daemon/health/paced-source.js';
import type { Frame, FrameSource } from '../../daemon/camera/types.js';
import { UserError } from '../../daemon/util/errors.js';

const policy: ThermalPolicy = { baseFps: 8, minFps: 1, throttleAboveC: 75, restoreBelowC: 65, stepFactor: 0.5 };

t.test('lowers one step per hot reading down to minFps, holds between the thresholds, restores below', async (t) => {
  const g = new ThermalGovernor(policy);
  t.equal(g.update(60), 8, 'cool: base rate');
  t.equal(g.update(76), 4, 'hot: one step');
  t.equal(g.update(80), 2);
  t.equal(g.update(85), 1);
  t.equal(g.update(90), 1, 'never below minFps');
  t.ok(g.throttled);
  t.equal(g.update(70), 1, 'between restoreBelowC and throttleAboveC the rate holds');
  t.equal(g.update(74.9), 1);
  t.equal(g.update(64), 2, 'below restoreBelowC: one step back');
  t.equal(g.update(75), 2, 'exactly at the threshold is not above it');
  t.equal(g.update(60), 4);
  t.equal(g.update(60), 8);
  t.equal(g.update(50), 8, 'never above the base rate');
  t.notOk(g.throttled);
});

t.test('an unknown temperature holds the rate; a minFps that is not a power of the step is still the floor', async (t) => {
  const g = new ThermalGovernor({ ...policy, minFps: 3 });
  t.equal(g.update(null), 8);
  t.equal(g.update(90), 4);
  t.equal(g.update(90), 3, 'clamped to minFps');
  t.equal(g.update(90), 3);
  t.equal(g.update(Number.NaN), 3);
  t.equal(g.update(10), 4, 'one step back from the floor');
});

t.test('a base rate at or below minFps is never changed', async (t) => {
  const g = new ThermalGovernor({ ...policy, baseFps: 1, minFps: 2 });
  t.equal(g.update(100), 1);
  t.notOk(g.throttled);
});

t.test('bad policies are refused', async (t) => {
  t.throws(() => new ThermalGovernor({ ...policy, restoreBelowC: 80 }), RangeError);
  t.throws(() => new ThermalGovernor({ ...policy, stepFactor: 1 }), RangeError);
  const health = { sampleIntervalMs: 5000, latencyWindow: 200, thermal: { enabled: true, throttleAboveC: 70, restoreBelowC: 70, minFps: 1, stepFactor: 0.75 } };
  t.throws(() => thermalPolicyFrom(health, 5, '/etc/enfpire/edge.yaml'), UserError);
  try {
    thermalPolicyFrom(health, 5, '/etc/enfpire/edge.yaml');
  } catch (err) {
    t.match((err as Error).message, /health\.thermal\.restoreBelowC.*\/etc\/enfpire\/edge\.yaml/);
  }
});

t.test('the service follows telemetry samples and emits fps only on a change', async (t) => {
  const samples = new EventEmitter();
  const service = new ThermalGovernorService({ policy, samples });
  const emitted: number[] = [];
  service.on('fps', (fps) => emitted.push(fps));
  service.start();
  for (const temperature of [60, 80, 80, 70, null, 60, 60, 60]) samples.emit('sample', { cpuTemperatureC: temperature });
  t.same(emitted, [4, 2, 4, 8]);
  t.same(service.state(), { targetFps: 8, baseFps: 8, throttled: false, temperatureC: 60 });
  service.stop();
  samples.emit('sample', { cpuTemperatureC: 99 });
  t.same(emitted, [4, 2, 4, 8], 'stopped: no longer listening');
});

/** A mailbox source that produces a frame every `everyMs` (like a camera), keeping only the latest. */
function fakeCamera(everyMs: number): FrameSource & { handedOut: number[] } {
  let seq = 0;
  let latest: Frame | null = null;
  let waiter: ((f: Frame | null) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dropped = 0;
  const handedOut: number[] = [];
  return {
    kind: 'fake',
    handedOut,
    async start() {
      timer = setInterval(() => {
        const frame: Frame = { data: Buffer.alloc(1), format: 'encoded', seq: ++seq, capturedAt: Date.now() };
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          handedOut.push(frame.seq);
          w(frame);
        } else {
          if (latest) dropped++;
          latest = frame;
        }
      }, everyMs);
    },
    async stop() {
      clearInterval(timer);
      waiter?.(null);
    },
    next() {
      if (latest) {
        const f = latest;
        latest = null;
        handedOut.push(f.seq);
        return Promise.resolve(f);
      }
      return new Promise((resolve) => (waiter = resolve));
    },
    stats: () => ({ produced: seq, dropped }),
  };
}

t.test('the paced source applies the target rate by taking fewer frames from the mailbox', async (t) => {
  const camera = fakeCamera(10);
  const paced = new PacedFrameSource(camera, 100);
  await paced.start();
  const count = async (ms: number): Promise<number> => {
    let n = 0;
    const until = performance.now() + ms;
    while (performance.now() < until) if (await paced.next()) n++;
    return n;
  };
  const fast = await count(400);
  paced.setFps(10);
  const slow = await count(400);
  await paced.stop();
  t.ok(fast >= 20, `at the camera rate most frames are taken (${fast} in 400 ms)`);
  t.ok(slow <= 6 && slow >= 2, `at 10 fps about 4 frames in 400 ms (${slow})`);
  t.ok(camera.stats().dropped > 10, 'the frames not taken were dropped by the mailbox, not queued');
  t.equal(await paced.next(), null, 'stopped: next() resolves null');
});

t.test('at the camera rate the paced source does not wait, so no frame of a steady stream is lost', async (t) => {
  const camera = fakeCamera(20);
  const paced = new PacedFrameSource(camera, 1000 / 20);
  await paced.start();
  let taken = 0;
  const until = performance.now() + 500;
  while (performance.now() < until) if (await paced.next()) taken++;
  await paced.stop();
  t.equal(camera.stats().dropped, 0, `every frame was taken (${taken})`);
});

t.test('stop() ends a pacing wait at once', async (t) => {
  const camera = fakeCamera(5);
  const paced = new PacedFrameSource(camera, 10);
  paced.setFps(0.1); // the governor throttled it far below the camera's rate
  await paced.start();
  await paced.next();
  const started = performance.now();
  const pending = paced.next();
  setTimeout(() => void paced.stop(), 20);
  t.equal(await pending, null);
  t.ok(performance.now() - started < 1000, 'did not wait the 10 s interval');
  t.ok(performance.now() - started >= 15, 'it was waiting until stop()');
});
