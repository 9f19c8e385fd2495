/**
 * The broker restarted mid-stream (issue #10, point 5), with the accounting that says no real frame is silently
 * dropped: every extracted frame ends as a result, as a failed frame (every attempt failed, counted on /status as an
 * error) or superseded by a newer one — at most the one being worked on is still open. Measures how long the device
 * takes to reconnect and to answer again once the broker is back.
 */
import t from 'tap';
import type { EdgeCounters } from '../../daemon/edge/edge-daemon.js';
import { enrolSampleGallery, recordUnhandledRejections, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

/** Frames extracted but not yet ended one way or the other: the one being worked on, if any. */
const open = (s: EdgeCounters) => s.extracted - s.results - s.failedFrames - s.superseded;

t.test('broker restarted mid-stream: every frame is accounted for, and the device answers again by itself', async (t) => {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = t.testdir();
  const recognizer = await startRecognizer(dir, broker.url, await enrolSampleGallery(dir));
  t.teardown(() => recognizer.stop());
  const { edge, results } = await startEdge(dir, broker.url, { camera: { fps: 8 }, scheduler: { ratePerSecond: 10 }, transport: { requestTimeoutMs: 2000 } });
  t.teardown(() => edge.stop());
  const answeredSince = (i: number) => results.slice(i).some((r) => !r.fromCache && r.spotId !== null);
  t.ok(await eventually(() => answeredSince(0), 30_000), 'results arrive');

  await broker.stop();
  t.ok(await eventually(() => edge.transport.counters().state !== 'connected', 5_000), 'the device saw the broker go');
  t.ok(await eventually(() => edge.edge.stats().failedFrames >= 2, 15_000), `frames seen while it is away are reported as failed (${edge.edge.stats().failedFrames})`);
  t.ok([0, 1].includes(open(edge.edge.stats())), `no frame unaccounted for while the broker is away (${JSON.stringify(edge.edge.stats())})`);

  const again = await startMosquitto({ port: broker.port });
  t.teardown(() => again.stop());
  const back = Date.now();
  const since = results.length;
  t.ok(await eventually(() => edge.transport.counters().state === 'connected', 15_000), 'the device reconnected');
  const reconnectMs = Date.now() - back;
  t.ok(await eventually(() => answeredSince(since), 15_000), 'and is answered again');
  const answerMs = Date.now() - back;
  t.comment(`broker restart: reconnected ${reconnectMs} ms and answered again ${answerMs} ms after the broker was back (reconnect period 2 s)`);
  t.ok(await eventually(() => results.length >= since + 10, 15_000), 'results keep coming');
  const s = edge.edge.stats();
  t.ok([0, 1].includes(open(s)), `every extracted frame is a result, a failed frame or superseded (extracted ${s.extracted}, results ${s.results}, failed ${s.failedFrames}, superseded ${s.superseded})`);
  t.ok(s.errors >= s.failedFrames, 'failed frames are among the errors /status reports');
  t.same(unhandled.reasons, [], 'no unhandled rejection');
});
