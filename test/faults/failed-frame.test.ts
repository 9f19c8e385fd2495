/**
 * A real frame whose request fails is never silently dropped (issue #10, point 5): it is sent again, freshly
 * transformed, in a later regular slot, and when every attempt fails it is counted as a failed frame. Through a real
 * Mosquitto, with the device as `enfpire edge` assembles it and a recognizer that refuses the queries a test picks.
 */
import t, { type Test } from 'tap';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SentQuery } from '../../daemon/edge/edge-daemon.js';
import { REAL_FRAME_ATTEMPTS } from '../../daemon/edge/edge-daemon.js';
import { sampleSpotsDir } from '../../daemon/util/paths.js';
import { enrolSampleGallery, recordUnhandledRejections, startEdge } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';
import { startScriptedRecognizer } from './scripted-recognizer.js';

const galleryPath = await enrolSampleGallery(t.testdir());

/**
 * One photo, shown once (a kiosk's button press): one real frame, so every real query on the wire is that frame's.
 * `refuse(n)` says whether the n-th real query (from 0) gets an error reply; dummies are always answered.
 */
async function oneFrame(t: Test, refuse: (nthReal: number) => boolean | 'silent', transport: Record<string, number> = { requestTimeoutMs: 2000 }) {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = t.testdir();
  const photos = join(dir, 'photos');
  await mkdir(photos);
  await copyFile(join(sampleSpotsDir, 'aqua.jpg'), join(photos, 'aqua.jpg'));

  // The device's own record of what each query on the wire was; the recognizer sees them in the same order.
  const sent: SentQuery[] = [];
  const realIndexes: number[] = [];
  const recognizer = await startScriptedRecognizer(broker.url, galleryPath, (index) => {
    if (sent[index]?.kind !== 'real') return false;
    realIndexes.push(index);
    return refuse(realIndexes.length - 1);
  });
  t.teardown(() => recognizer.stop());
  const running = await startEdge(
    dir,
    broker.url,
    { camera: { dir: photos, loop: false }, scheduler: { ratePerSecond: 10 }, transport },
    { beforeStart: (edge) => edge.on('query', (q: SentQuery) => sent.push(q)) },
  );
  t.teardown(() => running.edge.stop());
  return { ...running, sent, realIndexes, recognizer, unhandled };
}

t.test('a real query that fails is sent again, freshly built, in a later slot, and the frame gets its result', async (t) => {
  const { edge, results, sent, realIndexes, recognizer, unhandled } = await oneFrame(t, (n) => n === 0);
  t.ok(await eventually(() => results.length === 1, 20_000), 'the frame got a result');
  const [result] = results;
  t.equal(result.label, 'aqua.jpg');
  t.equal(result.spotId, 'aqua', 'the right spot, from the retried query');
  t.equal(result.fromCache, false);
  t.equal(realIndexes.length, 2, 'two real queries: the refused one and its retry');
  const [first, retry] = realIndexes;
  t.same(recognizer.refused, [first], 'only the first was refused');
  t.ok(retry > first, `the retry left in a later slot (query #${retry}, after #${first})`);
  t.ok(sent.slice(first, retry + 1).every((q) => q.label === 'aqua.jpg' || q.kind === 'dummy'), 'in between, only dummies');
  const [v1, v2] = [recognizer.queries[first].vector, recognizer.queries[retry].vector];
  t.equal(v1.length, v2.length);
  t.ok(v1.some((x, i) => x !== v2[i]), 'the retry is freshly built, not a re-send of the same payload');
  const stats = edge.edge.stats();
  t.equal(stats.retried, 1, 'counted as retried');
  t.equal(stats.failedFrames, 0, 'not as failed');
  t.same(unhandled.reasons, []);
});

t.test('a real frame whose every attempt fails is counted as a failed frame and an error, not silently dropped', async (t) => {
  const { edge, results, realIndexes, recognizer, unhandled } = await oneFrame(t, () => true);
  t.ok(await eventually(() => edge.edge.stats().failedFrames === 1, 20_000), 'the frame is reported as failed');
  await edge.edge.finished;
  const stats = edge.edge.stats();
  t.equal(realIndexes.length, REAL_FRAME_ATTEMPTS, `${REAL_FRAME_ATTEMPTS} attempts, each in its own slot`);
  t.same(recognizer.refused, realIndexes, 'every one refused');
  t.equal(stats.retried, REAL_FRAME_ATTEMPTS - 1);
  t.equal(stats.errors, 1, 'and counted among the errors the local /status shows');
  t.equal(results.length, 0, 'no made-up result');
  t.same(unhandled.reasons, []);
});

t.test('a real query that is never answered is asked again after hedgeAfterMs, long before the request times out', async (t) => {
  const timeoutMs = 5000;
  const hedgeAfterMs = 400;
  const { edge, results, sent, realIndexes, recognizer, unhandled } = await oneFrame(t, (n) => (n === 0 ? 'silent' : false), {
    requestTimeoutMs: timeoutMs,
    hedgeAfterMs,
  });
  t.ok(await eventually(() => results.length === 1, 20_000), 'the frame got a result');
  const [result] = results;
  t.equal(result.spotId, 'aqua', 'the right spot, from the second request');
  t.ok(result.latencyMs < timeoutMs, `answered ${result.latencyMs} ms after capture, not after the ${timeoutMs} ms timeout`);
  t.comment(`silent first request: answered ${result.latencyMs} ms after capture (hedge after ${hedgeAfterMs} ms, timeout ${timeoutMs} ms)`);
  t.equal(realIndexes.length, 2, 'two real queries: the unanswered one and the second ask');
  const [first, second] = realIndexes;
  t.same(recognizer.silenced, [first]);
  t.ok(sent.slice(first + 1, second).every((q) => q.kind === 'dummy') && second > first + 1, 'the second ask left in a later regular slot, dummies in between');
  t.equal(edge.edge.stats().retried, 1, 'counted as retried');
  t.equal(edge.edge.stats().failedFrames, 0);
  t.same(unhandled.reasons, []);
});

t.test('hedgeAfterMs 0: an unanswered query holds the frame until it times out', async (t) => {
  const timeoutMs = 1500;
  const { results, realIndexes, unhandled } = await oneFrame(t, (n) => (n === 0 ? 'silent' : false), { requestTimeoutMs: timeoutMs, hedgeAfterMs: 0 });
  t.ok(await eventually(() => results.length === 1, 20_000), 'the frame got a result');
  t.ok(results[0].latencyMs >= timeoutMs, `answered ${results[0].latencyMs} ms after capture, after the timeout`);
  t.equal(realIndexes.length, 2);
  t.same(unhandled.reasons, []);
});
