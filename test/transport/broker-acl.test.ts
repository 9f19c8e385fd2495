/**
 * The shipped Mosquitto configuration (deploy/mosquitto/) on a real Mosquitto: a device reads only its own replies,
 * publishes requests only under its own client id, cannot publish replies or recognizer announcements, and reaches
 * the broker only over TLS with the certificate verified (issue #10, points 2 and 3).
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RecognitionClient } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint } from '../../daemon/transport/recognizer-endpoint.js';
import { TOPICS, requestFilter, requestTopic } from '../../daemon/transport/messages.js';
import { GalleryHandler, MODEL, limits, makeSpots } from './fixtures.js';

const acl = fileURLToPath(new URL('../../deploy/mosquitto/acl', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Mosquitto with the shipped ACL, a fleet and a recognizer user, and no anonymous access. */
async function aclBroker(t: Test) {
  const passwords = join(t.testdir(), 'passwd');
  execFileSync('mosquitto_passwd', ['-b', '-c', passwords, 'fleet', 'fleet-secret']);
  execFileSync('mosquitto_passwd', ['-b', passwords, 'recognizer', 'recognizer-secret']);
  const broker = await startMosquitto({ extraConfig: ['allow_anonymous false', `password_file ${passwords}`, `acl_file ${acl}`] });
  t.teardown(() => broker.stop());
  return broker;
}

t.test('a device reads only its own replies and publishes only requests', async (t) => {
  const broker = await aclBroker(t);
  const connect = async (clientId: string, username: string, password: string): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId, username, password, reconnectPeriod: 0 });
    t.teardown(() => client.endAsync());
    return client;
  };
  const received = (client: MqttClient) => {
    const seen: string[] = [];
    client.on('message', (topic) => seen.push(topic));
    return seen;
  };
  const alice = await connect('aaaaaaaaaaaaaaaaaaaaaa', 'fleet', 'fleet-secret');
  const bob = await connect('bbbbbbbbbbbbbbbbbbbbbb', 'fleet', 'fleet-secret');
  const recognizer = await connect('recognizer-1', 'recognizer', 'recognizer-secret');
  const aliceSeen = received(alice);
  const bobSeen = received(bob);

  const own = await alice.subscribeAsync('enfpire/v1/reply/aaaaaaaaaaaaaaaaaaaaaa', { qos: 1 });
  t.ok(own[0].qos < 0x80, 'a device may subscribe to its own reply topic');
  const other = await alice.subscribeAsync('enfpire/v1/reply/bbbbbbbbbbbbbbbbbbbbbb', { qos: 1 });
  const all = await alice.subscribeAsync('enfpire/v1/reply/+', { qos: 1 });
  await bob.subscribeAsync(['enfpire/v1/reply/bbbbbbbbbbbbbbbbbbbbbb', 'enfpire/v1/recognizer/info'], { qos: 1 });
  t.comment(`SUBACK for another's topic: ${other[0].qos}, for the wildcard: ${all[0].qos} (granted; deliveries are checked)`);

  // The recognizer answers both devices; each must get its own reply only.
  await recognizer.publishAsync('enfpire/v1/reply/aaaaaaaaaaaaaaaaaaaaaa', 'for alice', { qos: 1 });
  await recognizer.publishAsync('enfpire/v1/reply/bbbbbbbbbbbbbbbbbbbbbb', 'for bob', { qos: 1 });
  // A device forging a reply to another device, or a recognizer announcement, reaches nobody.
  await alice.publishAsync('enfpire/v1/reply/bbbbbbbbbbbbbbbbbbbbbb', 'forged', { qos: 1 }).catch(() => undefined);
  await alice.publishAsync('enfpire/v1/recognizer/info', 'forged', { qos: 1, retain: true }).catch(() => undefined);
  await sleep(500);
  // Mosquitto grants the subscriptions but checks read access on every delivery: the wildcard brings alice her own
  // reply a second time, never bob's.
  t.same([...new Set(aliceSeen)], ['enfpire/v1/reply/aaaaaaaaaaaaaaaaaaaaaa'], "alice got her reply and not bob's");
  t.same(bobSeen, ['enfpire/v1/reply/bbbbbbbbbbbbbbbbbbbbbb'], "bob got his reply only: alice's forged reply and announcement were dropped");
});

