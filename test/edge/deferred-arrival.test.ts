/**
 * privacy.transform.arrival 'deferred' (decision 52) through the device as `enfpire edge` assembles it, a real
 * Mosquitto and the recognizer: frames of a spot that is not on the wire yet are named from the region pack on the
 * device and leave nothing behind them on the wire (their slots carry dummies); with 'immediate' every frame of a spot
 * goes out as a real query. The sample photos, each shown for a few frames, as a wearer walking past them would.
 */
import t from 'tap';
import { mkdir, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sampleSpotsDir } from '../../daemon/util/paths.js';
import { sampleCameraRig, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';
import type { ArrivalRule } from '../../daemon/privacy/wearer-crowd.js';

const FRAMES_PER_SPOT = 4;
/** The bundled photographs of no spot, beside the sample spots. */
const sampleOffGalleryDir = join(dirname(sampleSpotsDir), 'offgallery');

t.test('deferred arrival names held frames from the pack and sends nothing for them', async (t) => {
  const { unhandled, dir, galleryPath, spots, camera, truth, show } = await sampleCameraRig(t);
  // A few frames of each spot, then the walk to the next: frames of no spot, which the region gate turns away.
  const walk = (await readdir(sampleOffGalleryDir)).map((f) => join(sampleOffGalleryDir, f));
  for (const spot of spots) {
    for (let f = 0; f < FRAMES_PER_SPOT; f++) await show(spot.files[0], spot.id);
    for (const file of walk) await show(file, null);
  }
  const ofSpot = [...truth.values()].filter((s) => s !== null).length;

  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, galleryPath);
  t.teardown(() => recognizer.stop());

  const run = async (arrival: ArrivalRule, packNearest = true) => {
    const name = `${arrival}${packNearest ? '' : ' (packNearest off)'}`;
    const edgeDir = join(dir, `edge-${arrival}-${packNearest}`);
    await mkdir(edgeDir);
    let realSent = 0;
    const { edge, results } = await startEdge(
      edgeDir,
      broker.url,
      {
        camera: { kind: 'files', dir: camera, loop: false, fps: 4 },
        // Every frame's own answer, and no cache: what is held back is named from the pack alone.
        resolver: { cacheThreshold: 1, windowSize: 1, packNearest },
        privacy: { transform: { kind: 'kmix', arrival } },
      },
      { beforeStart: (e) => e.on('query', (q: { kind: string }) => void (q.kind === 'real' && realSent++)) },
    );
    try {
      t.ok(await eventually(() => results.length >= truth.size, 120_000), `${name}: every frame answered`);
      const stats = edge.edge.stats();
      const right = results.filter((r) => r.label !== undefined && r.spotId !== null && truth.get(basename(r.label)) === r.spotId).length;
      t.comment(`${name}: ${right} of ${results.length} right, ${stats.heldBack} held back, ${stats.realQueries} real queries`);
      return { right, held: stats.heldBack, real: stats.realQueries, realSent, offGallery: stats.offGallery };
    } finally {
      await edge.stop();
    }
  };

  const immediate = await run('immediate');
  t.equal(immediate.held, 0, 'immediate: nothing is held back');
  t.equal(immediate.right, ofSpot, 'immediate: every frame of a spot named right');
  const deferred = await run('deferred');
  t.ok(deferred.held > 0, 'deferred: frames of spots not yet on the wire are held back');
  t.equal(deferred.right, ofSpot, 'deferred: every frame of a spot named right, held ones from the region pack');
  t.equal(deferred.held + deferred.real, ofSpot, 'deferred: each frame of a spot is either held back or a real query');
  t.ok(deferred.realSent <= deferred.real, 'deferred: no real query leaves for a held frame');
  // Ranking the pack's nearest beside a reply is a choice (decision 40); naming a held frame from the pack is not.
  const unranked = await run('deferred', false);
  t.ok(unranked.held > 0, 'deferred, packNearest off: frames are held back');
  t.equal(unranked.right, ofSpot, 'deferred, packNearest off: held frames are still named from the region pack');
  t.same(unhandled.reasons, []);
});
