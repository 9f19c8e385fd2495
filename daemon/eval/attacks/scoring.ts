/**
 * The harness's side of the attacks in this folder: ground truth enters here, only to score what the attacks
 * produced from the server's records (never inside an attack).
 */
import type { ServerRecord } from '../wiretap.js';
import type { Random } from '../../util/random.js';
import { linkSessions, type SessionLink } from './rotation.js';
import type { SessionProfile } from '../session-profile.js';

/** What the harness knows of one query on the wire. */
export interface QueryTruth {
  user: number;
  /** The real spot; null for a dummy (and for an off-gallery frame, which shows no spot). */
  spot: string | null;
  /** A real query whose frame shows no gallery spot. */
  offGallery?: boolean;
}

/** The track features of the dummy classifier on OMP components, in the order queryFeatureGroups() gives them. */
export const TRACK_FEATURES = ['gap', 'appeared', 'since', 'until'] as const;
/** The track features on exact components (adversaries.ts exactTrackFeatures), each read as one group. */
export const EXACT_TRACK_FEATURES = ['exact_appeared', 'exact_since', 'exact_until'] as const;

/** Figures the attacks of this folder add to the report (DESIGN §7). */
export interface StrongerAttackFigures {
  /** Share of real queries whose real spot is among the k components: greedy (OMP) and exhaustive decompositions. */
  decomposition_recall: { omp: number; exhaustive: number };
  /** Held-out ROC AUC of the timing classifier, real vs dummy (folded into dummy_auc). */
  timing_auc: number;
  /** Held-out ROC AUC of the requested reply size alone, real vs dummy (folded into dummy_auc). */
  topm_auc: number;
  /**
   * The dummy classifier on one group of its features at a time: the reply's scores, the components' shape, the
   * tracks' timing, where the query falls in its session (SESSION_FEATURES; reports before 2026-12-05's thirteenth
   * session do not have it), how like its neighbours in the session a query is (PERSISTENCE_FEATURES; reports before
   * 2026-12-08's twenty-ninth session do not have it) (logistic regression); and `nonlinear`, all features read by
   * gradient-boosted trees, same folds.
   */
  dummy_auc_by: { scores: number; shape: number; track: number; session: number; persistence?: number; nonlinear: number };
  /**
   * The same classifiers (all features, the track group; logistic regression, same folds) with the AUC taken only
   * between queries of one session: what is left when all that tells sessions apart is set aside (how many real
   * queries a wearer sends, and the pace the tracks learned from that wearer). Not folded into dummy_auc; reports before
   * 2026-12-05's thirteenth session do not have it.
   */
  dummy_auc_within_session?: { all: number; track: number; persistence?: number };
  /**
   * `dummy_auc` as computed (the best of every classifier) on labels that keep how real queries fall in sessions but
   * have nothing to do with the queries (permutedSessionLabels), over a few permutations: what the evaluation's own
   * noise gives a defence that leaks nothing. Reports before 2026-12-05's thirteenth session do not have it.
   */
  dummy_auc_null?: { mean: number; sd: number; max: number; runs: number };
  /**
   * The held-out AUC of the one classifier a server keeps when it chooses among the same candidates on training folds
   * only (selectedClassifierAuc, decision 70): the choice never sees the labels it is scored on. `_kept` counts how
   * often each candidate was chosen, `_null` is the same on the null's permuted labels. Beside `dummy_auc`, which
   * chooses on the held-out labels and so reads high by the best of several noisy AUCs. Reports before 2026-12-08's
   * twenty-ninth session do not have them.
   */
  dummy_auc_selected?: number;
  dummy_auc_selected_kept?: Record<string, number>;
  dummy_auc_selected_null?: { mean: number; sd: number; max: number; runs: number };
  /**
   * The track group one feature at a time (TRACK_FEATURES, on OMP components): the gap since the session's previous
   * query, whether a spot appeared in this query, how long the freshest spot has been shown, how long it will stay;
   * and on exact components (EXACT_TRACK_FEATURES): whether a spot appeared, how long each of the k spots has been
   * shown, how long each will stay (all k at once). Reports before 2026-12-05's ninth session have the first four only.
   */
  dummy_auc_track_by: Record<(typeof TRACK_FEATURES)[number] | (typeof EXACT_TRACK_FEATURES)[number], number>;
  /** ROC AUC of the off-gallery score, off-gallery real queries vs dummies (0.5 when there are none). */
  offgallery_auc: number;
  /** Identity changes linked to the right previous session, and what guessing among the candidates would get. */
  rotation_bridging: number;
  /** The same linker reading also the spots the two sessions show across the change (rotation.ts). */
  rotation_bridging_spots: number;
  /**
   * The same linker reading every spot shown within a window of the change (the new session's first and the ended
   * session's last `window_s` seconds): a spot held back at the change and arriving a few seconds into the new session
   * escapes the first query but not this. The best window of ROTATION_WINDOWS_S, as a server would keep.
   */
  rotation_bridging_window?: { window_s: number; bridging: number };
  /**
   * The windowed spot linker also reading the new session's spots as the next steps of the ended one's on the walk
   * model (rotation.ts `path`): a wearer who walks on from a spot held across the change arrives near it. Best window.
   */
  rotation_bridging_path?: { window_s: number; bridging: number };
  rotation_bridging_chance: number;
  rotations: number;
  /**
   * What a blind prior would get in this run (adversaries.ts spotOrderNull): random spot orders' guesses among the
   * exact components, as mean, standard deviation and 95th percentile of their rates over 200 orders.
   */
  spot_order_null: { mean: number; sd: number; p95: number };
  /**
   * What `central_spot` would win if every real query's decoys were uniform draws from the region (adversaries.ts
   * spotOrderFloor): the share of its rate that comes from where the run's wearers stood, not from the device.
   */
  central_spot_floor: number;
  /** Where real queries fall in their sessions, read with the ground truth (session-profile.ts). */
  session_profile?: SessionProfile;
}

