/**
 * The opening attack (adversaries.ts): the first spot to enter a session is guessed for as long as it stays. Exact
 * components, no pictures: a session whose first change is the wearer's arrival, and one where a phantom moves first.
 */
import t from 'tap';
import { openingAttack, type QueryAnalysis } from '../../daemon/eval/adversaries.js';

/** One query a second of session `topic`, each showing the spots in `shown` (one list per query). */
function session(topic: string, shown: string[][]): QueryAnalysis[] {
  return shown.map((ids, q) => ({
    record: { t: q * 1_000, reply_topic: topic, vector: [], topM: 0, candidates: ids },
    scores: [],
    components: ids.map((id) => ({ id, weight: 1 })),
    residual: new Float64Array(0),
    residualNorm: 0,
  }));
}

t.test('names the first spot to enter a session while it stays, and the freshest elsewhere', async (t) => {
  // w enters at the first change and stays; p2 moves on twice meanwhile (so the freshest is then p2's spot, not w).
  const analyses = session('a', [
    ['p1', 'p2', 'p3', 'p4'],
    ['p1', 'p2', 'p3', 'p4'],
    ['w', 'p2', 'p3', 'p4'],
    ['w', 'q2', 'p3', 'p4'],
    ['w', 'r2', 'p3', 'p4'],
    ['x', 'r2', 'p3', 'p4'],
  ]);
  const guesses = openingAttack().guess(analyses);
  t.same(guesses.slice(2, 5), ['w', 'w', 'w'], 'the opening arrival, through later changes');
  t.equal(guesses[5], 'x', 'once it has gone: the freshest');
  t.not(guesses[1], 'w', 'before the first change it cannot know');
});

t.test('two spots entering at once are no opening to read, and sessions are read apart', async (t) => {
  const both = session('b', [
    ['p1', 'p2', 'p3', 'p4'],
    ['a', 'b', 'p3', 'p4'],
    ['a', 'b', 'c', 'p4'],
  ]);
  const other = session('c', [
    ['s1', 's2', 's3', 's4'],
    ['s1', 'v', 's3', 's4'],
    ['s1', 'v', 's3', 'u'],
  ]);
  const guesses = openingAttack().guess([...both, ...other]);
  t.equal(guesses[2], 'c', 'after an ambiguous opening: the freshest');
  t.same(guesses.slice(4), ['v', 'v'], "the other session's own opening");
});
