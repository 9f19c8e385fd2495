/** Failure paths of the transport through a real Mosquitto: bad input, wrong models, timeouts, rotation, outages. */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RecognitionClient, RecognizerError, RequestTimeoutError } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint, type RecognizerHandler } from '../../daemon/transport/recognizer-endpoint.js';
import { decode, encode } from '../../daemon/transport/codec.js';
import { TOPICS, requestTopic, type WireMessage } from '../../daemon/transport/messages.js';
import { UserError } from '../../daemon/util/errors.js';
import { GalleryHandler, MODEL, eventually, limits, makeSpots, recordingLogger, vectors } from './fixtures.js';

const broker = await startMosquitto();
t.teardown(() => broker.stop());
const spots = makeSpots(20);
const query = (seed: number, model = MODEL) => ({ type: 'query' as const, model, vector: vectors(1, seed)[0], topM: 3 });

async function endpoint(t: Test, handler: GalleryHandler, url = broker.url, logger = recordingLogger().logger) {
  const ep = new RecognizerEndpoint({ group: 'recognizers', url, limits, handler, logger });
  await ep.start();
  t.teardown(() => ep.stop());
  return ep;
}

async function client(t: Test, over: Partial<ConstructorParameters<typeof RecognitionClient>[0]> = {}) {
  const c = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 2000, infoWaitMs: 500, ...over });
  await c.start();
  t.teardown(() => c.stop());
  return c;
}

/** A bare MQTT v5 client that can publish anything and collect what comes back on its reply topic. */
async function rawPeer(t: Test, url = broker.url) {
  const clientId = randomBytes(16).toString('hex');
  const peer = await mqtt.connectAsync(url, { protocolVersion: 5, clientId });
  t.teardown(() => peer.endAsync());
  const replyTopic = TOPICS.replyPrefix + clientId;
  const replies: Array<{ corr: string; msg: WireMessage }> = [];
  peer.on('message', (_topic, payload, packet) => {
    replies.push({ corr: packet.properties?.correlationData?.toString('hex') ?? '', msg: decode(payload, limits) });
  });
  await peer.subscribeAsync(replyTopic);
  const send = (topic: string, payload: Buffer, props: { responseTopic?: string; correlationData?: Buffer } = { responseTopic: replyTopic, correlationData: randomBytes(16) }) =>
    peer.publishAsync(topic, payload, { qos: 1, properties: props });
  return { replyTopic, replies, send, queryTopic: requestTopic('query', clientId), regionTopic: requestTopic('region', clientId) };
}

t.test('a client with another model or dimension refuses to query', async (t) => {
  const ep = await endpoint(t, new GalleryHandler(spots));
  const other = await client(t, { model: 'other-model-v2' });
  t.equal(other.info()?.model, MODEL, 'the announcement was seen');
  await t.rejects(other.query(query(1, 'other-model-v2')), UserError);
  await t.rejects(other.fetchRegion('*'), /serves model test-model-v1 \(dimension 64\) but this device runs model other-model-v2 \(dimension 64\): install the matching model/);
  const narrow = await client(t, { limits: { ...limits, dimension: 32 } });
  await t.rejects(narrow.query({ type: 'query', model: MODEL, vector: vectors(1, 2, 32)[0], topM: 3 }), /dimension 64\) but this device runs model test-model-v1 \(dimension 32\)/);
  t.equal(other.counters().sent + narrow.counters().sent, 0, 'nothing was sent');
  t.equal(ep.counters().queries, 0);
});

t.test('a query for another model gets a wrong-model error reply', async (t) => {
  const ep = await endpoint(t, new GalleryHandler(spots));
  const peer = await rawPeer(t);
  await peer.send(peer.queryTopic, encode(query(3, 'legacy-model')));
  t.ok(await eventually(() => peer.replies.length === 1));
  t.match(peer.replies[0].msg, { type: 'error', code: 'wrong-model', message: /serves model test-model-v1, the request is for model legacy-model/ });
  t.match(ep.counters(), { queries: 0, errors: 1 });
});

