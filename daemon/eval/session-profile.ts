/**
 * Where real queries fall in their sessions, read from the record with the ground truth beside it: the numbers that
 * every open question of the session-level leak (docs/privacy.md, fourteenth and fifteenth sessions) was answered
 * from, by scripts that did not outlive their session. The dummy classifier reads a query's place in its session
 * (SESSION_FEATURES); this says, in plain shares, what it has to read: the real share by the session's age and by
 * the session's length (and how much of the latter is which devices the sessions came from), and how often the spot
 * that appeared last in a session is the real one, by how many spot changes the session has shown.
 */
import { sessions, spotAges, type QueryAnalysis } from './adversaries.js';
import { median } from './attacks/linalg.js';
import { round } from './stats.js';

/** The figures of this module are reported to 3 decimals. */
const round3 = (x: number) => round(x, 3);

/** Ground truth of one query, as the harness keeps it. */
export interface ProfileTruth {
  user: number;
  spot: string | null;
  offGallery?: boolean;
}

export interface ShareBin {
  queries: number;
  real_share: number;
}

export type AgeBin = ShareBin & { from_s: number; to_s: number | null };

export interface SessionProfile {
  /** Real share of all queries (a real query: a frame of a spot or of no spot, as `dummy_auc` labels it). */
  real_share: number;
  /** Sessions after a device's first (a device's first session starts with the device), by seconds since their first query. */
  by_age: AgeBin[];
  /** A device's first sessions, by seconds since their first query: where a device that has just come up starts. */
  first_by_age: AgeBin[];
  /**
   * Sessions that began and ended inside the run (neither a device's first nor its last), by length quartile, shortest
   * first. `device_share` is the whole-run real share of the devices behind them, weighted as their queries are: a
   * quartile whose `real_share` is above it holds more real queries than its devices do elsewhere.
   */
  by_length: (ShareBin & { sessions: number; devices: number; max_s: number; device_share: number })[];
  /**
   * Real queries of a gallery spot whose freshest component (appeared last in the session; ties shared) is the real
   * spot, by the spot changes the session had shown up to the query: `1` is between its first and second change.
   * Before the first change every component was there from the start and none is the freshest.
   */
  freshest_by_changes: { changes: string; queries: number; freshest_is_real: number }[];
  /**
   * Identity changes (a device's session after another of its own), and among them those whose new session showed the
   * old one's last real spot in a real query: as its first query, and within CARRY_WINDOW_S of its first query. What
   * the spot linker (`rotation_bridging_spots`, `rotation_bridging_window`) reads, counted with the ground truth.
   */
  rotation_carry: { changes: number; first_query: number; within_window: number; window_s: number; walked_on?: WalkedOn };
}

/**
 * With the map's distances: changes whose old session ended on a real query of a gallery spot and whose new session
 * showed one (its first), and how often that first spot is the nearest to the old one's last among the first real
 * spots of every new session that began within CARRY_WINDOW_S of it (other devices' included; ties shared), against
 * one over the number of such sessions. A wearer who walks on across a change arrives near the spot held back; what
 * `rotation_bridging_path` would have to read, counted with the ground truth.
 */
export interface WalkedOn {
  changes: number;
  nearest: number;
  chance: number;
  /** Median distance (m) from the old session's last real spot to the new one's first, and to the other new sessions'. */
  median_m: number;
  others_median_m: number;
}

/** How far into a new session `rotation_carry` looks for the old session's last real spot. */
const CARRY_WINDOW_S = 60;

/** Age bins, seconds (the last one open). */
const AGE_EDGES_S = [0, 15, 60, 120, 180, 240];
/** Change-count bins: [from, to] inclusive, to = Infinity for the last. */
const CHANGE_BINS: readonly [number, number][] = [
  [1, 1],
  [2, 3],
  [4, Infinity],
];

/**
 * `analyses` are the record's queries with the components a decomposition found (the exhaustive one, for exact
 * spots); `truths` their ground truth, index for index.
 */
