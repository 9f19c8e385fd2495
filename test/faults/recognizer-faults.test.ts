/**
 * A recognizer of the shared group dies (SIGKILL) or hangs (SIGSTOP) while a second one keeps the group alive
 * (issue #10, point 5). Two `enfpire recognizer` processes on a real Mosquitto, the device as `enfpire edge`
 * assembles it. What is measured is logged as test comments; docs/reliability.md quotes them.
 */
import t, { type Test } from 'tap';
import { REAL_FRAME_ATTEMPTS, type EdgeResult, type SentQuery } from '../../daemon/edge/edge-daemon.js';
import { enrolSampleGallery, recordUnhandledRejections, startEdge } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';
import { startRecognizerProcess } from './processes.js';

const galleryPath = await enrolSampleGallery(t.testdir());
const REQUEST_TIMEOUT_MS = 2000;

/** Results a recognizer answered (not the region gate's "unknown"), from index `since` on. */
const answered = (results: EdgeResult[], since = 0) => results.slice(since).filter((r) => !r.fromCache && r.spotId !== null).length;

async function twoRecognizersAndADevice(t: Test) {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = t.testdir();
  const a = await startRecognizerProcess(t, dir, broker.url, galleryPath, 'a');
  const b = await startRecognizerProcess(t, dir, broker.url, galleryPath, 'b');
  const sent: SentQuery[] = [];
  const running = await startEdge(
    dir,
    broker.url,
    { scheduler: { ratePerSecond: 10 }, transport: { requestTimeoutMs: REQUEST_TIMEOUT_MS } },
    { beforeStart: (edge) => edge.on('query', (q: SentQuery) => sent.push(q)) },
  );
  t.teardown(() => running.edge.stop());
  t.ok(await eventually(() => answered(running.results) >= 5, 30_000), 'results arrive while both recognizers answer');
  return { broker, a, b, sent, unhandled, ...running };
}

t.test('one recognizer is SIGKILLed: the other takes every query at once, at most the ones in flight are lost', async (t) => {
  const { b, edge, results, sent, unhandled } = await twoRecognizersAndADevice(t);
  const failedBefore = edge.edge.stats().failedQueries;
  const [resultsBefore, sentBefore] = [results.length, sent.length];
  const killedAt = Date.now();
  b.kill('SIGKILL');
  await b.exited;
  t.ok(await eventually(() => answered(results, resultsBefore) >= 1, 10_000), 'a result arrives after the kill');
  const firstAfter = results.slice(resultsBefore).find((r) => !r.fromCache && r.spotId !== null)!.at - killedAt;
  t.ok(await eventually(() => answered(results, resultsBefore) >= 20, 30_000), 'and results keep coming');
  // Whatever was in flight at the dead one fails only when its request times out.
  await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 500));
  const lost = edge.edge.stats().failedQueries - failedBefore;
  const during = sent.length - sentBefore;
  t.comment(`SIGKILL: first answered result ${firstAfter} ms after the kill; ${lost} of ${during} queries lost`);
  t.ok(lost <= 2, `at most the queries in flight at the dead recognizer are lost (${lost})`);
  t.equal(edge.edge.stats().failedFrames, 0, 'no real frame failed: a lost real query is retried in a later slot');
  t.same(unhandled.reasons, []);
});

t.test('one recognizer hangs (SIGSTOP): the broker keeps giving it queries until its keepalive runs out, then the other takes them all', async (t) => {
  const { broker, b, edge, results, sent, unhandled } = await twoRecognizersAndADevice(t);
  const failedBefore = edge.edge.stats().failedQueries;
  const [resultsBefore, sentBefore] = [results.length, sent.length];
  const stoppedAt = Date.now();
  b.kill('SIGSTOP');
  // Mosquitto drops a client silent for 1.5 keepalive periods (the recognizer's broker.keepaliveSeconds, 5 s by default).
  let droppedAt: number | undefined;
  for (const deadline = Date.now() + 120_000; droppedAt === undefined && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    if (/Client \S+ has exceeded timeout, disconnecting/.test(await broker.log())) droppedAt = Date.now();
  }
  t.ok(droppedAt, 'the broker dropped the hung recognizer');
  const hangMs = droppedAt! - stoppedAt;
  const lostWhileHung = edge.edge.stats().failedQueries - failedBefore;
  const sentWhileHung = sent.length - sentBefore;
  const answeredWhileHung = answered(results, resultsBefore);
  t.ok(answeredWhileHung > 0, `results kept coming while it hung (${answeredWhileHung})`);

  // Requests it took before the drop time out within REQUEST_TIMEOUT_MS; after that nothing may fail.
  await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 500));
  const failedAfterDrop = edge.edge.stats().failedQueries;
  const since = results.length;
  t.ok(await eventually(() => answered(results, since) >= 20, 30_000), 'results keep coming after the drop');
  t.equal(edge.edge.stats().failedQueries, failedAfterDrop, 'and no query fails any more: the live recognizer takes them all');
  const stats = edge.edge.stats();
  t.comment(
    `SIGSTOP: the broker dropped the hung recognizer after ${(hangMs / 1000).toFixed(1)} s; meanwhile ${lostWhileHung} of ` +
      `${sentWhileHung} queries timed out, ${answeredWhileHung} results arrived, ${stats.retried} real frames were retried ` +
      `and ${stats.failedFrames} failed after ${REAL_FRAME_ATTEMPTS} attempts`,
  );
  t.ok(lostWhileHung > 0, 'while it hung, the queries the broker gave it were lost (this is what the keepalive costs)');
  t.same(unhandled.reasons, []);
});
