/**
 * The server's side of an evaluation: every attack of docs/privacy.md run over what the wiretap recorded, and scored
 * against the ground truth the fleet kept. Nothing here sees a device: a run's records (or a `--replay` of them),
 * the gallery the server knows, and the truth, which only scores.
 */
import { schemaDefault } from '../config/load.js';
import type { WalkModel } from '../privacy/walk-model.js';
import type { RegionSpot } from '../transport/messages.js';
import { seededRandom } from '../util/random.js';
import {
  analyse,
  arrivalAttack,
  centralSpot,
  centrality,
  ComponentTest,
  crossValidatedAuc,
  GalleryIndex,
  hmmPathAttack,
  naiveTop1,
  openingAttack,
  pathAttack,
  permutedSessionLabels,
  selectedClassifierAuc,
  type CandidateClassifier,
  popularityBayes,
  queryFeatureGroups,
  rhythmAttack,
  sessions,
  spotOrderFloor,
  spotOrderNull,
  type ClassifierKind,
  type OwnViews,
  type SpotAttack,
} from './adversaries.js';
import { exhaustiveAnalyses } from './attacks/decompose.js';
import { OffGalleryTest } from './attacks/off-gallery.js';
import { PersistenceAttack } from './attacks/persistence.js';
import { linkSessions } from './attacks/rotation.js';
import { EXACT_TRACK_FEATURES, recall, ROTATION_WINDOWS_S, scoreLinks, TRACK_FEATURES, type StrongerAttackFigures } from './attacks/scoring.js';
import { shadowJump } from './attacks/shadow-jump.js';
import { SpotModels } from './attacks/spot-models.js';
import { timingFeatures } from './attacks/timing.js';
import type { FleetRun } from './fleet.js';
import { sessionProfile } from './session-profile.js';
import { clusteredCi95, rate, rocAuc, round } from './stats.js';
import { streamSeed } from './views.js';
import type { ServerRecord } from './wiretap.js';

/** What the server knows of the world: the gallery it serves, the walk model it assumes, and its own views of spots. */
export interface AttackedWorld {
  region: RegionSpot[];
  walk: WalkModel;
  /** The adversary's own camera views per spot (its component test learns from them). */
  ownViews: OwnViews;
  /** The decoys' public view spread (the model manifest's viewVariation.sigma). */
  sigma: number;
}

/** The ground truth of one recorded query, which only scores the attacks. */
export interface Truth {
  user: number;
  spot: string | null;
  /** A real query whose frame shows no gallery spot (it leaked past the region gate). */
  offGallery?: boolean;
}

/** The headline figures of the attacks (DESIGN §7 table); the rest are StrongerAttackFigures. */
export interface SpotAttackFigures {
  /** The best spot attack: the share of real queries whose spot it named. */
  server_top1: number;
  /** 95 % interval of server_top1 (its best attack), clustered by simulated user. */
  server_top1_ci95: [number, number];
  trajectory_acc: number;
  trajectory_acc_ci95: [number, number];
  dummy_auc: number;
  /** ROC AUC of the component test at telling real components from decoys, on the evaluation's own queries. */
  component_auc: number;
  /** Share of the real spot named by each attack, over real queries. */
  adversaries: Record<string, number>;
}

/**
 * Runs every adversary over the server's records and scores it against the ground truth. Spot attacks run on the
 * greedy (OMP) decomposition and, where named `*_exhaustive` or from attacks/, on the exhaustive one.
 */