t.test('a device publishes requests only under its own client id; the product runs under the shipped ACL', async (t) => {
  const broker = await aclBroker(t);

  const recognizerTap = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'tap', username: 'recognizer', password: 'recognizer-secret' });
  t.teardown(() => recognizerTap.endAsync());
  const requests: string[] = [];
  recognizerTap.on('message', (topic) => requests.push(topic));
  await recognizerTap.subscribeAsync([requestFilter('query'), requestFilter('region')], { qos: 1 });
  const mallory = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'mmmmmmmmmmmmmmmmmmmmmm', username: 'fleet', password: 'fleet-secret' });
  t.teardown(() => mallory.endAsync());
  await mallory.publishAsync(requestTopic('query', 'vvvvvvvvvvvvvvvvvvvvvv'), 'as the victim', { qos: 1 }).catch(() => undefined);
  await mallory.publishAsync(requestTopic('region', 'vvvvvvvvvvvvvvvvvvvvvv'), 'as the victim', { qos: 1 }).catch(() => undefined);
  await mallory.publishAsync(TOPICS.query, 'on the bare topic', { qos: 1 }).catch(() => undefined);
  await mallory.publishAsync(requestTopic('query', 'mmmmmmmmmmmmmmmmmmmmmm'), 'as herself', { qos: 1 });
  await sleep(500);
  t.same(requests, [requestTopic('query', 'mmmmmmmmmmmmmmmmmmmmmm')], "only the request under the sender's own client id reaches the recognizers");

  // The real device and recognizer, with the fleet and recognizer credentials: everything the product does is allowed.
  const handler = new GalleryHandler(makeSpots(10));
  const endpoint = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, username: 'recognizer', password: 'recognizer-secret', limits, handler });
  await endpoint.start();
  t.teardown(() => endpoint.stop());
  const device = new RecognitionClient({ url: broker.url, username: 'fleet', password: 'fleet-secret', limits, model: MODEL, requestTimeoutMs: 2000 });
  await device.start();
  t.teardown(() => device.stop());
  t.equal(device.info()?.model, MODEL, 'the device reads the announcement');
  t.equal((await device.fetchRegion('*')).spots.length, 10, 'asks for and gets its region pack');
  t.equal((await device.query({ type: 'query', model: MODEL, vector: handler.spots[3].feature, topM: 3 })).candidates[0].id, 'spot-3', 'and its answers');
  await device.rotateIdentity();
  t.equal((await device.query({ type: 'query', model: MODEL, vector: handler.spots[5].feature, topM: 3 })).candidates[0].id, 'spot-5', 'under a new identity too');
});

t.test('the shipped TLS listener: devices verify the broker certificate and connect only over TLS', async (t) => {
  const dir = t.testdir();
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  // A private CA and a server certificate for 127.0.0.1, as docs/operations.md tells an operator to make them.
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=EnfPire test CA', '-keyout', file('ca.key'), '-out', file('ca.crt'));
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('server.key'), '-out', file('server.csr'));
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('san.ext'), '-out', file('server.crt'));
  execFileSync('mosquitto_passwd', ['-b', '-c', file('passwd'), 'fleet', 'fleet-secret']);
  chmodSync(file('server.key'), 0o644); // the test broker runs as this user

  // The shipped file, its paths pointed at this folder and its listener line at the free port the launcher picks.
  const shipped = readFileSync(fileURLToPath(new URL('../../deploy/mosquitto/enfpire.conf', import.meta.url)), 'utf8')
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#') && !line.startsWith('listener') && !line.startsWith('persistence'))
    .map((line) => line.replace('/etc/mosquitto/enfpire/acl', acl).replace(/\/etc\/mosquitto\/enfpire\//g, `${dir}/`));
  t.ok(shipped.includes(`certfile ${dir}/server.crt`) && shipped.includes('allow_anonymous false'), 'the shipped TLS settings are used');
  const broker = await startMosquitto({ extraConfig: shipped });
  t.teardown(() => broker.stop());
  const tlsUrl = broker.url.replace('mqtt://', 'mqtts://');

  const options = { url: tlsUrl, username: 'fleet', password: 'fleet-secret', connectTimeoutMs: 3000 };
  const device = new RecognitionClient({ requestTimeoutMs: 5_000, ...options, ca: readFileSync(file('ca.crt')), limits, model: MODEL, infoWaitMs: 100 });
  await device.start();
  t.teardown(() => device.stop());
  t.equal(device.counters().state, 'connected', 'a device that trusts the operator CA connects over TLS');

  const stranger = new RecognitionClient({ requestTimeoutMs: 5_000, ...options, limits, model: MODEL, infoWaitMs: 100 });
  await t.rejects(stranger.start(), /certificate|self.signed|unable to verify/i, 'without the CA the certificate is refused: verification stays on');
  const clear = new RecognitionClient({ requestTimeoutMs: 5_000, url: broker.url, username: 'fleet', password: 'fleet-secret', connectTimeoutMs: 2000, limits, model: MODEL, infoWaitMs: 100 });
  await t.rejects(clear.start(), 'plain MQTT to the TLS listener does not connect');
});
