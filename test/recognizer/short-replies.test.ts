/**
 * A recognizer whose operator set a small maxTopM still answers devices that ask for more (every k-mix query asks for
 * privacy.transform.maxCandidates, 256 by default, decision 36): the reply is capped, the query not refused.
 */
import t from 'tap';
import { recordUnhandledRejections, startBackend, startEdge } from '../helpers/edge-rig.js';
import { eventually } from '../transport/fixtures.js';

t.test('maxTopM under what devices ask for: capped replies, answered queries', async (t) => {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const { dir, brokerUrl } = await startBackend(t, { maxTopM: 8 });
  const { edge, results } = await startEdge(dir, brokerUrl);
  t.teardown(() => edge.stop());
  t.ok(await eventually(() => results.filter((r) => r.spotId !== null).length >= 3, 30_000), 'the device names spots');
  const stats = edge.edge.stats();
  t.equal(stats.failedQueries, 0, 'no query refused');
  t.same(unhandled.reasons, []);
});
