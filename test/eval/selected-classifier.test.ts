/**
 * selectedClassifierAuc: the server keeps one classifier, chosen on training folds, and is scored on the held-out fold.
 * Choosing the best of several classifiers by their held-out AUCs reads high when none of them tells anything (the
 * maximum of noisy AUCs); choosing on the training folds does not, and still finds the one feature that tells.
 */
import t from 'tap';
import { crossValidatedAuc, selectedClassifierAuc, type CandidateClassifier } from '../../daemon/eval/adversaries.js';
import { seededRandom } from '../../daemon/util/random.js';

/** 30 sessions of 40 queries, about a quarter real, in runs as a wearer's are. */
function world(seed: number) {
  const random = seededRandom(seed);
  const labels: boolean[] = [];
  const sessions: number[][] = [];
  for (let s = 0; s < 30; s++) {
    const steps: number[] = [];
    let real = false;
    for (let i = 0; i < 40; i++) {
      if (random.next() < 0.15) real = !real;
      steps.push(labels.length);
      labels.push(real);
    }
    sessions.push(steps);
  }
  const noise = (width: number) => labels.map(() => Array.from({ length: width }, () => random.next()));
  return { labels, sessions, noise, random };
}

t.test('on features that tell nothing the kept classifier reads chance, the best of them does not', async (t) => {
  const { labels, sessions, noise } = world(3);
  const candidates: CandidateClassifier[] = Array.from({ length: 8 }, (_, n) => ({ name: `noise${n}`, features: noise(2), model: 'logistic' }));
  const best = Math.max(...candidates.map((c) => crossValidatedAuc(c.features, labels, sessions, { random: seededRandom(1) })));
  const selected = selectedClassifierAuc(candidates, labels, sessions, { random: seededRandom(1) });
  t.comment(`best of 8 held-out AUCs ${best.toFixed(3)}, kept on training folds ${selected.auc.toFixed(3)}`);
  t.ok(best > 0.52, 'the best of 8 noisy AUCs reads over chance');
  t.ok(Math.abs(selected.auc - 0.5) < 0.04, 'the classifier chosen on training folds reads chance');
  t.equal(
    Object.values(selected.kept).reduce((a, b) => a + b, 0),
    15,
    'one classifier kept per fold: 5 folds, 3 deals',
  );
});

t.test('a feature that tells real from dummy is found and kept', async (t) => {
  const { labels, sessions, noise, random } = world(5);
  const telling = labels.map((real) => [(real ? 0.6 : 0) + random.next()]);
  const candidates: CandidateClassifier[] = [
    { name: 'noise', features: noise(3), model: 'logistic' },
    { name: 'telling', features: telling, model: 'logistic' },
    { name: 'trees', features: noise(2), model: 'trees' },
  ];
  const selected = selectedClassifierAuc(candidates, labels, sessions, { random: seededRandom(2) });
  const alone = crossValidatedAuc(telling, labels, sessions, { random: seededRandom(2) });
  t.comment(`kept ${JSON.stringify(selected.kept)}: AUC ${selected.auc.toFixed(3)}; the telling feature alone ${alone.toFixed(3)}`);
  t.equal(selected.kept.telling, 15, 'the telling feature is kept in every fold');
  t.ok(selected.auc > 0.75, 'and reads as it does alone');
  t.ok(Math.abs(selected.auc - alone) < 0.03);
});
