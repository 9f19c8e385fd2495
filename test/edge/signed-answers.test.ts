/**
 * The shipped daemon with operator signatures (issue #10, point 1): a recognizer with signingKeyFile and a device with
 * transport.recognizerKeyFile work end to end and the device reports its region pack as verified; a device that pins
 * another key takes nothing from that recognizer and fails its start in one sentence.
 */
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getJson } from '../../daemon/api/api-client.js';
import { parseListenAddress } from '../../daemon/util/listen-address.js';
import type { StatusReport } from '../../daemon/api/status.js';
import { generateSigningKeys } from '../../daemon/transport/signing.js';
import { enrolSampleGallery, eventually, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { loadManifest } from '../../daemon/extractor/manifest.js';
import { defaultModelManifest } from '../../daemon/util/paths.js';

t.test('signed answers end to end; a device pinning another key takes none of them', async (t) => {
  const dir = t.testdir();
  const operator = generateSigningKeys();
  const stranger = generateSigningKeys();
  await writeFile(join(dir, 'operator.key'), operator.privatePem, { mode: 0o600 });
  await writeFile(join(dir, 'operator.pub'), operator.publicPem);
  await writeFile(join(dir, 'stranger.pub'), stranger.publicPem);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, await enrolSampleGallery(dir), undefined, { signingKeyFile: 'operator.key' });
  t.teardown(() => recognizer.stop());

  const { edge, results } = await startEdge(dir, broker.url, {
    transport: { recognizerKeyFile: 'operator.pub' },
    api: { enabled: true, listen: '127.0.0.1:0' },
    health: { thermal: { enabled: false } },
  }, { health: true });
  t.teardown(() => edge.stop());
  t.ok(await eventually(() => results.some((r) => r.spotId !== null), 20_000), 'results arrive through signed replies');
  const status = await getJson<StatusReport>(parseListenAddress(edge.apiAddress!, 'api'), '/status');
  t.equal(status.privacy?.region_pack?.signature, 'verified', 'the operator page shows the pack as verified');
  t.equal(status.broker?.unauthenticated, 0, 'nothing was refused');
  t.match(status.camera, { kind: 'files', running: true, restarts: 0, stalls: 0 }, "the camera's health comes through the paced source");
  t.ok((status.camera?.delivered_fps ?? 0) > 0, 'frames are delivered');
  t.equal(status.execution_provider, 'cpu', 'the execution provider the extractor really runs on');
  t.equal(status.match_threshold, (await loadManifest(defaultModelManifest)).output.threshold, "the profile sets none: the model's own");

  const elsewhere = join(dir, 'other');
  await mkdir(elsewhere);
  await t.rejects(
    startEdge(elsewhere, broker.url, { transport: { recognizerKeyFile: join(dir, 'stranger.pub'), requestTimeoutMs: 800 } }),
    /could not fetch region pack .* and none is cached/,
    'the wrong key: no region pack is taken, so the device does not start with privacy off',
  );
});