export function attack(
  world: AttackedWorld,
  k: number,
  records: readonly ServerRecord[],
  truths: readonly Truth[],
  s: {
    seed: number;
    options: { candidatesPerComponent?: number };
    /** The devices' public privacy configuration, as far as the run knows it (absent: the server fits or ignores it). */
    device?: Partial<FleetRun['deviceSettings']>;
    /** Each attack's guess of every query's spot, in record order (for `--guesses`). */
    onGuesses?: (attack: string, guesses: readonly (string | null)[]) => void;
  },
): SpotAttackFigures & StrongerAttackFigures {
  if (records.length !== truths.length) throw new Error(`the wiretap holds ${records.length} records for ${truths.length} queries`);
  const index = new GalleryIndex({ gallery: world.region, k, walk: world.walk });
  const analyses = records.map((r) => analyse(r, index));
  const models = new SpotModels(world.region, world.sigma);
  // Weights that are not all equal are public configuration: the server then fits free ones to each subset.
  const exhaustive = exhaustiveAnalyses(records, models, index, { freeWeights: (s.device?.mixWeights ?? 'equal') !== 'equal' });
  const componentTest = new ComponentTest(index, world.ownViews, {
    sigma: world.sigma,
    random: seededRandom(streamSeed('adversary', s.seed, 'simulation', k)),
    candidatesPerComponent: s.options.candidatesPerComponent ?? (schemaDefault('edge', 'privacy.transform.candidatesPerComponent') as number),
  });
  // The server's own simulations of the public algorithm, each from its own seed.
  const simulation = (stream: string) => ({
    k,
    sigma: world.sigma,
    topM: records[0]?.topM ?? k * (s.options.candidatesPerComponent ?? (schemaDefault('edge', 'privacy.transform.candidatesPerComponent') as number)),
    random: seededRandom(streamSeed('adversary', s.seed, stream, k)),
  });
  const paths = [pathAttack(world.walk), hmmPathAttack(world.walk)];
  const tracks: SpotAttack[] = [arrivalAttack('freshest'), arrivalAttack('stalest'), rhythmAttack(), openingAttack()];
  const onOmp: SpotAttack[] = [naiveTop1, popularityBayes(index), componentTest, ...tracks, ...paths];
  // The central-spot guess reads exact components only: OMP's picks lean to central references by themselves.
  const onExhaustive: SpotAttack[] = [componentTest, ...tracks, pathAttack(world.walk), centralSpot(index)];
  const runs = [
    ...onOmp.map((a) => ({ name: a.name, attack: a, on: analyses })),
    ...onExhaustive.map((a) => ({ name: `${a.name}_exhaustive`, attack: a, on: exhaustive.analyses })),
    ...[new PersistenceAttack(models, world.region, { ...simulation('persistence'), viewDrift: s.device?.viewDrift }), shadowJump(index)].map((a) => ({
      name: a.name,
      attack: a,
      on: exhaustive.analyses,
    })),
  ];
  const isDummy = (t: Truth) => t.spot === null && !t.offGallery;
  const realSteps = truths.flatMap((t, i) => (t.spot !== null && !t.offGallery ? [i] : []));
  const adversaries: Record<string, number> = {};
  const ci95: Record<string, [number, number]> = {};
  for (const { name, attack: a, on } of runs) {
    const guesses = a.guess(on);
    s.onGuesses?.(name, guesses);
    const hit = realSteps.map((i) => guesses[i] === truths[i].spot);
    adversaries[name] = rate(hit.filter(Boolean).length, realSteps.length);
    ci95[name] = clusteredCi95(hit, realSteps.map((i) => truths[i].user));
  }

  const nullOrders = spotOrderNull(
    exhaustive.analyses,
    new Map(realSteps.map((i) => [i, truths[i].spot!])),
    [...index.byId.keys()],
    seededRandom(streamSeed('adversary', s.seed, 'spot-order-null', k)),
  );

  // Real component vs decoy, on the evaluation's own queries (the adversary trained on its own simulation).
  const componentScores: number[] = [];
  const componentLabels: boolean[] = [];
  analyses.forEach((a, i) => {
    for (const c of a.components) {
      componentScores.push(componentTest.realness(a, c.id));
      componentLabels.push(c.id === truths[i].spot);
    }
  });

  // Real vs dummy, held out by session (the server's own grouping by reply topic), scored within each held-out fold.
  const bySession = [...sessions(analyses).values()];
  const labels = truths.map((t) => !isDummy(t));
  const heldOutAuc = (features: readonly number[][], model: ClassifierKind = 'logistic', within: 'fold' | 'session' = 'fold', truth: readonly boolean[] = labels) =>
    nanToNull(crossValidatedAuc(features, truth, bySession, { random: seededRandom(streamSeed('adversary', s.seed, 'folds', k)), model, within }));
  const groups = queryFeatureGroups(analyses, componentTest, exhaustive.analyses);
  const allFeatures = groups.map((g) => [...g.scores, ...g.shape, ...g.track, ...g.session, ...g.persistence]);
  const timing = timingFeatures(records);
  // The reply size a query asks for is on the wire too: the device grows it until every component's spot fits.
  const topM = records.map((r) => [Math.log(r.topM)]);
  // Every classifier the server may keep (decision 34): all features (linear, and as boosted trees, which a server
  // that is not linear would use: two kinds of real query on either side), each group alone, timing, reply size.
  const candidates: CandidateClassifier[] = [
    { name: 'all', features: allFeatures, model: 'logistic' },
    { name: 'scores', features: groups.map((g) => g.scores), model: 'logistic' },
    { name: 'shape', features: groups.map((g) => g.shape), model: 'logistic' },
    { name: 'track', features: groups.map((g) => g.track), model: 'logistic' },
    { name: 'session', features: groups.map((g) => g.session), model: 'logistic' },
    { name: 'persistence', features: groups.map((g) => g.persistence), model: 'logistic' },
    { name: 'nonlinear', features: allFeatures, model: 'trees' },
    { name: 'timing', features: timing, model: 'logistic' },
    { name: 'topM', features: topM, model: 'logistic' },
  ];
  const classifierAucs = (truth: readonly boolean[]) =>
    Object.fromEntries(candidates.map((c) => [c.name, heldOutAuc(c.features, c.model, 'fold', truth)])) as Record<
      'all' | 'scores' | 'shape' | 'track' | 'session' | 'persistence' | 'nonlinear' | 'timing' | 'topM',
      number
    >;
  const aucs = classifierAucs(labels);
  // The classifier kept by choosing on the training folds only (decision 70), and the same on the null's labels.
  const selectedRandom = seededRandom(streamSeed('adversary', s.seed, 'dummy-auc-selected', k));
  const selectedAuc = (truth: readonly boolean[]) => selectedClassifierAuc(candidates, truth, bySession, { random: selectedRandom });
  const selected = selectedAuc(labels);
  const dummyAucBy = { scores: aucs.scores, shape: aucs.shape, track: aucs.track, session: aucs.session, persistence: aucs.persistence, nonlinear: aucs.nonlinear };
  const dummyAucWithinSession = {
    all: heldOutAuc(allFeatures, 'logistic', 'session'),
    track: heldOutAuc(groups.map((g) => g.track), 'logistic', 'session'),
    persistence: heldOutAuc(groups.map((g) => g.persistence), 'logistic', 'session'),
  };
  // The exact features follow the OMP ones: one 'appeared', then k 'since' and k 'until' order statistics.
  const exactColumns = (name: (typeof EXACT_TRACK_FEATURES)[number]) => {
    const first = TRACK_FEATURES.length + (name === 'exact_appeared' ? 0 : name === 'exact_since' ? 1 : 1 + k);
    return (g: { track: number[] }) => g.track.slice(first, name === 'exact_appeared' ? first + 1 : first + k);
  };
  const dummyAucTrackBy = {
    ...Object.fromEntries(TRACK_FEATURES.map((name, j) => [name, heldOutAuc(groups.map((g) => [g.track[j]]))])),
    ...Object.fromEntries(EXACT_TRACK_FEATURES.map((name) => [name, heldOutAuc(groups.map(exactColumns(name)))])),
  } as StrongerAttackFigures['dummy_auc_track_by'];
  // The same best-of-every-classifier on labels that have nothing to do with the queries (permutedSessionLabels).
  const nullRandom = seededRandom(streamSeed('adversary', s.seed, 'dummy-auc-null', k));
  const nullRuns = Array.from({ length: DUMMY_AUC_NULL_RUNS }, () => {
    const permuted = permutedSessionLabels(labels, bySession, nullRandom);
    return { best: Math.max(...Object.values(classifierAucs(permuted))), selected: selectedAuc(permuted).auc };
  });

  // Off-gallery frames against dummies, by the shape of what the k best views leave unexplained.
  const offGallery = new OffGalleryTest(models, world.region, simulation('off-gallery'));
  const versus = truths.flatMap((t, i) => (t.offGallery || isDummy(t) ? [i] : []));
  const offGalleryAuc = versus.some((i) => truths[i].offGallery)
    ? nanToNull(rocAuc(versus.map((i) => offGallery.score(records[i], exhaustive.decompositions[i])), versus.map((i) => truths[i].offGallery === true)))
    : 0.5;

  // Rotation bridging, with the devices' public pause between identities when the run has one.
  const pause = s.device?.rotatePauseSeconds;
  const linkPause: [number, number] | undefined = pause ? [pause.min * 1000, pause.max * 1000] : undefined;
  const links = linkSessions(records, { pauseMs: linkPause });
  const bridges = scoreLinks(links, records, truths, { random: seededRandom(streamSeed('adversary', s.seed, 'rotation-chance', k)) });
  const shownSpots = exhaustive.decompositions.map((d) => d.components);
  const spotLinks = linkSessions(records, { pauseMs: linkPause, spots: shownSpots });
  const spotBridges = scoreLinks(spotLinks, records, truths);
  const windowed = (path: boolean) =>
    ROTATION_WINDOWS_S.map((window_s) => {
      const options = { pauseMs: linkPause, spots: shownSpots, windowMs: window_s * 1000, path: path ? world.walk : undefined };
      return { window_s, bridging: round(scoreLinks(linkSessions(records, options), records, truths).bridging) };
    }).reduce((a, b) => (b.bridging > a.bridging ? b : a));
  const recallOf = (sets: readonly (readonly string[])[]) => round(recall(sets, truths, realSteps));
  const best = Object.keys(adversaries).reduce((a, b) => (adversaries[b] > adversaries[a] ? b : a));
  const bestPath = [...paths.map((p) => p.name), 'path_attack_exhaustive'].reduce((a, b) => (adversaries[b] > adversaries[a] ? b : a));
  return {
    server_top1_ci95: ci95[best],
    trajectory_acc_ci95: ci95[bestPath],
    server_top1: Math.max(...Object.values(adversaries)),
    trajectory_acc: Math.max(...[...paths.map((p) => p.name), 'path_attack_exhaustive'].map((name) => adversaries[name])),
    // The server keeps whichever classifier tells best: all features (linear or trees) or one group of them.
    dummy_auc: Math.max(...Object.values(aucs)),
    dummy_auc_by: dummyAucBy,
    dummy_auc_within_session: dummyAucWithinSession,
    dummy_auc_null: nullSummary(nullRuns.map((r) => r.best)),
    dummy_auc_selected: nanToNull(selected.auc),
    dummy_auc_selected_kept: selected.kept,
    dummy_auc_selected_null: nullSummary(nullRuns.map((r) => r.selected)),
    dummy_auc_track_by: dummyAucTrackBy,
    component_auc: nanToNull(rocAuc(componentScores, componentLabels)),
    adversaries,
    decomposition_recall: {
      omp: recallOf(analyses.map((a) => a.components.map((c) => c.id))),
      exhaustive: recallOf(exhaustive.decompositions.map((d) => d.components)),
    },
    timing_auc: aucs.timing,
    topm_auc: aucs.topM,
    offgallery_auc: offGalleryAuc,
    rotation_bridging: round(bridges.bridging),
    rotation_bridging_spots: round(spotBridges.bridging),
    rotation_bridging_window: windowed(false),
    rotation_bridging_path: windowed(true),
    rotation_bridging_chance: round(bridges.chance),
    rotations: bridges.rotations,
    spot_order_null: { mean: round(nullOrders.mean), sd: round(nullOrders.sd), p95: round(nullOrders.p95) },
    central_spot_floor: round(spotOrderFloor(realSteps.map((i) => truths[i].spot!), centrality(index), k)),
    session_profile: sessionProfile(exhaustive.analyses, truths, (a, b) => {
      const map = world.walk.map;
      return map.has(a) && map.has(b) ? map.distance(map.indexOf(a), map.indexOf(b)) : Infinity;
    }),
  };
}

/** Label permutations the dummy classifier's null is read from (each costs about as much as the classifiers themselves). */
const DUMMY_AUC_NULL_RUNS = 8;

function nullSummary(values: readonly number[]): { mean: number; sd: number; max: number; runs: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1));
  return { mean: round(mean), sd: round(sd), max: round(Math.max(...values)), runs: values.length };
}

/** JSON has no NaN: an undefined AUC (one class only) is reported as 0.5, the chance level, with 4 decimals. */
function nanToNull(x: number): number {
  return Number.isNaN(x) ? 0.5 : round(x);
}

