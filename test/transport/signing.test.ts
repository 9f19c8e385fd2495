/**
 * Operator signatures (issue #10, point 1): the recognizer signs every answer and its announcement, a device that
 * pins the key refuses anything else — tried as an attacker would, through a real Mosquitto: a broker-side client that
 * sees the request races the recognizer with forged answers, and a poisoning responder serves its own region pack.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RecognitionClient } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint } from '../../daemon/transport/recognizer-endpoint.js';
import { encode } from '../../daemon/transport/codec.js';
import { TOPICS, requestFilter, type RegionPackMessage } from '../../daemon/transport/messages.js';
import { PayloadSigner, SignatureError, TrustedKeys, generateSigningKeys } from '../../daemon/transport/signing.js';
import { boundRegionPack } from '../../daemon/edge/region-pack-bounds.js';
import { GalleryHandler, MODEL, eventually, limits, makeSpots, recordingLogger } from './fixtures.js';

const operator = generateSigningKeys();
const signer = new PayloadSigner(operator.privatePem);
const pinned = TrustedKeys.fromPem(operator.publicPem);
const message = encode({ type: 'error', code: 'busy', message: 'try later' });
const cd = randomBytes(16);

t.test('a signed payload opens only with the pinned key, for the same correlation data, unchanged', async (t) => {
  const signed = signer.wrap(message, cd);
  t.same(Buffer.from(pinned.open(signed, cd, limits.maxBytes)), message, 'round trip');
  t.equal(pinned.ids()[0], operator.keyId, 'the key id keygen prints is the one pinned');

  t.throws(() => pinned.open(message, cd, limits.maxBytes), SignatureError, 'unsigned is refused');
  t.throws(() => pinned.open(signed, randomBytes(16), limits.maxBytes), /does not verify/, 'replayed to answer another request');
  t.throws(() => pinned.open(signed, undefined, limits.maxBytes), /does not verify/, 'replayed without its correlation data');
  const stranger = new PayloadSigner(generateSigningKeys().privatePem);
  t.throws(() => pinned.open(stranger.wrap(message, cd), cd, limits.maxBytes), /which this device does not trust/, 'another key');
  // Flip each byte of the signed message in turn: nothing but the original verifies.
  const inner = signed.indexOf(message);
  let accepted = 0;
  for (let i = 0; i < message.length; i++) {
    const tampered = Buffer.from(signed);
    tampered[inner + i] ^= 0x01;
    try {
      pinned.open(tampered, cd, limits.maxBytes);
      accepted++;
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
    }
  }
  t.equal(accepted, 0, `no tampered copy of ${message.length} bytes verifies`);

  const unpinned = new TrustedKeys();
  t.same(Buffer.from(unpinned.open(signed, cd, limits.maxBytes)), message, 'a device without a pinned key unwraps signed answers');
  t.same(Buffer.from(unpinned.open(message, cd, limits.maxBytes)), message, 'and takes unsigned ones');
});

t.test('keys that are not Ed25519, or not keys, are refused with one sentence', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  t.throws(() => new PayloadSigner(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })), /holds a rsa key, expected an Ed25519 private key/);
  t.throws(() => TrustedKeys.fromPem(rsa.publicKey.export({ type: 'spki', format: 'pem' })), /expected an Ed25519 public key/);
  t.throws(() => TrustedKeys.fromPem('hello'), /holds no PEM public key/);
  t.throws(() => new PayloadSigner('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), /is not a PEM private key/);
  const rollover = TrustedKeys.fromPem(operator.publicPem + generateSigningKeys().publicPem);
  t.equal(rollover.ids().length, 2, 'one file may hold the old and the new key during a rollover');
});

t.test('through Mosquitto: forged answers that arrive first are refused, the signed one is taken', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const handler = new GalleryHandler(makeSpots(20));
  handler.delayMs = 300; // the forger answers first
  const endpoint = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler, signer });
  await endpoint.start();
  t.teardown(() => endpoint.stop());

  // The attacker: anyone who reads the request topics (the broker's operator, a compromised recognizer without the
  // key) sees each request's reply topic and correlation data, and answers first.
  const forger = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => forger.endAsync());
  const wrongKey = new PayloadSigner(generateSigningKeys().privatePem);
  const forged = encode({ type: 'reply', model: MODEL, galleryVersion: 'v1', candidates: [{ id: 'evil' }] });
  forger.on('message', (_topic, _payload, packet) => {
    const { responseTopic, correlationData } = packet.properties ?? {};
    if (!responseTopic || !correlationData) return;
    for (const payload of [forged, wrongKey.wrap(forged, correlationData), signer.wrap(forged, randomBytes(16))]) {
      void forger.publishAsync(responseTopic, payload, { qos: 1, properties: { correlationData } });
    }
  });
  await forger.subscribeAsync(requestFilter('query'), { qos: 1 });

  const rec = recordingLogger();
  const device = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 3000, trustedKeys: pinned, logger: rec.logger });
  await device.start();
  t.teardown(() => device.stop());
  t.equal(device.info()?.galleryVersion, 'v1', 'the signed announcement was taken');

  const reply = await device.query({ type: 'query', model: MODEL, vector: handler.spots[4].feature, topM: 3 });
  t.equal(reply.candidates[0].id, 'spot-4', "the recognizer's answer, not the forger's");
  t.notOk(reply.candidates.some((c) => c.id === 'evil'));
  t.match(device.counters(), { unauthenticated: 3, received: 1, timeouts: 0 }, 'unsigned, wrong key and replayed: all three refused');
  t.equal(rec.lines().filter((l) => l.msg.startsWith('dropped unauthenticated reply')).length, 3, 'one log line each');

  // A forged retained announcement (a device cannot publish one under the shipped ACL; the broker's operator can).
  const before = device.counters().unauthenticated;
  await forger.publishAsync(TOPICS.info, encode({ ...handler.info(), galleryVersion: 'forged' }), { qos: 1, retain: true });
  t.ok(await eventually(() => device.counters().unauthenticated === before + 1), 'the unsigned announcement is refused');
  t.equal(device.info()?.galleryVersion, 'v1', 'and changes nothing');
  await forger.publishAsync(TOPICS.info, '', { qos: 1, retain: true });
  t.ok(await eventually(() => device.counters().unauthenticated === before + 2), 'so is an unsigned withdrawal');
  t.equal(device.info()?.galleryVersion, 'v1');
});

t.test('through Mosquitto: a poisoning responder is refused by a pinned device and taken by one without a key', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const handler = new GalleryHandler(makeSpots(10));
  // An honest recognizer's announcement, signed, so the devices know the gallery version.
  const endpoint = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler: { ...handler, info: () => handler.info(), query: () => new Promise(() => {}), region: () => new Promise(() => {}) }, signer });
  await endpoint.start();
  t.teardown(() => endpoint.stop());

  // The poisoner answers region requests with view models that would mark every decoy.
  const poison: RegionPackMessage = {
    ...(handler.region({ type: 'region-request', model: MODEL, region: '*' }) as RegionPackMessage),
  };
  poison.spots = poison.spots.map((s) => ({ ...s, view: { mean: Float32Array.from(s.feature, (v) => 3 * v), directions: [], scales: [], residual: 0 } }));
  const poisoner = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => poisoner.endAsync());
  poisoner.on('message', (_topic, _payload, packet) => {
    const { responseTopic, correlationData } = packet.properties ?? {};
    if (responseTopic && correlationData) void poisoner.publishAsync(responseTopic, encode(poison), { qos: 1, properties: { correlationData } });
  });
  await poisoner.subscribeAsync(requestFilter('region'), { qos: 1 });

  const careless = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 1500 });
  await careless.start();
  t.teardown(() => careless.stop());
  const taken = await careless.fetchRegion('*');
  t.ok(taken.spots.every((s) => s.view), 'without a pinned key the poisoned pack is accepted: why the key is required off this host');

  const careful = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 1500, trustedKeys: pinned });
  await careful.start();
  t.teardown(() => careful.stop());
  await t.rejects(careful.fetchRegion('*'), /no reply from a recognizer/, 'the pinned device waits for a signed pack and gives up');
  // A page not answered in time is asked for three times (decision 68, "Later"): each request drew a poisoned answer, each refused.
  t.equal(careful.counters().unauthenticated, 3, 'one refused answer per request for the page');

  // Defence in depth against a signer that is itself compromised: view models beyond the manifest bounds are dropped.
  const bounds = { meanNorm: 0.87, scale: 0.66, residual: 0.66 };
  const bounded = boundRegionPack(taken, bounds);
  t.equal(bounded.dropped.length, taken.spots.length, 'every stretched view model is dropped');
  t.ok(bounded.pack.spots.every((s) => s.view === undefined), 'those spots fall back to the isotropic spread');
  t.match(bounded.dropped[0].reason, /mean deviation 3\.00\d > 0\.87/);
  const honest = { mean: new Float32Array(limits.dimension).fill(0.05), directions: [], scales: [], residual: 0.1 };
  t.same(boundRegionPack({ ...taken, spots: taken.spots.map((s) => ({ ...s, view: honest })) }, bounds).dropped, [], 'honest view models stay');
});

t.test('a region pack from another gallery version than the announcement is refused', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const handler = new GalleryHandler(makeSpots(10));
  const endpoint = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler, signer });
  await endpoint.start();
  t.teardown(() => endpoint.stop());
  const device = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 1500, trustedKeys: pinned });
  await device.start();
  t.teardown(() => device.stop());
  t.equal((await device.fetchRegion('*')).galleryVersion, 'v1');
  // The handler moves on but the announcement is not re-published: a pack that disagrees with it is not taken.
  handler.galleryVersion = 'v2';
  await t.rejects(device.fetchRegion('*'), /region pack is from gallery v2, the recognizer announces gallery v1/);
  await endpoint.publishInfo();
  t.ok(await eventually(() => device.info()?.galleryVersion === 'v2'));
  t.equal((await device.fetchRegion('*')).galleryVersion, 'v2', 'once announced, the new version is taken');
});
