/**
 * Fuzzing both endpoints through a real Mosquitto (issue #10, point 4): the recognizer endpoint gets FUZZ_MESSAGES
 * generated and mutated requests on its request topics, with good, missing and foreign reply addresses; the device's
 * recognition client gets as many on its reply topic (unsolicited, and as answers to its own requests) and on the
 * announcement topic. Every message's fate is predicted with decodeRouted and the endpoint's documented rules, and the
 * counters must match exactly: each bad message counted and dropped, nothing else. Afterwards both still work, and
 * the heap has not grown.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RecognizerEndpoint } from '../../daemon/transport/recognizer-endpoint.js';
import { RecognitionClient } from '../../daemon/transport/recognition-client.js';
import { decodeRouted, encode, isCorrelationData, isReplyTopic, WireError } from '../../daemon/transport/codec.js';
import { TOPICS, requestFilter, requestTopic, type QueryMessage, type RecognizerInfoMessage, type ReplyMessage, type WireMessage } from '../../daemon/transport/messages.js';
import { GalleryHandler, MODEL, eventually, limits, makeSpots } from '../transport/fixtures.js';
import { sampleStream } from './messages.js';
import { FUZZ_MESSAGES, FUZZ_SEED, heapMiB, Tally } from './measure.js';

const broker = await startMosquitto();
t.teardown(() => broker.stop());
const spots = makeSpots(20);

t.comment(`FUZZ_MESSAGES=${FUZZ_MESSAGES} FUZZ_SEED=${FUZZ_SEED}`);
const generated = performance.now();
const samples = sampleStream(limits, FUZZ_MESSAGES, FUZZ_SEED, { model: MODEL });
t.comment(`${samples.length} samples generated in ${((performance.now() - generated) / 1000).toFixed(1)} s`);

function decoded(bytes: Buffer): { msg?: WireMessage; routing?: { responseTopic?: string; correlationData: Uint8Array }; error?: WireError } {
  try {
    return decodeRouted(bytes, limits);
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { error: err, routing: err.routing };
  }
}

/** Publishes every payload with QoS 1, `window` at a time; returns the wall time in seconds. */
async function publishAll<T>(items: T[], window: number, publish: (item: T, i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < items.length; i += window) {
    await Promise.all(items.slice(i, i + window).map((item, j) => publish(item, i + j)));
  }
  return (performance.now() - t0) / 1000;
}

/** The fixtures' handler, its replies also naming the gallery version (so they are valid in both reply schemas). */
class VersionedGalleryHandler extends GalleryHandler {
  override async query(q: QueryMessage): Promise<ReplyMessage> {
    return { ...(await super.query(q)), galleryVersion: this.galleryVersion };
  }
}