t.test('garbage on the request topics is dropped with one log line each; the endpoint keeps answering', async (t) => {
  const rec = recordingLogger();
  const ep = await endpoint(t, new GalleryHandler(spots), broker.url, rec.logger);
  const peer = await rawPeer(t);
  const valid = encode(query(4));
  await peer.send(peer.queryTopic, Buffer.from('garbage'), {}); // no reply address: silently useless
  await peer.send(peer.queryTopic, randomBytes(2000)); // reply address, random bytes
  await peer.send(peer.queryTopic, valid.subarray(0, 40)); // truncated CBOR
  await peer.send(peer.queryTopic, valid, { responseTopic: 'elsewhere/topic', correlationData: randomBytes(8) });
  await peer.send(peer.queryTopic, valid, { responseTopic: `${TOPICS.replyPrefix}a/b`, correlationData: randomBytes(8) });
  await peer.send(peer.queryTopic, valid, { responseTopic: peer.replyTopic, correlationData: randomBytes(65) });
  await peer.send(peer.queryTopic, valid, { responseTopic: peer.replyTopic });
  await peer.send(peer.queryTopic, encode({ type: 'region-request', model: MODEL, region: '*' }));
  await peer.send(peer.regionTopic, Buffer.alloc(limits.maxBytes + 1));
  // A valid request on this peer's topic that names another client's reply topic: nobody is answered.
  await peer.send(peer.regionTopic, encode({ type: 'region-request', model: MODEL, region: '*' }), {
    responseTopic: `${TOPICS.replyPrefix}${randomBytes(16).toString('hex')}`,
    correlationData: randomBytes(8),
  });
  t.ok(await eventually(() => ep.counters().dropped === 10), `dropped ${ep.counters().dropped} of 10`);

  const drops = rec.lines().filter((l) => l.msg.startsWith('dropped '));
  t.equal(drops.length, 10, 'one log line per dropped message');
  t.ok(drops.some((l) => l.msg.includes("another client's reply topic")), 'the misdirected request is named as such');
  t.ok(drops.every((l) => !l.msg.includes('\n')), 'single-line reasons');
  t.ok(await eventually(() => peer.replies.length === 4), 'requests with a valid reply address are told why');
  t.ok(peer.replies.every((r) => r.msg.type === 'error' && r.msg.code === 'bad-request'));

  const c = await client(t);
  const reply = await c.query(query(5));
  t.equal(reply.candidates.length, 3, 'the next valid query is answered');
  t.match(ep.counters(), { state: 'connected', queries: 1 });
});

t.test('a failing handler becomes an internal error reply, not a crash', async (t) => {
  const handler = new GalleryHandler(spots);
  const ep = await endpoint(t, handler);
  const c = await client(t);
  handler.failWith = new Error('index corrupted');
  const err = await c.query(query(6)).catch((e: unknown) => e);
  t.type(err, RecognizerError);
  t.match(err, { code: 'internal', message: /the recognizer failed to answer/ });
  t.notMatch((err as Error).message, /index corrupted/, 'internals stay on the server');
  handler.failWith = undefined;
  t.equal((await c.query(query(7))).type, 'reply');
  t.match(ep.counters(), { errors: 1, queries: 2 });
});

t.test('a request times out cleanly when no recognizer runs', async (t) => {
  const empty = await startMosquitto();
  t.teardown(() => empty.stop());
  const c = await client(t, { url: empty.url, requestTimeoutMs: 300, infoWaitMs: 100 });
  t.equal(c.info(), undefined, 'nobody announced');
  const started = Date.now();
  await t.rejects(c.query(query(8)), RequestTimeoutError);
  const took = Date.now() - started;
  t.ok(took >= 290 && took < 1800, `timed out after ${took} ms`);
  t.match(c.counters(), { state: 'connected', sent: 1, received: 0, timeouts: 1, pending: 0 });
});

t.test('the region pack has a timeout of its own, longer than a query\'s (transport.regionTimeoutMs)', async (t) => {
  // A recognizer whose region pack takes 600 ms to arrive, as a 22 MB pack does over a slow link, and queries at once.
  const handler = new GalleryHandler(spots);
  const slow: RecognizerHandler = {
    query: (q) => handler.query(q),
    region: async (r) => (await new Promise((done) => setTimeout(done, 600)), handler.region(r)),
    info: () => handler.info(),
  };
  const ep = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler: slow, logger: recordingLogger().logger });
  await ep.start();
  t.teardown(() => ep.stop());
  const patient = await client(t, { requestTimeoutMs: 200, regionTimeoutMs: 3000 });
  t.equal((await patient.fetchRegion('*')).spots.length, spots.length, 'the pack arrives within the region timeout');
  t.equal((await patient.query(query(10))).type, 'reply', 'queries keep their own, shorter timeout');
  const hasty = await client(t, { requestTimeoutMs: 200 });
  await t.rejects(hasty.fetchRegion('*'), RequestTimeoutError, "without it the pack waits only a query's timeout");

  // No recognizer announced: nobody may be there, so the request waits only a query's timeout and the device says so.
  const empty = await startMosquitto();
  t.teardown(() => empty.stop());
  const alone = await client(t, { url: empty.url, requestTimeoutMs: 200, regionTimeoutMs: 30_000, infoWaitMs: 100 });
  const started = Date.now();
  await t.rejects(alone.fetchRegion('*'), RequestTimeoutError);
  t.ok(Date.now() - started < 5_000, `with no recognizer announced it gave up after ${Date.now() - started} ms, not the region timeout`);
});

t.test('a late reply is dropped with a log line', async (t) => {
  const handler = new GalleryHandler(spots);
  handler.delayMs = 500;
  await endpoint(t, handler);
  const rec = recordingLogger();
  const c = await client(t, { requestTimeoutMs: 150, logger: rec.logger });
  await t.rejects(c.query(query(9)), RequestTimeoutError);
  t.ok(await eventually(() => c.counters().dropped === 1), 'the late reply was dropped');
  t.ok(rec.lines().some((l) => /dropped reply with unknown correlation/.test(l.msg)));
  t.equal(c.counters().received, 0);
});

