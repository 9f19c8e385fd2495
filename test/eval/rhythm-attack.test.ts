/**
 * The rhythm attack (adversaries.ts): the stalest or the freshest component, chosen per session from how long the
 * session's visits last. Synthetic tracks, exact components, no pictures: the point is the choice of sign.
 */
import t from 'tap';
import { arrivalAttack, rhythmAttack, visitLengths, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
import { seededRandom } from '../../daemon/util/random.js';

const K = 4;

/** One component per track: track j shows spot `s{session}-t{j}-{n}` for visits of about `visitMs[j]`, one query a second. */
function session(name: string, visitMs: readonly number[], queries: number, random: ReturnType<typeof seededRandom>) {
  const tracks = visitMs.map((ms, j) => ({ j, n: 0, until: ms * random.next() }));
  const analyses: QueryAnalysis[] = [];
  const real: string[] = [];
  for (let q = 0; q < queries; q++) {
    const t = q * 1_000;
    for (const track of tracks) {
      while (track.until <= t) {
        track.n++;
        track.until += visitMs[track.j] * Math.exp(0.3 * random.normal());
      }
    }
    const ids = tracks.map((track) => `${name}-t${track.j}-${track.n}`);
    real.push(ids[0]);
    analyses.push({
      record: { t, reply_topic: name, vector: [], topM: 0, candidates: ids },
      scores: [],
      components: random.shuffle(ids.map((id) => ({ id, weight: 1 }))),
      residual: new Float64Array(0),
      residualNorm: 0,
    });
  }
  return { analyses, real };
}

t.test('visit lengths: each run of a spot through consecutive queries, first to last query', async (t) => {
  const at = (ms: number, ids: string[]): QueryAnalysis => ({
    record: { t: ms, reply_topic: 's', vector: [], topM: 0, candidates: ids },
    scores: [],
    components: ids.map((id) => ({ id, weight: 1 })),
    residual: new Float64Array(0),
    residualNorm: 0,
  });
  const analyses = [at(0, ['a', 'b']), at(1_000, ['a', 'c']), at(2_000, ['a', 'b']), at(3_000, ['d', 'b'])];
  // b: 0 alone (gone at 1 s), c: 1 s alone, a: 0-2 s, then b again 2-3 s and d 3 s, cut by the session's end.
  t.same(
    visitLengths(analyses, [0, 1, 2, 3]).sort((x, y) => x - y),
    [0, 0, 0, 1_000, 2_000],
  );
  t.same(visitLengths(analyses, []), [], 'an empty session has no visits');
});

t.test('the rhythm attack reads lingering and hurrying wearers apart, where one sign reads only one kind', async (t) => {
  const random = seededRandom(9);
  const all: QueryAnalysis[] = [];
  const truth: string[] = [];
  // Track 0 is the wearer. Lingerers stay 3 min among tracks that learned 40 s visits; hurriers 6 s among 20 s ones.
  for (let s = 0; s < 12; s++) {
    const lingers = s % 2 === 0;
    const made = session(`s${s}`, lingers ? [180_000, 40_000, 40_000, 40_000] : [6_000, 20_000, 20_000, 20_000], 300, random);
    all.push(...made.analyses);
    truth.push(...made.real);
  }
  const rate = (guesses: (string | null)[]) => guesses.filter((g, i) => g === truth[i]).length / truth.length;
  const stalest = rate(arrivalAttack('stalest').guess(all));
  const freshest = rate(arrivalAttack('freshest').guess(all));
  const rhythm = rate(rhythmAttack().guess(all));
  t.comment(`k = ${K}: stalest ${stalest.toFixed(3)}, freshest ${freshest.toFixed(3)}, rhythm ${rhythm.toFixed(3)}`);
  t.ok(rhythm > Math.max(stalest, freshest) + 0.15, 'choosing the sign per session beats either sign alone');
  t.ok(rhythm > 0.5, 'and names the wearer in most real queries');
});

t.test('the rhythm attack is at chance when every track visits alike', async (t) => {
  const random = seededRandom(11);
  const all: QueryAnalysis[] = [];
  const truth: string[] = [];
  for (let s = 0; s < 16; s++) {
    const made = session(`s${s}`, [30_000, 30_000, 30_000, 30_000], 300, random);
    all.push(...made.analyses);
    truth.push(...made.real);
  }
  const rhythm = rhythmAttack().guess(all).filter((g, i) => g === truth[i]).length / truth.length;
  t.ok(Math.abs(rhythm - 1 / K) < 0.06, `rhythm ${rhythm.toFixed(3)} against chance ${1 / K}`);
});
