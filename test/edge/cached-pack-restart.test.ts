/**
 * A restart takes the cached region pack when it is the gallery the recognizer announces (decision 69): nothing is
 * asked or downloaded, so the broker sees a restart as it sees an identity change. A copy of another gallery, or an
 * unsigned copy on a device that pins the operator key, is fetched again. Real Mosquitto, recognizer, model and
 * SQLite file; the wiretap is what the broker's operator sees.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getJson } from '../../daemon/api/api-client.js';
import type { StatusReport } from '../../daemon/api/status.js';
import { generateSigningKeys } from '../../daemon/transport/signing.js';
import { requestFilter } from '../../daemon/transport/messages.js';
import { parseListenAddress } from '../../daemon/util/listen-address.js';
import { enrolSampleGallery, eventually, startEdge, startRecognizer, wiretap, type EdgeProfile } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';

t.test('a restart with the announced gallery cached asks for no region pack; another gallery is fetched again', async (t) => {
  const dir = t.testdir();
  const operator = generateSigningKeys();
  await writeFile(join(dir, 'operator.key'), operator.privatePem, { mode: 0o600 });
  await writeFile(join(dir, 'operator.pub'), operator.publicPem);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, await enrolSampleGallery(dir), undefined, { signingKeyFile: 'operator.key' });
  t.teardown(() => recognizer.stop());
  const tap = await wiretap(broker.url, [requestFilter('region')]);
  t.teardown(() => tap.end());

  /** Starts the device on `dir`'s gallery file until its first named result; the region requests and its status. */
  const run = async (profile: EdgeProfile) => {
    const before = tap.seen.length;
    const { edge, results } = await startEdge(dir, broker.url, { api: { enabled: true, listen: '127.0.0.1:0' }, health: { thermal: { enabled: false } }, ...profile }, { health: true });
    try {
      t.ok(await eventually(() => results.some((r) => r.spotId !== null), 20_000), 'the device names spots');
      const status = await getJson<StatusReport>(parseListenAddress(edge.apiAddress!, 'api'), '/status');
      await new Promise((r) => setTimeout(r, 200)); // a late region request would reach the tap by now
      return { requests: tap.seen.length - before, pack: status.privacy?.region_pack };
    } finally {
      await edge.stop();
    }
  };

  const first = await run({});
  t.ok(first.requests >= 1, 'the first start fetches the region pack');
  t.equal(first.pack?.signature, 'unsigned', 'no key pinned: the pack is not checked');

  const restart = await run({});
  t.equal(restart.requests, 0, 'a restart with the announced gallery cached sends no region request');
  t.ok(first.pack?.gallery_version, 'the status names the gallery version');
  t.equal(restart.pack?.gallery_version, first.pack?.gallery_version, 'the cached copy is the announced gallery');
  t.equal(restart.pack?.spots, first.pack?.spots);

  const pinned = { transport: { recognizerKeyFile: 'operator.pub' } };
  t.ok((await run(pinned)).requests >= 1, 'an operator key pinned since: the unsigned copy is fetched again, signed');
  const pinnedRestart = await run(pinned);
  t.equal(pinnedRestart.requests, 0, 'the signed copy stands in for a fetch');
  t.equal(pinnedRestart.pack?.signature, 'verified', 'and is reported as verified');

  // A key rollover adds a key to the file (or removes the old one): the copy was checked against other keys.
  await writeFile(join(dir, 'rolled.pub'), operator.publicPem + generateSigningKeys().publicPem);
  t.ok((await run({ transport: { recognizerKeyFile: 'rolled.pub' } })).requests >= 1, 'other pinned keys: fetched again');

  // The cached copy of an older gallery: what a device finds after the operator enrolled new spots.
  const db = new Database(join(dir, 'edge.db'));
  t.equal(db.prepare("UPDATE region_packs SET gallery_version = 'older'").run().changes, 1);
  db.close();
  const updated = await run(pinned); // fetched under operator.pub's key alone again
  t.ok(updated.requests >= 1, 'a cached copy of another gallery is fetched again');
  t.equal(updated.pack?.gallery_version, first.pack?.gallery_version, 'and replaced by the announced one');
});
