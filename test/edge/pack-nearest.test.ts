/**
 * resolver.packNearest (decisions 40 and 66): a real k-mix query stands in for the region pack's nearest spot, and the
 * device ranks that spot beside the reply's candidates, and beside the spots it has cached, so neither a reply that
 * misses it nor a look-alike the cache happens to hold forces a worse answer. The checks make replies miss it: a
 * recognizer that returns one candidate per query, the top of a mix of four spots, so the cache holds only what those
 * replies named. A real Mosquitto, the recognizer and the device as `enfpire edge` assembles them, the sample photos
 * replayed once.
 */
import t, { type Test } from 'tap';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { EdgeResult } from '../../daemon/domain/result.js';
import { sampleCameraRig, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

async function oneCandidateRig(t: Test) {
  const rig = await sampleCameraRig(t);
  // One frame per spot, named so the result's label tells which spot it showed.
  for (const spot of rig.spots) await rig.show(spot.files[0], spot.id);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(rig.dir, broker.url, rig.galleryPath, undefined, { maxTopM: 1 });
  t.teardown(() => recognizer.stop());

  /** Plays the camera once through a fresh device with these resolver settings; its results and how many were right. */
  const play = async (name: string, resolver: Record<string, unknown>): Promise<{ results: EdgeResult[]; right: number }> => {
    const edgeDir = join(rig.dir, `edge-${name}`);
    await mkdir(edgeDir);
    const { edge, results } = await startEdge(edgeDir, broker.url, { camera: { kind: 'files', dir: rig.camera, loop: false, fps: 4 }, resolver });
    try {
      t.ok(await eventually(() => results.length >= rig.spots.length, 60_000), `${name}: every frame answered`);
    } finally {
      await edge.stop();
    }
    const right = results.filter((r) => r.label !== undefined && rig.truth.get(basename(r.label)) === r.spotId).length;
    t.comment(`${name}: ${right} of ${results.length} right, ${results.filter((r) => r.fromCache).length} from the cache`);
    return { results, right };
  };
  return { ...rig, play };
}

t.test('the pack nearest spot is answered even when the reply misses it; without it, replies of one candidate lose answers', async (t) => {
  const { unhandled, spots, play } = await oneCandidateRig(t);
  // Every frame's own answer: no cache, no smoothing, so each result is what that frame's reply allowed.
  const own = (packNearest: boolean) => ({ cacheThreshold: 1, windowSize: 1, packNearest });
  t.equal((await play('ranked', own(true))).right, spots.length, 'with the pack nearest spot ranked, every spot is named');
  t.ok((await play('reply-alone', own(false))).right < spots.length, 'with the reply alone, one candidate of a four-spot mix misses some');
  t.same(unhandled.reasons, []);
});

t.test('a cached look-alike does not answer for a spot the cache lacks', async (t) => {
  const { unhandled, spots, play } = await oneCandidateRig(t);
  // Cache threshold 0: every cached spot is "close enough", the extreme of a dense gallery where neighbouring windows of
  // one photograph sit above 0.9 (decision 66). The cache then holds only the one-candidate replies' spots.
  const cached = (packNearest: boolean) => ({ cacheThreshold: 0, windowSize: 1, packNearest });
  const ranked = await play('cache-ranked', cached(true));
  t.equal(ranked.right, spots.length, 'with the pack nearest spot ranked beside the cache, every spot is named');
  t.ok(ranked.results.every((r) => r.fromCache), 'and every answer came from the device, none waited for a reply');
  const alone = await play('cache-alone', cached(false));
  t.ok(alone.right < spots.length, 'with the cache alone, a cached look-alike answers for spots it lacks');
  t.same(unhandled.reasons, []);
});