t.test(`the recognizer endpoint: ${FUZZ_MESSAGES} requests; every bad one counted and dropped, then a correct answer`, async (t) => {
  const handler = new VersionedGalleryHandler(spots);
  // No 'busy' answers here (they are tested elsewhere): every valid request is taken.
  const ep = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler, maxInFlight: 1_000_000 });
  await ep.start();
  t.teardown(() => ep.stop());
  const clientId = randomBytes(16).toString('hex');
  const own = TOPICS.replyPrefix + clientId;
  const peer = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId });
  t.teardown(() => peer.endAsync());

  // Reply addresses: our own (answerable), none (the envelope's, if any), another client's, malformed.
  type Props = { responseTopic?: string; correlationData?: Buffer } | undefined;
  const addresses: Array<[string, () => Props]> = [
    ['own', () => ({ responseTopic: own, correlationData: randomBytes(16) })],
    ['own', () => ({ responseTopic: own, correlationData: randomBytes(16) })],
    ['envelope', () => undefined],
    ['foreign', () => ({ responseTopic: `${TOPICS.replyPrefix}victim`, correlationData: randomBytes(16) })],
    ['bad', () => ({ responseTopic: `${own}/deeper`, correlationData: randomBytes(65) })],
  ];
  const expected = { dropped: 0, queries: 0, regions: 0, replies: 0 };
  const fates = new Tally();
  const plan = samples.map((sample, i) => {
    const kind = i % 3 === 2 ? ('region' as const) : ('query' as const);
    const [address, props] = addresses[i % addresses.length];
    const p = props();
    // The endpoint's rules (recognizer-endpoint.ts onMessage), applied to what decodeRouted says.
    const { msg, routing } = decoded(sample.bytes);
    const rt = p ? p.responseTopic : routing?.responseTopic;
    const cd = p ? p.correlationData : routing?.correlationData;
    const wanted = kind === 'query' ? 'query' : 'region-request';
    let fate: string;
    if (!isReplyTopic(rt) || !isCorrelationData(cd) || rt !== own) fate = 'dropped, no answer';
    else if (!msg || msg.type !== wanted) fate = 'dropped, error answer';
    else if (msg.model !== MODEL) fate = 'wrong-model answer';
    else fate = 'taken';
    fates.add(`${fate}${address === 'own' ? '' : ` (${address})`}`);
    if (fate.startsWith('dropped')) expected.dropped++;
    if (fate !== 'dropped, no answer') expected.replies++;
    if (fate === 'taken') expected[kind === 'query' ? 'queries' : 'regions']++;
    return { sample, topic: requestTopic(kind, clientId), props: p };
  });

  const heap0 = heapMiB();
  // Waits below are generous: on a loaded 2-core machine the broker and endpoint drain 100,000 messages slowly.
  const seconds = await publishAll(plan, 500, ({ topic, sample, props }) => peer.publishAsync(topic, sample.bytes, { qos: 1, ...(props ? { properties: props } : {}) }));
  t.ok(await eventually(() => ep.counters().replies >= expected.replies && ep.counters().inFlight === 0, 300_000), 'every answerable request was answered');
  const heap1 = heapMiB();
  const c = ep.counters();
  t.comment(`recognizer endpoint: ${plan.length} requests published in ${seconds.toFixed(1)} s (QoS 1, 500 in flight); ${fates.toString()}`);
  t.comment(`counters: ${JSON.stringify(c)}; heap ${heap0.toFixed(1)} → ${heap1.toFixed(1)} MiB`);
  t.equal(c.dropped, expected.dropped, `${expected.dropped} bad requests counted as dropped`);
  t.equal(c.queries, expected.queries, `${expected.queries} valid queries taken`);
  t.equal(c.regions, expected.regions, `${expected.regions} valid region requests taken`);
  t.equal(c.replies, expected.replies, `${expected.replies} answers (results or error replies)`);
  t.equal(c.state, 'connected', 'the endpoint is alive and connected');
  t.ok(heap1 - heap0 < 32, `heap grew ${(heap1 - heap0).toFixed(1)} MiB (< 32)`);

  // A real device still gets a correct answer.
  const device = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 10_000, infoWaitMs: 2_000 });
  await device.start();
  t.teardown(() => device.stop());
  const reply = await device.query({ type: 'query', model: MODEL, vector: spots[7].feature, topM: 3 });
  t.equal(reply.candidates[0].id, spots[7].id, 'the nearest spot comes first');
  t.equal(ep.counters().queries, expected.queries + 1);
});