t.test('rotateIdentity reconnects under a new client id and reply topic without losing requests', async (t) => {
  const handler = new GalleryHandler(spots);
  handler.delayMs = 200;
  await endpoint(t, handler);
  const c = await client(t);
  const before = c.identity();
  t.match(before, { clientId: /^[0-9a-f]{22}$/ });
  t.equal(before.replyTopic, `enfpire/v1/reply/${before.clientId}`, 'the reply topic is named after the client id (broker ACL %c)');

  const inFlight = c.query(query(10));
  await new Promise((r) => setTimeout(r, 20));
  const rotation = c.rotateIdentity();
  const during = c.query(query(11)); // waits for the new identity
  await rotation;
  const after = c.identity();
  t.not(after.clientId, before.clientId, 'new client id');
  t.not(after.replyTopic, before.replyTopic, 'new reply topic');
  t.equal((await inFlight).type, 'reply', 'the request in flight finished on the old identity');
  t.equal((await during).type, 'reply', 'the request made during rotation went out on the new one');
  t.equal((await c.query(query(12))).type, 'reply');
  t.equal(c.counters().state, 'connected');

  const log = await broker.log();
  t.match(log, new RegExp(`as ${after.clientId} `), 'the broker saw the new client id');
  t.match(log, new RegExp(`Client ${before.clientId} disconnected`), 'and the old one leave');
});

t.test('stop() rejects pending requests', async (t) => {
  const handler = new GalleryHandler(spots);
  handler.delayMs = 300;
  await endpoint(t, handler);
  const c = new RecognitionClient({ requestTimeoutMs: 5_000, url: broker.url, limits, model: MODEL, infoWaitMs: 500 });
  await c.start();
  const pending = t.rejects(c.query(query(13)), /stopped/);
  await new Promise((r) => setTimeout(r, 30));
  await c.stop();
  await pending;
  await t.rejects(c.query(query(14)), /not running/);
  t.equal(c.counters().state, 'offline');
});

t.test('losing the broker fails pending requests; both sides come back when it returns', async (t) => {
  const b = await startMosquitto();
  const handler = new GalleryHandler(spots);
  handler.delayMs = 2000;
  const ep = new RecognizerEndpoint({ group: 'recognizers', url: b.url, limits, handler, reconnectPeriodMs: 200 });
  await ep.start();
  t.teardown(() => ep.stop());
  const c = await client(t, { url: b.url, requestTimeoutMs: 5000, reconnectPeriodMs: 200 });
  const pending = t.rejects(c.query(query(15)), /lost the connection/);
  await new Promise((r) => setTimeout(r, 50));
  await b.stop();
  await pending;
  t.ok(await eventually(() => c.counters().state !== 'connected'));
  await t.rejects(c.query(query(16)), /not connected to the recognition broker/, 'fails fast while offline');

  // Same port, empty broker (no persistence): the endpoint must re-subscribe and re-announce, the client re-subscribe.
  const again = await startMosquitto({ port: b.port });
  t.teardown(() => again.stop());
  t.ok(await eventually(() => c.counters().state === 'connected' && ep.counters().state === 'connected', 8000), 'both reconnected');
  handler.delayMs = 0;
  t.equal((await c.query(query(17))).type, 'reply', 'queries flow again');
  const late = await client(t, { url: again.url, infoWaitMs: 3000 });
  t.equal(late.info()?.model, MODEL, 'the endpoint re-announced on the new broker');
});

t.test('an unreachable broker is a UserError naming the URL, without the password', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
  const url = `mqtt://fleet:s3cret@127.0.0.1:${port}`;
  const c = new RecognitionClient({ requestTimeoutMs: 5_000, url, limits, model: MODEL, connectTimeoutMs: 2000 });
  const err = await c.start().catch((e: unknown) => e);
  t.type(err, UserError);
  t.match((err as Error).message, new RegExp(`^Cannot connect to the MQTT broker at mqtt://fleet:\\*\\*\\*@127\\.0\\.0\\.1:${port}/? \\(.*ECONNREFUSED.*\\): check that the broker runs`));
  t.notMatch((err as Error).message, /s3cret/);
  t.equal(c.counters().state, 'offline');

  const ep = new RecognizerEndpoint({ group: 'recognizers', url: `mqtt://127.0.0.1:${port}`, limits, handler: new GalleryHandler(spots), connectTimeoutMs: 2000 });
  await t.rejects(ep.start(), UserError);
  const mismatched = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits: { ...limits, dimension: 128 }, handler: new GalleryHandler(spots) });
  await t.rejects(mismatched.start(), { name: 'UserError', message: /dimension 64 but its wire limits say 128/ });
});