/** Windows, seconds, the windowed rotation linker tries (`rotation_bridging_window`). */
export const ROTATION_WINDOWS_S = [15, 30, 60, 120] as const;

/** Share of the queries `among` whose real spot is in `sets[i]`. */
export function recall(sets: readonly (readonly string[])[], truths: readonly QueryTruth[], among: readonly number[]): number {
  return among.length === 0 ? 0 : among.filter((i) => sets[i].includes(truths[i].spot!)).length / among.length;
}

/**
 * A rotation is a session whose user had a session before it; the right link is that user's latest earlier
 * session. Returns the share of rotations `links` got right; with `chance`, also the mean share a linker choosing
 * uniformly among the same candidates gets (rotation.ts, `linkSessions` with a random source), over `runs` runs.
 */
export function scoreLinks(
  links: readonly SessionLink[],
  records: readonly ServerRecord[],
  truths: readonly QueryTruth[],
  chance?: { random: Random; runs?: number },
): { bridging: number; chance: number; rotations: number } {
  const expected = rightLinks(records, truths);
  const share = (found: readonly SessionLink[]) =>
    expected.size === 0 ? 0 : found.filter((l) => expected.has(l.session) && expected.get(l.session) === l.previous).length / expected.size;
  const runs = chance && expected.size > 0 ? (chance.runs ?? 20) : 0;
  let random = 0;
  for (let run = 0; run < runs; run++) random += share(linkSessions(records, { random: chance!.random })) / runs;
  return { bridging: share(links), chance: random, rotations: expected.size };
}

/** Per session that follows an earlier one of the same user, that earlier session (the latest). */
function rightLinks(records: readonly ServerRecord[], truths: readonly QueryTruth[]): Map<string, string> {
  const owner = new Map<string, { user: number; first: number }>();
  records.forEach((r, i) => {
    const seen = owner.get(r.reply_topic);
    if (!seen || r.t < seen.first) owner.set(r.reply_topic, { user: truths[i].user, first: r.t });
  });
  const byUser = new Map<number, { topic: string; first: number }[]>();
  for (const [topic, o] of owner) byUser.set(o.user, [...(byUser.get(o.user) ?? []), { topic, first: o.first }]);
  const out = new Map<string, string>();
  for (const list of byUser.values()) {
    list.sort((a, b) => a.first - b.first);
    list.slice(1).forEach((s, i) => out.set(s.topic, list[i].topic));
  }
  return out;
}
