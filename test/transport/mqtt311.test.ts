/**
 * MQTT 3.1.1 compatibility mode: client and endpoint through the demo's embedded aedes broker (3.1.1 only, no shared
 * subscriptions), and 3.1.1 devices served by an ordinary MQTT v5 recognizer on Mosquitto next to v5 devices.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { Decoder, Encoder } from 'cbor-x';
import { randomBytes } from 'node:crypto';
import { EmbeddedBroker } from '../../daemon/demo/embedded-broker.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { createBrokerClient, endClient } from '../../daemon/transport/broker.js';
import { decodeRouted, encode } from '../../daemon/transport/codec.js';
import { RecognitionClient, RecognizerError } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint, type RecognizerEndpointOptions } from '../../daemon/transport/recognizer-endpoint.js';
import { TOPICS, parseRequestTopic, requestTopic, type EnvelopeRouting, type WireMessage } from '../../daemon/transport/messages.js';
import { UserError } from '../../daemon/util/errors.js';
import { GalleryHandler, MODEL, eventually, limits, makeSpots, recordingLogger, vectors } from './fixtures.js';

const spots = makeSpots(30);
const cbor = new Decoder({ mapsAsObjects: true });
const envelopeOf = (payload: Buffer) => cbor.decode(payload) as Record<string, unknown>;
const envelopeKeys = (payload: Buffer) => Object.keys(envelopeOf(payload)).sort();
const rawCbor = new Encoder({ useRecords: false, tagUint8Array: false });
/** A query photo of spot i: its feature plus noise. */
const noisy = (i: number, seed: number) => {
  const noise = vectors(1, seed)[0];
  return spots[i].feature.map((x, j) => x + 0.3 * noise[j]);
};
const query = (i: number, seed: number, topM = 3) => ({ type: 'query' as const, model: MODEL, vector: noisy(i, seed), topM });

async function endpoint(t: Test, url: string, over: Partial<RecognizerEndpointOptions> = {}): Promise<RecognizerEndpoint> {
  const ep = new RecognizerEndpoint({ url, limits, handler: new GalleryHandler(spots), ...over, group: over.group ?? 'recognizers' });
  await ep.start();
  t.teardown(() => ep.stop());
  return ep;
}

async function client(t: Test, url: string, over: Partial<ConstructorParameters<typeof RecognitionClient>[0]> = {}) {
  const c = new RecognitionClient({ url, limits, model: MODEL, requestTimeoutMs: 3000, infoWaitMs: 1000, ...over });
  await c.start();
  t.teardown(() => c.stop());
  return c;
}

/** Everything published on the broker, seen by a client of the given protocol level. */
async function sniffer(t: Test, url: string, protocolVersion: 4 | 5) {
  const s = await mqtt.connectAsync(url, { protocolVersion });
  t.teardown(() => s.endAsync());
  const seen: Array<{ topic: string; payload: Buffer; correlationProperty?: Buffer }> = [];
  s.on('message', (topic, payload, packet) => seen.push({ topic, payload, correlationProperty: packet.properties?.correlationData }));
  await s.subscribeAsync('#');
  return seen;
}

