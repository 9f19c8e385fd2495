/**
 * privacy.transform.startStationary through the device as `enfpire edge` assembles it, a real Mosquitto and the
 * recognizer: the first query leaves a fixed while after the camera's first frame (FIRST_QUERY_WAIT in
 * edge-runtime.ts), so a wearer standing at a spot when the device starts has that spot on the wire from the
 * session's first query instead of being the first spot to enter it (docs/privacy.md, "A session that starts as if it
 * had been running"). The camera is the one fake: real photographs, handed out only when the test lets the first
 * frame through, as a camera that is slow to start would.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { loadEdgeConfig } from '../../daemon/config/load.js';
import type { Frame, FrameSource } from '../../daemon/camera/types.js';
import { EdgeRuntime } from '../../daemon/edge/edge-runtime.js';
import { requestFilter } from '../../daemon/transport/messages.js';
import { silentLogger } from '../../daemon/util/log.js';
import { sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { seededRandom } from '../../daemon/util/random.js';
import { startBackend, wiretap, writeEdgeProfile } from '../helpers/edge-rig.js';
import { eventually } from '../transport/fixtures.js';

/** A camera whose frames (one photograph, over and over) come only once `open()` is called. */
class LateCamera implements FrameSource {
  readonly kind = 'late';
  private seq = 0;
  private opened = false;
  private wake: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly image: Buffer, private readonly label: string) {}

  open(): void {
    this.opened = true;
    this.wake?.();
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
  }

  async next(): Promise<Frame | null> {
    while (!this.opened && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.stopped) return null;
    await new Promise((r) => setTimeout(r, 100));
    return { data: this.image, format: 'encoded', seq: ++this.seq, capturedAt: Date.now(), label: this.label };
  }

  stats() {
    return { produced: this.seq, dropped: 0 };
  }
}

t.test('startStationary: nothing leaves before the first frame, and the spot the wearer stands at goes out at once', async (t) => {
  const { brokerUrl } = await startBackend(t);
  const [spot] = await listSpotPhotos(sampleSpotsDir);
  const image = await readFile(spot.files[0]);

  const run = async (startStationary: boolean) => {
    const file = await writeEdgeProfile(t.testdir(), brokerUrl, {
      privacy: { transform: { kind: 'kmix', arrival: 'deferred', startStationary } },
      scheduler: { mode: 'constant', ratePerSecond: 5 },
    });
    const camera = new LateCamera(image, spot.id);
    const tap = await wiretap(brokerUrl, [requestFilter('query')]);
    const edge = new EdgeRuntime({ config: await loadEdgeConfig(file), logger: silentLogger(), health: false, source: camera, random: seededRandom(7) });
    const results: unknown[] = [];
    edge.on('result', (r) => results.push(r));
    let heldAtFirstQuery: number | undefined;
    let firstQueryAt: number | undefined;
    edge.on('query', () => {
      heldAtFirstQuery ??= edge.edge.stats().heldBack;
      firstQueryAt ??= Date.now();
    });
    try {
      await edge.start();
      await new Promise((r) => setTimeout(r, 1_500));
      const beforeFrame = tap.seen.length;
      const openedAt = Date.now();
      camera.open();
      t.ok(await eventually(() => results.length >= 60, 60_000), 'sixty frames of the spot answered');
      return { beforeFrame, stats: edge.edge.stats(), after: tap.seen.length, heldAtFirstQuery, firstQueryAfterFrame: (firstQueryAt ?? Infinity) - openedAt };
    } finally {
      await edge.stop();
      await tap.end();
    }
  };

  const started = await run(false);
  t.ok(started.beforeFrame >= 3, `without it the schedule starts with the device: ${started.beforeFrame} queries in the 1.5 s before the first frame`);
  const stationary = await run(true);
  t.equal(stationary.beforeFrame, 0, 'with it no query leaves before the first frame has been looked at');
  t.ok(stationary.after > 0, 'queries leave once it has');
  // 3 s after the first frame; the camera gives its first 100 ms after it is let through.
  t.ok(stationary.firstQueryAfterFrame >= 3_000, `the first query leaves a fixed while after the first frame (${stationary.firstQueryAfterFrame} ms)`);
  // The shadow starts on the spot: once queries leave, its frames are never held back for a track to bring it.
  t.equal(stationary.stats.heldBack, stationary.heldAtFirstQuery, `no frame held back once queries leave (${stationary.heldAtFirstQuery} named on the device before)`);
  t.ok(stationary.stats.realQueries >= 10, `the spot goes out as real queries from the first slot on (${stationary.stats.realQueries})`);
});

t.test('startStationary: a camera that gives no frame does not keep the device silent', async (t) => {
  const { brokerUrl } = await startBackend(t);
  const [spot] = await listSpotPhotos(sampleSpotsDir);
  const file = await writeEdgeProfile(t.testdir(), brokerUrl, {
    privacy: { transform: { kind: 'kmix', arrival: 'deferred', startStationary: true } },
    scheduler: { mode: 'constant', ratePerSecond: 5 },
  });
  const camera = new LateCamera(await readFile(spot.files[0]), spot.id);
  const tap = await wiretap(brokerUrl, [requestFilter('query')]);
  t.teardown(() => tap.end());
  const edge = new EdgeRuntime({ config: await loadEdgeConfig(file), logger: silentLogger(), health: false, source: camera });
  t.teardown(() => edge.stop());
  await edge.start();
  // The wait is armed as the pipeline starts, the last step of start().
  const startedAt = Date.now();
  t.ok(await eventually(() => tap.seen.length > 0, 20_000), 'dummies leave without a frame');
  const firstAt = tap.seen[0].at - startedAt;
  // FIRST_QUERY_WAIT.maxMs (8 s) in edge-runtime.ts.
  t.ok(firstAt >= 7_000, `after the longest wait for a first frame (${firstAt} ms)`);
});
