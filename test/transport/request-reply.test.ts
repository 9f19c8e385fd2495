/** The device client and the recognizer endpoint through a real Mosquitto. */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { Decoder } from 'cbor-x';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RecognitionClient } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint } from '../../daemon/transport/recognizer-endpoint.js';
import { TOPICS, parseRequestTopic, type RecognizerInfoMessage } from '../../daemon/transport/messages.js';
import { GalleryHandler, MODEL, eventually, limits, makeSpots, vectors } from './fixtures.js';

const broker = await startMosquitto();
t.teardown(() => broker.stop());

const spots = makeSpots(40);

async function endpoint(t: Test, handler: GalleryHandler, group?: string): Promise<RecognizerEndpoint> {
  const ep = new RecognizerEndpoint({ url: broker.url, limits, handler, group: group ?? 'recognizers' });
  await ep.start();
  t.teardown(() => ep.stop());
  return ep;
}

async function client(t: Test, over: Partial<ConstructorParameters<typeof RecognitionClient>[0]> = {}): Promise<RecognitionClient> {
  const c = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 3000, infoWaitMs: 500, ...over });
  await c.start();
  t.teardown(() => c.stop());
  return c;
}

/** A query photo of spot i: its feature plus noise. */
function noisy(i: number, seed: number): Float32Array {
  const noise = vectors(1, seed)[0];
  return spots[i].feature.map((x, j) => x + 0.3 * noise[j]);
}

t.test('a query is answered with candidates, counted on both sides', async (t) => {
  const handler = new GalleryHandler(spots, 'A', MODEL);
  const ep = await endpoint(t, handler, 'rr-basic');
  const c = await client(t);
  const reply = await c.query({ type: 'query', model: MODEL, vector: noisy(3, 100), topM: 5 });
  t.equal(reply.type, 'reply');
  t.equal(reply.candidates.length, 5);
  t.equal(reply.candidates[0].id, 'spot-3', 'the nearest spot comes first');
  t.equal(reply.galleryVersion, 'v1', 'the reply names the gallery version its candidates come from');
  t.same(Object.keys(reply.candidates[0]), ['id'], 'ids only: the device has the rest in its region pack');
  const cc = c.counters();
  t.match(cc, { state: 'connected', sent: 1, received: 1, dropped: 0, timeouts: 0, pending: 0 });
  // In: the retained announcement and the reply, whose five candidates cost about 13 bytes each here.
  t.ok(cc.bytesOut > limits.dimension && cc.bytesIn < 200, `bytes out ${cc.bytesOut}, in ${cc.bytesIn}`);
  t.match(ep.counters(), { state: 'connected', queries: 1, replies: 1, errors: 0, dropped: 0, inFlight: 0 });
});

t.test('concurrent requests each get their own reply (correlation data)', async (t) => {
  const handler = new GalleryHandler(spots, 'A');
  await endpoint(t, handler, 'rr-concurrent');
  const c = await client(t);
  const wanted = [5, 11, 0, 39, 17, 23, 8, 30, 2, 14, 27, 33];
  // Replies come back out of order: later queries are answered first.
  let delay = 120;
  const orig = handler.query.bind(handler);
  handler.query = async (q) => {
    const d = (delay -= 10);
    await new Promise((r) => setTimeout(r, Math.max(0, d)));
    return orig(q);
  };
  const [replies, region] = await Promise.all([
    Promise.all(wanted.map((i, k) => c.query({ type: 'query', model: MODEL, vector: noisy(i, 200 + k), topM: 3 }))),
    c.fetchRegion('east'),
  ]);
  t.same(replies.map((r) => r.candidates[0].id), wanted.map((i) => `spot-${i}`), 'every reply matches its own query');
  t.equal(region.type, 'region-pack');
  t.equal(region.region, 'east');
  t.equal(region.spots.length, 20);
  t.ok(region.spots.every((s) => Number(s.id.split('-')[1]) % 2 === 1), 'only the east spots');
  t.match(c.counters(), { sent: 13, received: 13, dropped: 0, pending: 0 });
});

