/**
 * The dummy classifier's persistence group (decision 71): how like the session's previous and next query a query is,
 * from the vectors as they crossed the wire. On the wall clock a real query broke from the query before it and was
 * continued by the one after more often than a dummy; a server reads that without decomposing anything.
 */
import t from 'tap';
import { crossValidatedAuc, queryFeatureGroups, sessions, PERSISTENCE_FEATURES, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
import { seededRandom } from '../../daemon/util/random.js';

function query(t: number, session: string, vector: number[]): QueryAnalysis {
  return { record: { t, reply_topic: session, vector, topM: 0, candidates: [] }, scores: [], components: [], residual: new Float64Array(0), residualNorm: 0 };
}

t.test('cosine with the previous and the next query of the same session, and their difference', async (t) => {
  const s = Math.SQRT1_2;
  const analyses = [query(0, 'a', [1, 0]), query(1_000, 'a', [s, s]), query(500, 'b', [0, 1]), query(2_000, 'a', [s, s]), query(9_000, 'c', [1, 0])];
  const groups = queryFeatureGroups(analyses, undefined);
  t.equal(PERSISTENCE_FEATURES.length, 3);
  const close = (got: number[], want: number[], message: string) => t.ok(got.every((x, j) => Math.abs(x - want[j]) < 1e-9), `${message}: ${got.map((x) => x.toFixed(3)).join(', ')}`);
  close(groups[0].persistence, [s, s, 0], "a session's first query: its one neighbour stands in for both");
  close(groups[1].persistence, [s, 1, 1 - s], 'a query that breaks from the one before and is continued by the one after');
  close(groups[3].persistence, [1, 1, 0], 'its last');
  close(groups[2].persistence, [0, 0, 0], 'a session of one query, not compared with another session interleaved in time');
  t.same(groups[4].persistence, [0, 0, 0]);
});

t.test('views that jump where a new view enters and drift after: the difference tells real from dummy', async (t) => {
  // Each session is a random walk of unit vectors; a "real" query jumps (a new view enters) and the next one drifts
  // on from it, as the wall clock showed for a visit's first real query.
  const random = seededRandom(9);
  const dim = 16;
  const analyses: QueryAnalysis[] = [];
  const labels: boolean[] = [];
  for (let s = 0; s < 30; s++) {
    let v = Array.from({ length: dim }, () => random.next() - 0.5);
    for (let n = 0; n < 60; n++) {
      const real = n > 0 && random.next() < 0.2;
      const step = real ? 0.8 : 0.1;
      v = v.map((x) => x + step * (random.next() - 0.5));
      analyses.push(query(n * 1_000, `s${s}`, v));
      labels.push(real);
    }
  }
  const folds = [...sessions(analyses).values()];
  const features = queryFeatureGroups(analyses, undefined).map((g) => g.persistence);
  const auc = crossValidatedAuc(features, labels, folds, { random: seededRandom(1) });
  const shuffled = crossValidatedAuc(features, labels.map((_, i) => labels[(i * 7919) % labels.length]), folds, { random: seededRandom(1) });
  t.comment(`held-out AUC ${auc.toFixed(3)}; on labels moved to other queries ${shuffled.toFixed(3)}`);
  t.ok(auc > 0.8, 'a jump from the previous query is read');
  t.ok(Math.abs(shuffled - 0.5) < 0.06, 'and nothing is read from labels that do not belong to the queries');
});