t.test('the shared connect speaks 3.1.1 without a will or a kept session, and refuses other levels', async (t) => {
  for (const protocolVersion of [5, 4] as const) {
    const c = createBrokerClient({ url: 'mqtt://127.0.0.1:1', protocolVersion, reconnectPeriodMs: 60_000 }, 'a'.repeat(22));
    t.match(c.options, { protocolVersion, clean: true, clientId: 'a'.repeat(22) }, `level ${protocolVersion}`);
    t.equal(c.options.will, undefined, 'no will');
    t.equal(c.options.properties?.sessionExpiryInterval, protocolVersion === 5 ? 0 : undefined);
    c.on('error', () => undefined);
    await endClient(c);
  }
  const three = { url: 'mqtt://127.0.0.1:1', limits, model: MODEL, protocolVersion: 3 as unknown as 4, requestTimeoutMs: 5_000, group: 'recognizers' };
  t.throws(() => new RecognitionClient(three), { name: 'UserError', message: /protocol version 3 is not supported: the broker connection's protocolVersion option takes 5/ });
  t.throws(() => new RecognizerEndpoint({ ...three, handler: new GalleryHandler(spots) }), UserError);
});

t.test('through the embedded aedes broker (MQTT 3.1.1 only)', async (t) => {
  const broker = new EmbeddedBroker();
  await broker.start();
  t.teardown(() => broker.stop());

  await t.test('an MQTT v5 client is refused with a sentence that names the fix', async (t) => {
    const c = new RecognitionClient({ requestTimeoutMs: 5_000, url: broker.url, limits, model: MODEL, connectTimeoutMs: 3000 });
    const err = await c.start().catch((e: unknown) => e);
    t.type(err, UserError);
    t.match((err as Error).message, /does not accept MQTT v5: point transport\.url \(edge\) or broker\.url \(recognizer\) at an MQTT v5 broker.*no profile setting turns it on\.$/);
  });

  const rec = recordingLogger();
  const handler = new GalleryHandler(spots, 'aedes');
  const ep = await endpoint(t, broker.url, { protocolVersion: 4, handler, logger: rec.logger });
  const seen = await sniffer(t, broker.url, 4);

  await t.test('queries and region requests are answered and correlated', async (t) => {
    const c = await client(t, broker.url, { protocolVersion: 4 });
    t.match(c.identity(), { clientId: /^[0-9a-f]{22}$/ });
    t.equal(c.identity().replyTopic, `enfpire/v1/reply/${c.identity().clientId}`, 'the reply topic is named after the client id');
    // Answers come back out of order: the later queries are answered first.
    let delay = 100;
    const orig = handler.query.bind(handler);
    handler.query = async (q) => {
      await new Promise((r) => setTimeout(r, Math.max(0, (delay -= 10))));
      return orig(q);
    };
    t.teardown(() => {
      handler.query = orig;
    });
    const wanted = [4, 17, 0, 29, 11, 8, 22, 3];
    const [replies, east] = await Promise.all([
      Promise.all(wanted.map((i, k) => c.query(query(i, 500 + k)))),
      c.fetchRegion('east'),
    ]);
    t.same(replies.map((r) => r.candidates[0].id), wanted.map((i) => `spot-${i}`), 'every reply matches its own query');
    t.equal(east.spots[0].info?.servedBy, 'aedes', 'service information comes with the pack');
    t.equal(east.region, 'east');
    t.equal(east.spots.length, 15);
    t.ok(east.spots.every((s) => Number(s.id.split('-')[1]) % 2 === 1), 'only the east spots');
    await t.rejects(c.fetchRegion('atlantis'), RecognizerError, 'an error answer is correlated too');
    t.match(c.counters(), { state: 'connected', sent: 10, received: 10, dropped: 0, timeouts: 0, pending: 0 });

    // On the wire: the reply address is in the request envelope, the correlation in the answer envelope.
    const { replyTopic, clientId } = c.identity();
    const requests = seen.filter((m) => parseRequestTopic(m.topic)?.clientId === clientId);
    t.equal(requests.length, 10);
    t.ok(requests.every((m) => envelopeKeys(m.payload).includes('rt') && envelopeKeys(m.payload).includes('cd')));
    t.ok(requests.every((m) => decodeRouted(m.payload, limits).routing?.responseTopic === replyTopic), 'our own random reply topic');
    const answers = seen.filter((m) => m.topic === replyTopic);
    t.equal(answers.length, 10);
    t.ok(answers.every((m) => decodeRouted(m.payload, limits).routing?.correlationData.length === 16), 'answers carry the correlation');
    const topics = new Set(seen.map((m) => m.topic));
    t.same([...topics].sort(), [TOPICS.info, requestTopic('query', clientId), requestTopic('region', clientId), replyTopic].sort(), 'nothing else on the broker');
  });

  await t.test('the retained announcement reaches a client started later, and updates', async (t) => {
    const late = await client(t, broker.url, { protocolVersion: 4, infoWaitMs: 3000 });
    t.match(late.info(), { type: 'info', model: MODEL, dimension: limits.dimension, galleryVersion: 'v1', spots: 30 });
    handler.galleryVersion = 'v2';
    await ep.publishInfo();
    t.ok(await eventually(() => late.info()?.galleryVersion === 'v2'), 'the new gallery version is seen');
  });

  await t.test('garbage on the request topics is dropped; the endpoint keeps answering', async (t) => {
    const clientId = randomBytes(11).toString('hex');
    const peer = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId });
    t.teardown(() => peer.endAsync());
    const replyTopic = TOPICS.replyPrefix + clientId;
    const queryTopic = requestTopic('query', clientId);
    const answers: Array<{ msg: WireMessage; routing?: EnvelopeRouting }> = [];
    peer.on('message', (_topic, payload) => answers.push(decodeRouted(payload, limits)));
    await peer.subscribeAsync(replyTopic);
    const routing = () => ({ responseTopic: replyTopic, correlationData: randomBytes(16) });
    const send = (topic: string, payload: Buffer) => peer.publishAsync(topic, payload, { qos: 1 });

    const before = ep.counters();
    await send(queryTopic, randomBytes(3000)); // oversize noise, no reply address
    await send(queryTopic, Buffer.from('garbage'));
    await send(queryTopic, encode(query(1, 600))); // a v5-form query: its address was in properties 3.1.1 lacks
    await send(queryTopic, encode(query(1, 601), routing()).subarray(0, 60)); // truncated
    await send(queryTopic, rawCbor.encode({ ...envelopeOf(encode(query(1, 602), routing())), rt: 'enfpire/v1/query' }));
    const wrongDimension = routing();
    await send(queryTopic, encode({ ...query(1, 603), vector: vectors(1, 603, 32)[0] }, wrongDimension));
    await send(requestTopic('region', clientId), encode(query(1, 604), routing())); // a query on the region topic
    t.ok(await eventually(() => ep.counters().dropped - before.dropped === 7), `dropped ${ep.counters().dropped - before.dropped} of 7`);
    t.ok(await eventually(() => answers.length === 2), 'the two requests with a valid reply address are told why');
    t.ok(answers.every((a) => a.msg.type === 'error' && a.msg.code === 'bad-request'));
    t.ok(answers.some((a) => a.routing && Buffer.compare(a.routing.correlationData, wrongDimension.correlationData) === 0), 'correlated');
    const drops = rec.lines().filter((l) => l.msg.startsWith('dropped '));
    t.ok(drops.length >= 7 && drops.every((l) => !l.msg.includes('\n')), 'one single-line log per drop');

    const c = await client(t, broker.url, { protocolVersion: 4 });
    t.equal((await c.query(query(5, 605))).candidates[0].id, 'spot-5', 'the next valid query is answered');
    t.equal(ep.counters().state, 'connected');
  });
});

