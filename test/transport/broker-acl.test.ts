/**
 * The shipped Mosquitto ACL (deploy/mosquitto/acl) on a real Mosquitto: a device reads only its own replies and
 * cannot publish replies or recognizer announcements (issue #10, per-device isolation on the broker).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquitto } from '../helpers/mosquitto.js';

const acl = fileURLToPath(new URL('../../deploy/mosquitto/acl', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a device reads only its own replies and publishes only requests', async (t) => {
  const dir = t.testdir();
  const passwords = join(dir, 'passwd');
  execFileSync('mosquitto_passwd', ['-b', '-c', passwords, 'fleet', 'fleet-secret']);
  execFileSync('mosquitto_passwd', ['-b', passwords, 'recognizer', 'recognizer-secret']);
  const broker = await startMosquitto({ extraConfig: ['allow_anonymous false', `password_file ${passwords}`, `acl_file ${acl}`] });
  t.teardown(() => broker.stop());
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