t.test(`the recognition client: ${FUZZ_MESSAGES} replies and announcements; every bad one counted and dropped`, async (t) => {
  const info: RecognizerInfoMessage = { type: 'info', model: MODEL, dimension: limits.dimension, galleryVersion: 'v1', spots: spots.length, regions: ['east', 'west'] };
  const recognizer = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => recognizer.endAsync());
  await recognizer.publishAsync(TOPICS.info, encode(info), { qos: 1, retain: true });
  t.teardown(() => recognizer.publishAsync(TOPICS.info, Buffer.alloc(0), { qos: 1, retain: true }));
  const client = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 30_000, infoWaitMs: 2_000 });
  await client.start();
  t.teardown(() => client.stop());
  t.same(client.info(), info);

  // A third of the samples unsolicited on the reply topic, a sixth as announcements, the rest as answers to requests.
  const unsolicited = samples.slice(0, Math.floor(samples.length / 3));
  const announcements = samples.slice(unsolicited.length, unsolicited.length + Math.floor(samples.length / 6));
  const answers = samples.slice(unsolicited.length + announcements.length);
  const expected = { dropped: 0, received: 0 };
  const fates = new Tally();
  const heap0 = heapMiB();

  // 1. Unsolicited replies, with random correlation data or none: all dropped.
  const replyTopic = client.identity().replyTopic;
  const s1 = await publishAll(unsolicited, 500, (sample, i) =>
    recognizer.publishAsync(replyTopic, sample.bytes, { qos: 1, ...(i % 2 ? { properties: { correlationData: randomBytes(16) } } : {}) }),
  );
  expected.dropped += unsolicited.length;
  fates.add('unsolicited, dropped', unsolicited.length);
  t.ok(await eventually(() => client.counters().dropped >= expected.dropped, 300_000), 'unsolicited replies dropped');

  // 2. Announcements (not retained): an empty one withdraws, a valid info is taken, anything else is dropped.
  for (const sample of announcements) {
    const { msg } = decoded(sample.bytes);
    const fate = sample.bytes.length === 0 ? 'withdrawal' : msg?.type === 'info' ? 'announcement taken' : 'announcement dropped';
    fates.add(fate);
    if (fate === 'announcement dropped') expected.dropped++;
  }
  const s2 = await publishAll(announcements, 500, (sample) => recognizer.publishAsync(TOPICS.info, sample.bytes, { qos: 1 }));
  await recognizer.publishAsync(TOPICS.info, encode(info), { qos: 1, retain: true });
  t.ok(await eventually(() => client.counters().dropped >= expected.dropped && client.info()?.galleryVersion === 'v1', 300_000), 'bad announcements dropped');

  // 3. Answers: each request the client makes is answered with the next sample of its kind, under its correlation data.
  const plan = answers.map((sample, i) => {
    const region = i % 4 === 3 ? 'east' : undefined;
    const { msg } = decoded(sample.bytes);
    // The client's rules (recognition-client.ts onReply) for an answer under the right correlation data.
    let fate: string;
    if (!msg) fate = 'invalid answer, dropped';
    else if (msg.type === 'error') fate = 'error answer';
    else if (msg.type !== (region ? 'region-pack' : 'reply') || msg.model !== MODEL) fate = 'wrong answer, dropped';
    else if (msg.type === 'region-pack' && (msg.region !== region || msg.galleryVersion !== info.galleryVersion)) fate = 'wrong answer, dropped';
    else fate = 'answer taken';
    fates.add(fate);
    if (fate.endsWith('dropped')) expected.dropped++;
    else expected.received++;
    return { region, sample };
  });
  // Requests of one kind may overtake those of the other on the broker, so each kind has its own queue of answers.
  const queues = { query: plan.filter((p) => !p.region).map((p) => p.sample), region: plan.filter((p) => p.region).map((p) => p.sample) };
  recognizer.on('message', (topic, _payload, packet) => {
    const sample = (topic.startsWith(`${TOPICS.region}/`) ? queues.region : queues.query).shift();
    const correlationData = packet.properties?.correlationData;
    const responseTopic = packet.properties?.responseTopic;
    if (!sample || !correlationData || !responseTopic) return;
    recognizer.publish(responseTopic, sample.bytes, { qos: 1, properties: { correlationData } });
  });
  await recognizer.subscribeAsync([requestFilter('query'), requestFilter('region')], { qos: 1 });
  const outcomes = new Tally();
  const s3 = await publishAll(plan, 200, async ({ region }) => {
    try {
      await (region ? client.fetchRegion(region) : client.query({ type: 'query', model: MODEL, vector: spots[1].feature, topM: 3 }));
      outcomes.add('resolved');
    } catch (err) {
      outcomes.add((err as Error).name);
    }
  });
  const heap1 = heapMiB();
  const c = client.counters();
  t.comment(`recognition client: ${unsolicited.length} unsolicited in ${s1.toFixed(1)} s, ${announcements.length} announcements in ${s2.toFixed(1)} s, ${answers.length} answered requests in ${s3.toFixed(1)} s`);
  t.comment(`fates: ${fates.toString()}; request outcomes: ${outcomes.toString()}; counters: ${JSON.stringify(c)}; heap ${heap0.toFixed(1)} → ${heap1.toFixed(1)} MiB`);
  t.equal(c.dropped, expected.dropped, `${expected.dropped} bad messages counted as dropped`);
  t.equal(c.received, expected.received, `${expected.received} answers taken (results and recognizer errors)`);
  t.equal(c.timeouts, 0, 'no request timed out: every answer was matched or refused at once');
  t.equal(outcomes.get('resolved') + outcomes.get('RecognizerError') + outcomes.get('WireError'), answers.length, 'every request settled as a result, a recognizer error or an invalid reply');
  t.ok(heap1 - heap0 < 32, `heap grew ${(heap1 - heap0).toFixed(1)} MiB (< 32)`);

  // Still a working device: a valid answer resolves.
  recognizer.removeAllListeners('message');
  recognizer.on('message', (_topic, _payload, packet) => {
    // Valid in both reply schemas (full candidates, or ids and scores with the gallery version).
    const reply = { type: 'reply', model: MODEL, galleryVersion: 'v1', candidates: [{ id: spots[2].id, score: 0.9, feature: spots[2].feature, info: { name: 'Spot 2' } }] } as unknown as WireMessage;
    recognizer.publish(packet.properties!.responseTopic!, encode(reply), { qos: 1, properties: { correlationData: packet.properties!.correlationData! } });
  });
  const reply = await client.query({ type: 'query', model: MODEL, vector: spots[2].feature, topM: 1 });
  t.equal(reply.candidates[0].id, spots[2].id, 'a valid reply after the barrage resolves');
  t.equal(client.counters().state, 'connected');
});

