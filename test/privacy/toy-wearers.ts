/**
 * A toy world for the wearer crowd's track attacks (wearer-pace.test.ts, wearer-arrival.test.ts): wearers of three
 * kinds, some hurrying past and some lingering, walk a synthetic map; each slot their device sends a real query when it
 * sees a spot and may show it (WearerCrowd.mayShow), else a dummy; identities change every few minutes, waiting for
 * the wearer's spot to leave the wire (decision 47). The server's view is the exact components of every query.
 */
import { seededRandom } from '../../daemon/util/random.js';
import { WearerCrowd, type ArrivalRule } from '../../daemon/privacy/wearer-crowd.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { makeGallery } from './synthetic-gallery.js';
import type { QueryAnalysis } from '../../daemon/eval/adversaries.js';

export const gallery = makeGallery({ seed: 41 });
export const model = new WalkModel(gallery.spots);

/** People unlike each other: some hurry past, some linger (log-normal visit lengths per kind). */
const KINDS = [
  { medianMs: 8_000, sigma: 0.5 },
  { medianMs: 30_000, sigma: 1.0 },
  { medianMs: 75_000, sigma: 0.6 },
];

export interface ToyRun {
  analyses: QueryAnalysis[];
  /** Per query, the real spot of a real query. */
  real: (string | undefined)[];
  /** Per query, the wearer whose device sent it. */
  users: number[];
  /** Slots whose frame of a spot was held back (named on the device, a dummy in its slot), and slots with such a frame. */
  held: number;
  framed: number;
  /** Visits with no real query, and visits in all. */
  unaskedVisits: number;
  visits: number;
  /** From a visit's first slot to its first real query, over the visits asked about (ms). */
  delays: number[];
}

export interface ToyOptions {
  paceSigma: number;
  arrival?: ArrivalRule;
  seed: number;
  wearers?: number;
  slots?: number;
  sessionMs?: number;
  /** WearerCrowdOptions.holdAcrossIdentity (default: the crowd's own). */
  holdAcrossIdentity?: boolean;
  /** WearerCrowdOptions.holdOpening (default: the crowd's own). */
  holdOpening?: boolean;
  /** WearerCrowdOptions.startStationary (default: the crowd's own). */
  startStationary?: boolean;
}

export function toyWearers(options: ToyOptions): ToyRun {
  const { paceSigma, arrival, seed, wearers = 18, slots = 3_600, sessionMs = 180_000, holdAcrossIdentity, holdOpening, startStationary } = options;
  const k = 4;
  const run: ToyRun = { analyses: [], real: [], users: [], held: 0, framed: 0, unaskedVisits: 0, visits: 0, delays: [] };
  for (let s = 0; s < wearers; s++) {
    const kind = KINDS[s % KINDS.length];
    const random = seededRandom(seed + s);
    let now = 0;
    const crowd = new WearerCrowd({ map: model, tracks: k, random: seededRandom(seed + 100 + s), clock: () => now, phantomPaceSigma: paceSigma, arrival, holdAcrossIdentity, holdOpening, startStationary });
    let spot = model.drawStart(random);
    let previous = -1;
    let atSpot = true;
    const visit = () => kind.medianMs * Math.exp(kind.sigma * random.normal());
    let phaseEnd = visit();
    let session = 0;
    let due = sessionMs;
    let visitStart = 0;
    let asked = false;
    const endVisit = () => {
      run.visits++;
      if (!asked) run.unaskedVisits++;
    };
    for (let slot = 0; slot < slots; slot++) {
      now = slot * 1_000;
      while (now >= phaseEnd) {
        if (atSpot) {
          endVisit();
          phaseEnd += 20_000 * Math.exp(0.8 * random.normal());
        } else {
          [previous, spot] = [spot, model.drawNext(spot, previous, random)];
          phaseEnd += visit();
          visitStart = now;
          asked = false;
        }
        atSpot = !atSpot;
      }
      // Identity changes wait while the queries show the wearer's spot, for at most one interval (decision 47).
      if (now >= due && (!crowd.showsWearer() || now >= due + sessionMs)) {
        crowd.newIdentity();
        session++;
        due = now + sessionMs;
      }
      if (!atSpot) crowd.wearerLeft();
      let r = atSpot && random.next() < 0.85 ? model.map.id(spot) : undefined;
      if (r !== undefined) {
        run.framed++;
        if (!crowd.mayShow(r)) {
          run.held++;
          r = undefined;
        } else if (!asked) {
          asked = true;
          run.delays.push(now - visitStart);
        }
      }
      const shown = r ? [r, ...crowd.pickDecoySpots(k - 1, new Set([r]))] : crowd.pickDecoySpots(k, new Set());
      crowd.shown(shown, r, now);
      run.analyses.push({ record: { t: now, reply_topic: `w${s}-${session}`, vector: [], topM: 0, candidates: [] }, components: shown.map((id) => ({ id, weight: 1 })), scores: [], residual: new Float64Array(0), residualNorm: 0 });
      run.real.push(r);
      run.users.push(s);
    }
    if (atSpot) endVisit();
  }
  return run;
}

/** Share of the run's real queries whose real spot `guesses` names. */
export function hitRate(run: ToyRun, guesses: (string | null)[]): number {
  let hits = 0;
  let n = 0;
  run.real.forEach((r, i) => {
    if (r === undefined) return;
    n++;
    if (guesses[i] === r) hits++;
  });
  return hits / n;
}
