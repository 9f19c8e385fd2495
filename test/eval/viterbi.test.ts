import t from 'tap';
import { viterbi, type Trellis } from '../../daemon/eval/attacks/path.js';

// The textbook example: Healthy (0) or Fever (1), seen as normal, cold, dizzy; the most likely states are H, H, F.
const start = [0.6, 0.4];
const move = [
  [0.7, 0.3],
  [0.4, 0.6],
];
const emit = { normal: [0.5, 0.1], cold: [0.4, 0.3], dizzy: [0.1, 0.6] };
const seen = [emit.normal, emit.cold, emit.dizzy];
const doctor = (transition: 'callback' | 'matrix'): Trellis => ({
  steps: seen.length,
  states: () => 2,
  logPrior: (j) => Math.log(start[j]),
  logTransition: () => (transition === 'callback' ? (from, to) => Math.log(move[from][to]) : Float64Array.from(move.flat(), Math.log)),
  logEmission: (step) => (j) => Math.log(seen[step][j]),
});

t.test('viterbi finds the most likely states, with callbacks or a transition matrix', async (t) => {
  t.same(Array.from(viterbi(doctor('callback'))), [0, 0, 1]);
  t.same(Array.from(viterbi(doctor('matrix'))), [0, 0, 1]);
  // Without the evidence the prior and the transitions alone decide: stay healthy.
  t.same(Array.from(viterbi({ ...doctor('callback'), logEmission: undefined })), [0, 0, 0]);
});

t.test('viterbi: step sizes of their own, ties to the lower index, and its input checked', async (t) => {
  const flat: Trellis = { steps: 3, states: (step) => [2, 3, 1][step], logPrior: () => 0, logTransition: () => () => 0 };
  t.same(Array.from(viterbi(flat)), [0, 0, 0], 'every path alike: the lowest indices');
  t.same(Array.from(viterbi({ ...flat, steps: 0 })), []);
  t.throws(() => viterbi({ ...flat, states: (step) => (step === 1 ? 0 : 2) }), /step 1 has no state/);
  t.throws(() => viterbi({ ...flat, logTransition: () => new Float64Array(5) }), /transition matrix into step 1 has 5 entries, expected 6/);
});