export function sessionProfile(
  analyses: readonly QueryAnalysis[],
  truths: readonly ProfileTruth[],
  distance?: (a: string, b: string) => number,
): SessionProfile {
  const isReal = (i: number) => truths[i].spot !== null || truths[i].offGallery === true;
  const bySession = [...sessions(analyses).values()].filter((steps) => steps.length > 0);
  const deviceOf = (steps: readonly number[]) => truths[steps[0]].user;
  const start = (steps: readonly number[]) => analyses[steps[0]].record.t;
  const end = (steps: readonly number[]) => analyses[steps[steps.length - 1]].record.t;

  // A device's sessions in time order: its first and last are cut by the run, not by an identity change.
  const ofDevice = new Map<number, number[][]>();
  for (const steps of bySession) ofDevice.set(deviceOf(steps), [...(ofDevice.get(deviceOf(steps)) ?? []), steps]);
  const first = new Set<number[]>();
  const last = new Set<number[]>();
  for (const list of ofDevice.values()) {
    list.sort((a, b) => start(a) - start(b));
    first.add(list[0]);
    last.add(list[list.length - 1]);
  }
  const deviceShare = new Map<number, number>();
  for (const [device, list] of ofDevice) {
    const steps = list.flat();
    deviceShare.set(device, share(steps.filter(isReal).length, steps.length));
  }

  const byAge = (group: readonly (readonly number[])[]): AgeBin[] => {
    const bins = AGE_EDGES_S.map((from, j) => ({ from_s: from, to_s: AGE_EDGES_S[j + 1] ?? null, n: 0, real: 0 }));
    for (const steps of group) {
      const t0 = start(steps);
      for (const i of steps) {
        const age = (analyses[i].record.t - t0) / 1000;
        const bin = bins.filter((b) => age >= b.from_s).pop()!;
        bin.n++;
        if (isReal(i)) bin.real++;
      }
    }
    return bins.map((b) => ({ from_s: b.from_s, to_s: b.to_s, queries: b.n, real_share: share(b.real, b.n) }));
  };

  const middle = bySession.filter((steps) => !first.has(steps) && !last.has(steps)).sort((a, b) => end(a) - start(a) - (end(b) - start(b)));
  const byLength = [0, 1, 2, 3].map((q) => {
    const group = middle.slice(Math.floor((q * middle.length) / 4), Math.floor(((q + 1) * middle.length) / 4));
    const steps = group.flat();
    const expected = steps.reduce((sum, i) => sum + deviceShare.get(truths[i].user)!, 0);
    return {
      sessions: group.length,
      devices: new Set(group.map(deviceOf)).size,
      max_s: group.length === 0 ? 0 : round3((end(group[group.length - 1]) - start(group[group.length - 1])) / 1000),
      queries: steps.length,
      real_share: share(steps.filter(isReal).length, steps.length),
      device_share: share(expected, steps.length),
    };
  });

  const { since } = spotAges(analyses);
  const changeBins = CHANGE_BINS.map(([from, to]) => ({ from, to, n: 0, hits: 0 }));
  for (const steps of bySession) {
    let changes = 0;
    let previous: string[] | undefined;
    for (const i of steps) {
      const ids = analyses[i].components.map((c) => c.id);
      if (previous && ids.some((id) => !previous!.includes(id))) changes++;
      previous = ids;
      const spot = truths[i].spot;
      if (spot === null || truths[i].offGallery || changes === 0) continue;
      const bin = changeBins.find((b) => changes >= b.from && changes <= b.to)!;
      const youngest = Math.min(...since[i]);
      const freshest = ids.filter((_, j) => since[i][j] === youngest);
      bin.n++;
      if (freshest.includes(spot)) bin.hits += 1 / freshest.length;
    }
  }

  const carry = { changes: 0, first_query: 0, within_window: 0, window_s: CARRY_WINDOW_S };
  for (const list of ofDevice.values()) {
    for (let n = 1; n < list.length; n++) {
      carry.changes++;
      const lastReal = lastRealSpot(list[n - 1], truths);
      if (lastReal === undefined) continue;
      const opened = list[n];
      if (truths[opened[0]].spot === lastReal) carry.first_query++;
      if (opened.some((i) => analyses[i].record.t - start(opened) <= CARRY_WINDOW_S * 1000 && truths[i].spot === lastReal)) carry.within_window++;
    }
  }

  const walkedOn = distance && walkedOnAcross(ofDevice, analyses, truths, distance);

  const real = analyses.reduce((n, _, i) => n + (isReal(i) ? 1 : 0), 0);
  return {
    real_share: share(real, analyses.length),
    by_age: byAge(bySession.filter((steps) => !first.has(steps))),
    first_by_age: byAge(bySession.filter((steps) => first.has(steps))),
    by_length: byLength,
    freshest_by_changes: changeBins.map((b) => ({
      changes: b.to === Infinity ? `${b.from}+` : b.from === b.to ? `${b.from}` : `${b.from}-${b.to}`,
      queries: b.n,
      freshest_is_real: share(b.hits, b.n),
    })),
    rotation_carry: walkedOn ? { ...carry, walked_on: walkedOn } : carry,
  };
}

/** `rotation_carry.walked_on`: `ofDevice` holds each device's sessions in time order. */
function walkedOnAcross(
  ofDevice: ReadonlyMap<number, readonly (readonly number[])[]>,
  analyses: readonly QueryAnalysis[],
  truths: readonly ProfileTruth[],
  distance: (a: string, b: string) => number,
): WalkedOn {
  const firstReal = (steps: readonly number[]) => steps.map((i) => truths[i].spot).find((spot) => spot !== null);
  // Every new session (a device's after its first) with a real spot, by its start.
  const opened = [...ofDevice.values()].flatMap((list) =>
    list.slice(1).flatMap((steps) => {
      const spot = firstReal(steps);
      return spot === undefined ? [] : [{ steps, spot, start: analyses[steps[0]].record.t }];
    }),
  );
  const out = { changes: 0, nearest: 0, chance: 0 };
  const own: number[] = [];
  const others: number[] = [];
  for (const list of ofDevice.values()) {
    for (let n = 1; n < list.length; n++) {
      const from = lastRealSpot(list[n - 1], truths);
      const to = opened.find((o) => o.steps === list[n]);
      if (from === undefined || !to) continue;
      const rivals = opened.filter((o) => o !== to && Math.abs(o.start - to.start) <= CARRY_WINDOW_S * 1000).map((o) => distance(from, o.spot));
      const mine = distance(from, to.spot);
      out.changes++;
      out.chance += 1 / (rivals.length + 1);
      if (rivals.every((d) => d >= mine)) out.nearest += 1 / (1 + rivals.filter((d) => d === mine).length);
      own.push(mine);
      others.push(...rivals);
    }
  }
  return {
    changes: out.changes,
    nearest: share(out.nearest, out.changes),
    chance: share(out.chance, out.changes),
    median_m: own.length === 0 ? 0 : round3(median(own)),
    others_median_m: others.length === 0 ? 0 : round3(median(others)),
  };
}

/** The spot of a session's last real query of a gallery spot. */
function lastRealSpot(steps: readonly number[], truths: readonly ProfileTruth[]): string | undefined {
  return steps.map((i) => truths[i].spot).filter((spot) => spot !== null).at(-1);
}

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : round3(part / whole);
}

