/**
 * Where a query falls in its session (daemon/eval/adversaries.ts SESSION_FEATURES), and the dummy classifier's AUC taken
 * within sessions only (crossValidatedAuc `within: 'session'`). The server sees each identity's first and last query;
 * when identities with real queries live longer than identities without, the session's length alone tells real from
 * dummy, although nothing inside a session does.
 */
import t from 'tap';
import { crossValidatedAuc, queryFeatureGroups, sessions, SESSION_FEATURES, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
import { seededRandom } from '../../daemon/util/random.js';

function query(t: number, session: string): QueryAnalysis {
  return { record: { t, reply_topic: session, vector: [], topM: 0, candidates: [] }, scores: [], components: [], residual: new Float64Array(0), residualNorm: 0 };
}

t.test('age, time left and length of the session, in log seconds', async (t) => {
  const analyses = [query(5_000, 'b'), query(0, 'a'), query(1_000, 'a'), query(3_000, 'a')];
  const groups = queryFeatureGroups(analyses, undefined);
  const log = (s: number) => Math.log1p(s);
  t.equal(SESSION_FEATURES.length, 3);
  t.same(groups[1].session, [0, log(3), log(3)], "a session's first query");
  t.same(groups[2].session, [log(1), log(2), log(3)]);
  t.same(groups[3].session, [log(3), 0, log(3)], 'its last');
  t.same(groups[0].session, [0, 0, 0], 'a session of one query');
});

t.test('sessions that last longer when they hold real queries: the session length tells, nothing within a session does', async (t) => {
  const random = seededRandom(5);
  const analyses: QueryAnalysis[] = [];
  const labels: boolean[] = [];
  for (let s = 0; s < 60; s++) {
    // Half the sessions hold a visit (a stretch of real queries at a random place in it), and those wait for it to end.
    const active = s % 2 === 0;
    const length = Math.round((active ? 150 : 60) * (0.6 + 0.8 * random.next()));
    const visitStart = Math.floor(random.next() * length * 0.7);
    for (let i = 0; i < length; i++) {
      analyses.push(query(i * 1_000, `s${s}`));
      labels.push(active && i >= visitStart && i < visitStart + 30);
    }
  }
  const folds = [...sessions(analyses).values()];
  const features = queryFeatureGroups(analyses, undefined).map((g) => g.session);
  const across = crossValidatedAuc(features, labels, folds, { random: seededRandom(1) });
  const within = crossValidatedAuc(features.map((f) => [f[2]]), labels, folds, { random: seededRandom(1), within: 'session' });
  t.comment(`held-out AUC: across sessions ${across.toFixed(3)}, the length within sessions ${within.toFixed(3)}`);
  // Most queries of a long session are dummies too, so even a perfect read of the length stays near 2/3 here.
  t.ok(across > 0.65, 'the session features tell real from dummy across sessions');
  t.equal(within, 0.5, 'within a session its length is the same for every query: no pair is told apart');
});
