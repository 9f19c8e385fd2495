import t from 'tap';
import { seededRandom } from '../../daemon/util/random.js';
import { WearerCrowd } from '../../daemon/privacy/wearer-crowd.js';
import { arrivalAttack, crossValidatedAuc, queryFeatureGroups, rhythmAttack, sessions } from '../../daemon/eval/adversaries.js';
import { hitRate, model, toyWearers } from './toy-wearers.js';

/** Rhythm, freshest and stalest attacks on the real queries, and the track-timing classifier's AUC, over two seeds. */
function attacks(paceSigma: number): { rhythm: number; freshest: number; stalest: number; auc: number } {
  const rows = [700, 900].map((seed) => {
    const run = toyWearers({ paceSigma, seed });
    const labels = run.real.map((r) => r !== undefined);
    const features = queryFeatureGroups(run.analyses, undefined).map((g) => g.track.slice(1));
    return {
      rhythm: hitRate(run, rhythmAttack().guess(run.analyses)),
      freshest: hitRate(run, arrivalAttack('freshest').guess(run.analyses)),
      stalest: hitRate(run, arrivalAttack('stalest').guess(run.analyses)),
      auc: crossValidatedAuc(features, labels, [...sessions(run.analyses).values()], { random: seededRandom(seed) }),
    };
  });
  const mean = (key: keyof (typeof rows)[number]) => rows.reduce((a, r) => a + r[key], 0) / rows.length;
  return { rhythm: mean('rhythm'), freshest: mean('freshest'), stalest: mean('stalest'), auc: mean('auc') };
}

/**
 * The rhythm attack (docs/privacy.md): tracks that all draw from one learned rhythm leave a wearer who lingers as the
 * stalest and one who hurries as the freshest, and a server that splits sessions by their rhythm reads which. With
 * each decoy track a person of its own pace, the wearer is one pace among k. 18 wearers of three kinds × 1 h, k = 4,
 * a new identity every 3 min (chance 0.25). Measured here: rhythm 0.308 → 0.253, freshest 0.285 → 0.260, stalest
 * 0.254 → 0.227, track AUC 0.679 → 0.655 (with 24 wearers and three seeds, log-sd 0.8: rhythm 0.272; 1.2: 0.235).
 */
t.test('decoy tracks of their own pace: the rhythm of a session points at the wearer less', async (t) => {
  const before = attacks(0);
  const after = attacks(1);
  const show = (a: ReturnType<typeof attacks>) => `rhythm ${a.rhythm.toFixed(3)}, freshest ${a.freshest.toFixed(3)}, stalest ${a.stalest.toFixed(3)}, track AUC ${a.auc.toFixed(3)}`;
  t.comment(`one rhythm: ${show(before)}`);
  t.comment(`paces of log-sd 1: ${show(after)}`);
  t.ok(before.rhythm > 0.28, 'the leak is there with one rhythm for every track');
  t.ok(after.rhythm < before.rhythm - 0.03, 'and smaller with a pace per decoy track');
  t.ok(after.freshest < before.freshest, 'the freshest track is the wearer less often');
  t.ok(after.auc < before.auc, 'track timing tells real queries from dummies less well');
});

t.test('phantomPace 0 draws exactly what the crowd drew before it existed', async (t) => {
  const picks = (options: { phantomPaceSigma?: number }) => {
    let now = 0;
    const crowd = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(5), clock: () => now, ...options });
    const out: string[] = [];
    for (let slot = 0; slot < 600; slot++) {
      now = slot * 1_000;
      if (slot % 200 === 199) crowd.newIdentity();
      out.push(...crowd.pickDecoySpots(4, new Set()));
    }
    return out;
  };
  t.same(picks({ phantomPaceSigma: 0 }), picks({}), 'the same spots at the same slots');
  t.notSame(picks({ phantomPaceSigma: 1 }), picks({}), 'and a pace changes them');
  t.throws(() => new WearerCrowd({ map: model, tracks: 4, random: seededRandom(5), phantomPaceSigma: -1 }), /phantomPaceSigma must be >= 0/);
});

t.test('each decoy track keeps one pace: their median visits differ as people\'s do', async (t) => {
  // Dummies only: track j is shown at place j of every pick. The median visit of each track, over 40 crowds.
  const medianRun = (paceSigma: number): number[] => {
    const logs: number[] = [];
    for (let c = 0; c < 40; c++) {
      let now = 0;
      const crowd = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(2_000 + c), clock: () => now, phantomPaceSigma: paceSigma });
      const runs: number[][] = [[], [], [], []];
      const since = [0, 0, 0, 0];
      let last: string[] = [];
      for (let slot = 0; slot < 7_200; slot++) {
        now = slot * 1_000;
        const shown = crowd.pickDecoySpots(4, new Set());
        shown.forEach((id, j) => {
          if (last[j] !== undefined && last[j] !== id) {
            runs[j].push(now - since[j]);
            since[j] = now;
          }
        });
        last = shown;
      }
      // Track 0 is the wearer's shadow (pace 1); the decoy tracks are 1..3.
      for (const r of runs.slice(1)) if (r.length >= 5) logs.push(Math.log([...r].sort((a, b) => a - b)[r.length >> 1]));
    }
    return logs;
  };
  const sd = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  };
  const [one, paced] = [sd(medianRun(0)), sd(medianRun(1))];
  t.comment(`log-sd of the decoy tracks' median visits: one rhythm ${one.toFixed(2)}, paces of log-sd 1 ${paced.toFixed(2)}`);
  t.ok(paced > one + 0.4, 'tracks differ in pace as people do');
});
