/**
 * Where a query falls in its session (daemon/eval/adversaries.ts SESSION_FEATURES), and the dummy classifier's AUC taken
 * within sessions only (crossValidatedAuc `within: 'session'`). The server sees each identity's first and last query;
 * when identities with real queries live longer than identities without, the session's length alone tells real from
 * dummy, although nothing inside a session does.
 */
import t from 'tap';
import { crossValidatedAuc, permutedSessionLabels, queryFeatureGroups, sessions, SESSION_FEATURES, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
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

t.test('permutedSessionLabels keeps how real queries fall in sessions and loses what ties them to the queries', async (t) => {
  const random = seededRandom(11);
  const analyses: QueryAnalysis[] = [];
  const labels: boolean[] = [];
  for (let s = 0; s < 40; s++) {
    const length = 30 + Math.floor(120 * random.next());
    const share = s % 3 === 0 ? 0 : random.next();
    for (let i = 0; i < length; i++) {
      analyses.push(query(i * 1_000, `s${s}`));
      labels.push(i < share * length);
    }
  }
  const folds = [...sessions(analyses).values()];
  // A feature that is the label itself: perfect on the true labels.
  const features = labels.map((l) => [l ? 1 : 0]);
  const runs = Array.from({ length: 12 }, (_, n) => permutedSessionLabels(labels, folds, seededRandom(100 + n)));
  t.same(permutedSessionLabels(labels, folds, seededRandom(100)), runs[0], 'seeded: the same labels again');
  const share = (l: readonly boolean[]) => l.filter(Boolean).length / l.length;
  const shares = runs.map(share);
  t.ok(shares.every((x) => Math.abs(x - share(labels)) < 0.1), `about the same real share (${share(labels).toFixed(3)}; permuted ${shares.map((x) => x.toFixed(3)).join(', ')})`);
  // Real queries still come in runs: a permuted label is usually its neighbour's.
  const agree = (l: readonly boolean[]) => folds.reduce((a, steps) => a + steps.slice(1).filter((i, j) => l[i] === l[steps[j]]).length, 0);
  t.ok(agree(runs[0]) > 0.9 * agree(labels), 'runs of real queries stay runs');
  t.equal(crossValidatedAuc(features, labels, folds, { random: seededRandom(1) }), 1);
  const nulls = runs.map((l) => crossValidatedAuc(features, l, folds, { random: seededRandom(1) }));
  const mean = nulls.reduce((a, b) => a + b, 0) / nulls.length;
  t.ok(Math.abs(mean - 0.5) < 0.05, `on permuted labels the same feature is at chance (mean ${mean.toFixed(3)})`);
});
