/**
 * A failed request must never end the device daemon (issue: "a recognizer that stops answering, an error reply or a
 * broker restart ends in an unhandled rejection in the scheduler"). Each case runs the real EdgeRuntime, as `enfpire
 * edge` assembles it, against a real Mosquitto, and breaks the far side while the camera keeps looping.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import type { EdgeResult } from '../../daemon/edge/edge-daemon.js';
import type { RecognizerService } from '../../daemon/recognizer/service.js';
import { encode } from '../../daemon/transport/codec.js';
import { requestFilter } from '../../daemon/transport/messages.js';
import { enrolSampleGallery, recordUnhandledRejections, startEdge, startRecognizer, wiretap } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

const shared = t.testdir();
const galleryPath = await enrolSampleGallery(shared);

/** A result the recognizer answered (not the cache, not the region gate), arriving after `since`. */
const answered = (results: EdgeResult[], since: number) => results.some((r, i) => i >= since && !r.fromCache && r.spotId !== null);

/** Starts, and tears down at the end of `t`, a recognizer (restartable by calling again). */
async function recognizer(t: Test, dir: string, url: string): Promise<RecognizerService> {
  const service = await startRecognizer(dir, url, galleryPath);
  t.teardown(() => service.stop());
  return service;
}

/** Each case: its own folder and broker, and a record of unhandled rejections (each one would end the daemon). */
async function setting(t: Test) {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  return { unhandled, dir: t.testdir(), broker };
}

/** The device as `enfpire edge` assembles it, stopped at the end of `t`. */
async function device(t: Test, dir: string, url: string, requestTimeoutMs: number) {
  const running = await startEdge(dir, url, { transport: { requestTimeoutMs } });
  t.teardown(() => running.edge.stop());
  return running;
}

t.test('the recognizer stops answering: requests time out, the daemon counts them and carries on', async (t) => {
  const { unhandled, dir, broker } = await setting(t);
  const first = await recognizer(t, dir, broker.url);
  const { edge, results } = await device(t, dir, broker.url, 300);

  t.ok(await eventually(() => answered(results, 0), 15_000), 'results arrive while the recognizer answers');
  await first.stop();
  const failedBefore = edge.edge.stats().failedQueries;
  t.ok(await eventually(() => edge.edge.stats().failedQueries >= failedBefore + 3, 10_000), `requests failed (${edge.edge.stats().failedQueries})`);
  t.ok(edge.transport.counters().timeouts >= 3, `they timed out (${edge.transport.counters().timeouts} timeouts)`);

  const since = results.length;
  await recognizer(t, dir, broker.url);
  t.ok(await eventually(() => answered(results, since), 15_000), 'a new result arrives once the recognizer is back');
  t.equal(edge.transport.counters().state, 'connected', 'the device stayed connected throughout');
  t.same(unhandled.reasons, [], 'no unhandled rejection: the process survives');
});

t.test('the recognizer answers with an error message: the daemon counts the failures and carries on', async (t) => {
  const { unhandled, dir, broker } = await setting(t);
  // The real recognizer serves the region pack at start, then leaves the queries to a stand-in that refuses them.
  const real = await recognizer(t, dir, broker.url);
  const { edge, results } = await device(t, dir, broker.url, 2000);
  await real.stop();

  const standIn = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => standIn.endAsync(true));
  let refused = 0;
  standIn.on('message', (_topic, _payload, packet) => {
    const { responseTopic, correlationData } = packet.properties ?? {};
    if (!responseTopic || !correlationData) return;
    refused++;
    const error = encode({ type: 'error', code: 'internal', message: 'the recognizer failed to answer' });
    void standIn.publishAsync(responseTopic, error, { qos: 1, properties: { correlationData } });
  });
  await standIn.subscribeAsync(`$share/recognizers/${requestFilter('query')}`, { qos: 1 });

  const failedBefore = edge.edge.stats().failedQueries;
  t.ok(await eventually(() => edge.edge.stats().failedQueries >= failedBefore + 5, 10_000), `requests failed (${edge.edge.stats().failedQueries})`);
  t.ok(refused >= 5, `the stand-in refused them (${refused})`);
  t.equal(edge.transport.counters().timeouts, 0, 'every failure was an error reply, not a timeout');

  await standIn.endAsync(true);
  const since = results.length;
  await recognizer(t, dir, broker.url);
  t.ok(await eventually(() => answered(results, since), 15_000), 'a new result arrives from a recognizer that answers');
  t.same(unhandled.reasons, [], 'no unhandled rejection: the process survives');
});

t.test('the broker restarts: the daemon reconnects by itself and queries flow again', async (t) => {
  const { unhandled, dir, broker } = await setting(t);
  await recognizer(t, dir, broker.url);
  const { edge, results } = await device(t, dir, broker.url, 1000);
  const client = edge.transport;
  t.ok(await eventually(() => answered(results, 0), 15_000), 'results arrive before the restart');

  await broker.stop();
  t.ok(await eventually(() => client.counters().state !== 'connected', 5_000), 'the device saw the broker go');
  const failedBefore = edge.edge.stats().failedQueries;
  t.ok(await eventually(() => edge.edge.stats().failedQueries >= failedBefore + 2, 5_000), `slots while the broker is away fail (${edge.edge.stats().failedQueries})`);

  const again = await startMosquitto({ port: broker.port });
  t.teardown(() => again.stop());
  const tap = await wiretap(again.url, [requestFilter('query')]);
  t.teardown(() => tap.end());
  t.ok(await eventually(() => client.counters().state === 'connected', 10_000), 'the device reconnected by itself');
  t.equal(edge.transport, client, 'the same daemon, not a restarted one');
  t.ok(await eventually(() => tap.seen.length >= 5, 10_000), `queries reach the restarted broker (${tap.seen.length} seen by a wiretap)`);
  const since = results.length;
  t.ok(await eventually(() => answered(results, since), 15_000), 'and are answered again');
  t.same(unhandled.reasons, [], 'no unhandled rejection: the process survives');
});