t.test('an error reply rejects the request with its message', async (t) => {
  await endpoint(t, new GalleryHandler(spots), 'rr-error');
  const c = await client(t);
  await t.rejects(c.fetchRegion('atlantis'), { name: 'RecognizerError', code: 'unknown-region', message: /no region atlantis/ });
  const all = await c.fetchRegion('*');
  t.equal(all.spots.length, 40);
});

t.test('two endpoints on the shared subscription split 20 queries, each answered once', async (t) => {
  const a = new GalleryHandler(spots, 'A');
  const b = new GalleryHandler(spots, 'B');
  // Told apart by the gallery version each reply names.
  a.galleryVersion = 'A';
  b.galleryVersion = 'B';
  await endpoint(t, a, 'rr-shared');
  await endpoint(t, b, 'rr-shared');
  const c = await client(t);
  const replies = await Promise.all(
    Array.from({ length: 20 }, (_, k) => c.query({ type: 'query', model: MODEL, vector: noisy(k, 300 + k), topM: 2 })),
  );
  t.equal(replies.length, 20);
  t.same(replies.map((r) => r.candidates[0].id), Array.from({ length: 20 }, (_, k) => `spot-${k}`));
  const servedBy = replies.map((r) => r.galleryVersion);
  t.ok(a.served > 0 && b.served > 0, `both took a share: A ${a.served}, B ${b.served}`);
  t.equal(a.served + b.served, 20, 'no query was processed twice');
  t.equal(servedBy.filter((s) => s === 'A').length, a.served);
  // A duplicate reply would arrive with a used correlation and be dropped.
  await new Promise((r) => setTimeout(r, 200));
  t.equal(c.counters().dropped, 0, 'no extra replies arrived');
});

t.test('the retained announcement reaches a client started later, and updates', async (t) => {
  const handler = new GalleryHandler(spots);
  const ep = await endpoint(t, handler, 'rr-info');
  const c = await client(t, { infoWaitMs: 3000 });
  t.match(c.info(), { type: 'info', model: MODEL, dimension: limits.dimension, galleryVersion: 'v1', spots: 40, regions: ['west', 'east'] });

  const seen: Array<RecognizerInfoMessage | undefined> = [];
  c.on('info', (i) => seen.push(i));
  handler.galleryVersion = 'v2';
  await ep.publishInfo();
  t.ok(await eventually(() => c.info()?.galleryVersion === 'v2'), 'the new gallery version is seen');
  t.equal(seen.at(-1)?.galleryVersion, 'v2', "an 'info' event fired");
});

t.test('nothing on the broker but requests, replies and the announcement; the query is only its fields', async (t) => {
  await endpoint(t, new GalleryHandler(spots), 'rr-sniff');
  const sniffer = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => sniffer.endAsync());
  const seen: Array<{ topic: string; payload: Buffer }> = [];
  sniffer.on('message', (topic, payload) => seen.push({ topic, payload }));
  await sniffer.subscribeAsync('#');

  const c = await client(t);
  await c.query({ type: 'query', model: MODEL, vector: noisy(1, 400), topM: 4 });
  await c.rotateIdentity();
  await c.query({ type: 'query', model: MODEL, vector: noisy(2, 401), topM: 4 });
  await c.stop();
  await new Promise((r) => setTimeout(r, 200));

  const topics = new Set(seen.map((m) => m.topic.replace(/^(enfpire\/v1\/(?:reply|query))\/[0-9a-f]{22}$/, '$1/<random>')));
  t.same([...topics].sort(), ['enfpire/v1/query/<random>', 'enfpire/v1/reply/<random>', TOPICS.info].sort(), 'no status, will or health topic');
  const queries = seen.filter((m) => parseRequestTopic(m.topic)?.kind === 'query');
  t.equal(queries.length, 2);
  const envelope = new Decoder({ mapsAsObjects: true }).decode(queries[0].payload) as Record<string, unknown>;
  t.same(Object.keys(envelope).sort(), ['f', 'k', 'm', 't', 'v'], 'a query carries version, type, model, topM and vector only');
});
