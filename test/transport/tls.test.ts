/** Client and endpoint over mutual TLS, with certificates made by openssl for this run. */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RecognitionClient } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint } from '../../daemon/transport/recognizer-endpoint.js';
import { UserError } from '../../daemon/util/errors.js';
import { GalleryHandler, MODEL, limits, makeSpots } from './fixtures.js';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'enfpire-tls-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

await run('openssl', ['req', '-x509', ...newKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=enfpire test CA']);
async function issue(name: string, cn: string, ext: string): Promise<void> {
  await writeFile(file(`${name}.ext`), ext);
  await run('openssl', ['req', ...newKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
  await run('openssl', ['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file(`${name}.crt`), '-days', '1', '-extfile', file(`${name}.ext`)]);
}
await issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
await issue('fleet', 'enfpire fleet', 'extendedKeyUsage=clientAuth\n');

const broker = await startMosquitto({
  extraConfig: [`cafile ${file('ca.crt')}`, `certfile ${file('server.crt')}`, `keyfile ${file('server.key')}`, 'require_certificate true'],
});
t.teardown(() => broker.stop());
const url = `mqtts://127.0.0.1:${broker.port}`;
const ca = await readFile(file('ca.crt'));
const cert = await readFile(file('fleet.crt'));
const key = await readFile(file('fleet.key'));

t.test('a query over mutual TLS', async (t) => {
  const spots = makeSpots(10);
  const ep = new RecognizerEndpoint({ group: 'recognizers', url, ca, cert, key, limits, handler: new GalleryHandler(spots) });
  await ep.start();
  t.teardown(() => ep.stop());
  const c = new RecognitionClient({ requestTimeoutMs: 5_000, url, ca, cert, key, limits, model: MODEL, infoWaitMs: 2000 });
  await c.start();
  t.teardown(() => c.stop());
  t.equal(c.info()?.model, MODEL);
  const reply = await c.query({ type: 'query', model: MODEL, vector: spots[4].feature, topM: 2 });
  t.equal(reply.candidates[0].id, 'spot-4');
});

t.test('without the CA or without a client certificate the connection is refused clearly', async (t) => {
  for (const [what, opts] of [
    ['no CA', { cert, key }],
    ['no client certificate', { ca }],
  ] as const) {
    const c = new RecognitionClient({ requestTimeoutMs: 5_000, url, ...opts, limits, model: MODEL, connectTimeoutMs: 3000 });
    const err = await c.start().catch((e: unknown) => e);
    t.type(err, UserError, what);
    t.match((err as Error).message, /^Cannot connect to the MQTT broker at mqtts:\/\/127\.0\.0\.1:\d+/, what);
  }
});
