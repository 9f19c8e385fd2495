/**
 * A recognizer whose operator set a small maxTopM still answers devices that ask for more (every k-mix query asks for
 * privacy.transform.maxCandidates, 256 by default, decision 36): the reply is capped, the query not refused.
 */
import t from 'tap';
import { enrolSampleGallery, recordUnhandledRejections, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

t.test('maxTopM under what devices ask for: capped replies, answered queries', async (t) => {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const dir = t.testdir();
  const galleryPath = await enrolSampleGallery(dir);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, galleryPath, undefined, { maxTopM: 8 });
  t.teardown(() => recognizer.stop());
  const { edge, results } = await startEdge(dir, broker.url);
  t.teardown(() => edge.stop());
  t.ok(await eventually(() => results.filter((r) => r.spotId !== null).length >= 3, 30_000), 'the device names spots');
  const stats = edge.edge.stats();
  t.equal(stats.failedQueries, 0, 'no query refused');
  t.same(unhandled.reasons, []);
});
