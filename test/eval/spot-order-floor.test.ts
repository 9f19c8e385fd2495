/**
 * spotOrderFloor: what a spot-order guess wins against decoys that know nothing of its order. Checked against the
 * closed form at the ends and against a simulation of uniform decoys, so a wrong count of "ranked below" fails.
 */
import t from 'tap';
import { expectedSpotOrderFloor, spotOrderFloor, spotOrderGuess, type QueryAnalysis } from '../../daemon/eval/adversaries.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';
import { seededRandom } from '../../daemon/util/random.js';

const SPOTS = Array.from({ length: 25 }, (_, i) => `s${i}`);
// s24 is the most central, s0 the least.
const RANK = new Map(SPOTS.map((id, i) => [id, i]));

t.test('the most central spot always wins, the least never, one in the middle by the count below it', async (t) => {
  t.equal(spotOrderFloor(['s24'], RANK, 4), 1, 'nothing outranks the top spot');
  t.equal(spotOrderFloor(['s0'], RANK, 4), 0, 'every decoy outranks the bottom spot');
  // 12 spots below s12: C(12, 3) / C(24, 3) = 220 / 2024.
  t.ok(Math.abs(spotOrderFloor(['s12'], RANK, 4) - 220 / 2024) < 1e-12, 'C(below, k-1) / C(others, k-1)');
  t.ok(Math.abs(spotOrderFloor(['s24', 's0'], RANK, 4) - 0.5) < 1e-12, 'averaged over real queries');
  t.equal(spotOrderFloor(['not-a-spot'], RANK, 4), 0, 'a spot outside the order is left out');
});

t.test('it is what the guess wins when the decoys are uniform draws from the other spots', async (t) => {
  const random = seededRandom(7);
  // Wearers who favour central spots: real spots drawn with weight rank + 1.
  const real: string[] = [];
  for (let q = 0; q < 20_000; q++) {
    let left = random.next() * ((SPOTS.length * (SPOTS.length + 1)) / 2);
    let i = 0;
    while ((left -= i + 1) > 0) i++;
    real.push(SPOTS[Math.min(i, SPOTS.length - 1)]);
  }
  const analyses: QueryAnalysis[] = real.map((r, q) => {
    const decoys = random.shuffle(SPOTS.filter((s) => s !== r)).slice(0, 3);
    return { record: { t: q * 1_000, reply_topic: 'x' } as ServerRecord, components: [r, ...decoys].map((id) => ({ id, weight: 1 })), scores: [], residual: new Float64Array(0), residualNorm: 0 };
  });
  const guesses = spotOrderGuess('central', RANK).guess(analyses);
  const won = guesses.filter((g, q) => g === real[q]).length / real.length;
  const floor = spotOrderFloor(real, RANK, 4);
  t.comment(`simulated ${won.toFixed(3)}, floor ${floor.toFixed(3)}`);
  t.ok(floor > 0.35, 'wearers who favour central spots lift the floor well above 1/k');
  t.ok(Math.abs(won - floor) < 0.015, 'and uniform decoys win exactly that, within sampling error');
});

t.test('over several worlds: the mean of their floors and the spread between them', async (t) => {
  const worlds = [['s24'], ['s0'], ['s24', 's0']];
  const { mean, sd } = expectedSpotOrderFloor(worlds, RANK, 4);
  t.ok(Math.abs(mean - 0.5) < 1e-12, 'floors 1, 0 and 0.5 average to 0.5');
  t.ok(Math.abs(sd - 0.5) < 1e-12, 'their sample standard deviation');
  t.same(expectedSpotOrderFloor([['s12'], ['s12']], RANK, 4).sd, 0, 'worlds alike: no spread');
});
