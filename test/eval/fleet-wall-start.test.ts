/**
 * The evaluation's fleet on the wall clock: each wearer's world plays from the moment the wearer's device is up, on a
 * timer of its own. One loop for every world, begun once the last device was up, held the first devices' first
 * frames back and then showed them at once (24 wearers: a device's first 15 s held real share 0.005–0.032 against
 * 0.13–0.17 once fixed, 2026-12-06). Real Mosquitto, real recognizer, the shipped daemon.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { runFleet, type WorldFrame } from '../../daemon/eval/fleet.js';
import { wireLimitsFor } from '../../daemon/transport/limits.js';
import { silentLogger } from '../../daemon/util/log.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { startBackend } from '../helpers/edge-rig.js';

t.test('on the wall clock a wearer whose device is up first sees its world first', async (t) => {
  const { dir, brokerUrl } = await startBackend(t);
  const spots = await listSpotPhotos(sampleSpotsDir);
  const photo = await readFile(spots[0].files[0]);
  const manifest = JSON.parse(await readFile(defaultModelManifest, 'utf8')) as { output: { dimension: number } };
  const users = 2;
  const durationMs = 6_000;
  // Every wearer's world starts at once (t = 0), so a loop that waited for the last device shows them together.
  const frames: WorldFrame[] = [];
  for (let user = 0; user < users; user++) {
    for (let t = 0; t < durationMs; t += 1_000) frames.push({ user, t, label: `u${user}/${t}`, spot: spots[0].id, render: async () => photo });
  }
  const shownAt = new Map<string, number>();
  const run = await runFleet({
    profile: { privacy: { transform: { kind: 'kmix', arrival: 'immediate' } }, transport: { rotateIdentityMinutes: 0 } },
    users,
    durationMs,
    frames,
    brokerUrl,
    protocolVersion: 5,
    galleryIds: spots.map((s) => s.id),
    modelManifest: defaultModelManifest,
    workDir: dir,
    seed: 1,
    time: 'wall',
    limits: wireLimitsFor(manifest.output.dimension),
    logger: silentLogger(),
    onShown: (frame) => shownAt.set(frame.label, Date.now()),
  });
  t.equal(shownAt.size, frames.length, 'every frame was shown');
  const upGap = run.startedAt[1] - run.startedAt[0];
  t.ok(upGap > 0, `the second device came up ${upGap} ms after the first`);
  const shownGap = shownAt.get('u1/0')! - shownAt.get('u0/0')!;
  t.ok(shownGap >= upGap / 2, `the first wearer's first frame was shown ${shownGap} ms before the second's (devices ${upGap} ms apart)`);
  t.ok(run.worldLag.max < upGap, `no frame waited for the other device (latest ${run.worldLag.max} ms)`);
  t.ok(run.records.length > 0, `the devices sent (${run.records.length} queries)`);
});
