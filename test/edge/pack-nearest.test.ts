/**
 * resolver.packNearest (decision 40): a real k-mix query stands in for the region pack's nearest spot, and the device
 * ranks that spot beside the reply's candidates, so a reply that misses it does not force a worse answer. The check
 * makes replies miss it: a recognizer that returns one candidate per query, the top of a mix of four spots. A real
 * Mosquitto, the recognizer and the device as `enfpire edge` assembles them, the sample photos replayed once.
 */
import t from 'tap';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sampleCameraRig, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

t.test('the pack nearest spot is answered even when the reply misses it; without it, replies of one candidate lose answers', async (t) => {
  const { unhandled, dir, galleryPath, spots, camera, truth, show } = await sampleCameraRig(t);
  // One frame per spot, named so the result's label tells which spot it showed.
  for (const spot of spots) await show(spot.files[0], spot.id);

  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, galleryPath, undefined, { maxTopM: 1 });
  t.teardown(() => recognizer.stop());

  const correct = async (packNearest: boolean): Promise<number> => {
    const edgeDir = join(dir, `edge-${packNearest}`);
    await mkdir(edgeDir);
    const { edge, results } = await startEdge(edgeDir, broker.url, {
      camera: { kind: 'files', dir: camera, loop: false, fps: 4 },
      // Every frame's own answer: no cache, no smoothing, so each result is what that frame's reply allowed.
      resolver: { cacheThreshold: 1, windowSize: 1, packNearest },
    });
    try {
      t.ok(await eventually(() => results.length >= spots.length, 60_000), `packNearest ${packNearest}: every frame answered`);
    } finally {
      await edge.stop();
    }
    const right = results.filter((r) => r.label !== undefined && truth.get(basename(r.label)) === r.spotId).length;
    t.comment(`packNearest ${packNearest}: ${right} of ${results.length} right`);
    return right;
  };

  t.equal(await correct(true), spots.length, 'with the pack nearest spot ranked, every spot is named');
  t.ok((await correct(false)) < spots.length, 'with the reply alone, one candidate of a four-spot mix misses some');
  t.same(unhandled.reasons, []);
});
