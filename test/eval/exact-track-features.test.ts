/**
 * The dummy classifier's track features on exact components (daemon/eval/adversaries.ts exactTrackFeatures): every
 * order statistic of how long the k spots have been and will stay shown, not only the shortest. Real queries come while
 * a wearer stands at a spot, and the tracks of such queries tend to outlast a dummy's in more than their minimum.
 */
import t from 'tap';
import { crossValidatedAuc, exactTrackFeatures, queryFeatureGroups, sessions, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
import { seededRandom } from '../../daemon/util/random.js';

function query(t: number, session: string, ids: readonly string[]): QueryAnalysis {
  return { record: { t, reply_topic: session, vector: [], topM: 0, candidates: [...ids] }, scores: [], components: ids.map((id) => ({ id, weight: 1 })), residual: new Float64Array(0), residualNorm: 0 };
}

t.test('order statistics of since and until, in log seconds, per query', async (t) => {
  // One session: a, b shown for three queries; c replaced by d at the third.
  const analyses = [query(0, 's', ['a', 'b', 'c']), query(1_000, 's', ['b', 'a', 'c']), query(2_000, 's', ['a', 'b', 'd'])];
  const f = exactTrackFeatures(analyses);
  const log = (s: number) => Math.log1p(s);
  t.same(f[0], [1, 0, 0, 0, log(1), log(2), log(2)], 'first query: everything appeared now; c goes after 1 s, a and b stay 2 s');
  t.same(f[1], [0, log(1), log(1), log(1), 0, log(1), log(1)], 'second: shown 1 s each; c goes now, a and b in 1 s');
  t.same(f[2], [1, 0, log(2), log(2), 0, 0, 0], 'third: d appeared; a and b shown for 2 s');
  const groups = queryFeatureGroups(analyses, undefined, analyses);
  t.equal(groups[0].track.length, 4 + 7, 'the exact features follow the four OMP ones');
  t.throws(() => queryFeatureGroups(analyses, undefined, analyses.slice(1)), /exact decompositions/);
});

t.test('a shift in every track but the shortest is read by the order statistics, not by the minimum', async (t) => {
  // Each query shows four spots. In "real" stretches three of the four stay 40 s, in "dummy" stretches 10 s; the
  // fourth spot changes every 2 s in both, so the shortest "until" is alike.
  const random = seededRandom(3);
  const analyses: QueryAnalysis[] = [];
  const labels: boolean[] = [];
  let next = 0;
  for (let s = 0; s < 12; s++) {
    const session = `s${s}`;
    let stayers: string[] = [];
    let stayUntil = 0;
    let quick = '';
    for (let i = 0; i < 400; i++) {
      const t = i * 1_000;
      const real = Math.floor(i / 50) % 2 === 0;
      if (t >= stayUntil) {
        stayers = [0, 1, 2].map(() => `x${next++}`);
        stayUntil = t + (real ? 40_000 : 10_000) * (0.5 + random.next());
      }
      if (i % 2 === 0) quick = `q${next++}`;
      analyses.push(query(t, session, [...stayers, quick]));
      labels.push(real);
    }
  }
  const folds = [...sessions(analyses).values()];
  const groups = queryFeatureGroups(analyses, undefined, analyses);
  const minimum = crossValidatedAuc(groups.map((g) => g.track.slice(3, 4)), labels, folds, { random: seededRandom(1) });
  const all = crossValidatedAuc(exactTrackFeatures(analyses), labels, folds, { random: seededRandom(1) });
  t.comment(`held-out AUC: shortest until ${minimum.toFixed(3)}, every order statistic ${all.toFixed(3)}`);
  t.ok(minimum < 0.56, 'the shortest until barely tells');
  t.ok(all > 0.7, 'the order statistics do');
});