t.test('a v5 recognizer on Mosquitto serves 3.1.1 and v5 devices side by side', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const handler = new GalleryHandler(spots, 'v5');
  const ep = await endpoint(t, broker.url, { handler, group: 'mixed' });
  const seen = await sniffer(t, broker.url, 5);
  const old = await client(t, broker.url, { protocolVersion: 4 });
  const modern = await client(t, broker.url);
  t.equal(old.info()?.model, MODEL, 'the retained announcement reaches the 3.1.1 device');

  const [a, b, region] = await Promise.all([old.query(query(7, 700)), modern.query(query(9, 701)), old.fetchRegion('west')]);
  t.equal(a.candidates[0].id, 'spot-7');
  t.equal(b.candidates[0].id, 'spot-9');
  t.equal(region.spots.length, 15);
  t.equal(handler.served, 2);
  t.match(ep.counters(), { queries: 2, regions: 1, replies: 3, errors: 0, dropped: 0 });

  // Each device is answered the way it asked: envelope for 3.1.1, properties for v5 (whose wire stays as documented).
  await eventually(() => seen.filter((m) => m.topic.startsWith(TOPICS.replyPrefix)).length === 3);
  const fromOld = seen.filter((m) => m.topic === old.identity().replyTopic);
  const fromModern = seen.filter((m) => m.topic === modern.identity().replyTopic);
  t.equal(fromOld.length, 2);
  t.ok(fromOld.every((m) => envelopeKeys(m.payload).includes('cd') && m.correlationProperty === undefined));
  t.equal(fromModern.length, 1);
  t.notOk(envelopeKeys(fromModern[0].payload).includes('cd'));
  t.equal(fromModern[0].correlationProperty?.length, 16);
  const modernQuery = seen.find((m) => parseRequestTopic(m.topic)?.kind === 'query' && !envelopeKeys(m.payload).includes('rt'));
  t.same(modernQuery && envelopeKeys(modernQuery.payload), ['f', 'k', 'm', 't', 'v'], 'a v5 query carries no envelope routing');

  await t.test('MQTT v5 properties win over the envelope when a request has both', async (t) => {
    const peer = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'by-property' });
    t.teardown(() => peer.endAsync());
    const propertyTopic = TOPICS.replyPrefix + 'by-property';
    const envelopeTopic = TOPICS.replyPrefix + 'by-envelope';
    const got: Array<{ topic: string; corr?: Buffer }> = [];
    peer.on('message', (topic, _payload, packet) => got.push({ topic, corr: packet.properties?.correlationData }));
    await peer.subscribeAsync([propertyTopic, envelopeTopic]);
    const corr = randomBytes(8);
    await peer.publishAsync(requestTopic('query', 'by-property'), encode(query(2, 702), { responseTopic: envelopeTopic, correlationData: randomBytes(8) }), {
      qos: 1,
      properties: { responseTopic: propertyTopic, correlationData: corr },
    });
    t.ok(await eventually(() => got.length === 1));
    await new Promise((r) => setTimeout(r, 100));
    t.same(got.map((g) => [g.topic, g.corr?.toString('hex')]), [[propertyTopic, corr.toString('hex')]]);
  });

  await t.test('a 3.1.1 recognizer can not see a v5 device\'s reply address: dropped, not crashed', async (t) => {
    const rec = recordingLogger();
    const legacy = await endpoint(t, broker.url, { protocolVersion: 4, logger: rec.logger });
    const before = ep.counters().queries;
    // With the v5 recognizer on $share and the 3.1.1 one on the plain topic, both receive the query.
    await modern.query(query(3, 703));
    t.ok(await eventually(() => legacy.counters().dropped === 1));
    t.ok(rec.lines().some((l) => /^dropped query without a valid response topic/.test(l.msg)));
    t.equal(ep.counters().queries, before + 1, 'the v5 recognizer answered it');
  });
});
