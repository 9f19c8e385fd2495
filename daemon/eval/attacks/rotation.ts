/**
 * Rotation bridging (DESIGN §4 "Unlinkability"). A device changes identity (new client id and reply topic) now and
 * then, so the server sees sessions start and end. Linking a new session to the session the same device had before
 * joins the two halves of one user's path. The server knows only the stamps, and the public configuration: a new
 * session that starts one pause after another ended is a likely continuation, and one whose first message falls on
 * the ended session's slot grid even more so, unless the device draws a new phase.
 *
 * Each new session B (in order of its first message) is linked to the ended, not yet linked session A with the
 * largest  log p(gap) + log(½ + ½·N(δ; 0, τ_A)):  gap from A's last message to B's first; p the public pause
 * distribution when given (uniform on [min, max + one period], Gaussian edges one period wide), else the scale-free
 * 1/gap; δ where B's first message falls on A's grid (in periods), τ_A the spread of A's own phases — a phase
 * match counts only when the phase was kept, which the server does not know. A link taken is final, so a mistake
 * can cascade. Chance is the same procedure choosing uniformly among the candidates (`random`): one over the number
 * of candidates at each link, cascades included.
 *
 * With `spots` (each query's decomposed components) the link also reads what the two sessions show across the
 * change: every spot the ended session's last query and the new session's first share adds SHARED_SPOT_LOG_ODDS.
 * Decoy tracks that carried over to the new identity linked 0.82–0.90 of rotations this way (chance 0.11–0.12).
 */
import type { Random } from '../../util/random.js';
import type { ServerRecord } from '../wiretap.js';
import { gridOffset, sessionsOf, slotClock, type SlotClock } from './timing.js';
import type { PathModel } from '../../privacy/walk-model.js';

export interface SessionLink {
  /** The new session's reply topic. */
  session: string;
  /** The session it is linked to as its predecessor, or null (none had ended). */
  previous: string | null;
  /** Sessions it could have been linked to. */
  candidates: number;
}

export interface LinkOptions {
  /** The devices' pause between identities, ms, from the public configuration. */
  pauseMs?: readonly [number, number];
  /** Choose uniformly among the candidates instead (chance). */
  random?: Random;
  /** The spots each record's query shows, as the server decomposes it (record order). */
  spots?: readonly (readonly string[])[];
  /**
   * With `spots`: read the spots of every query within this many ms of the new session's first query and of the ended
   * session's last, not only those two queries. Default 0 (the two queries alone).
   */
  windowMs?: number;
  /**
   * With `spots`: the walk model the server knows, to read a new session's spots as the next steps of the ended one's.
   * The link adds the best log-likelihood ratio, over a spot `a` the ended session showed and a spot `b` the new one
   * showed (within the window), of "someone at `a` is at `b` one gap later" against "a path starts at `b`", when positive.
   * A wearer who walks on from a spot held across the change arrives at a neighbour of it, while the new identity's
   * decoy tracks start anywhere.
   */
  path?: PathModel;
}

/**
 * Log-odds a spot shared across the change adds to a link. Not tuned: a spot in both queries of one device that kept
 * its tracks is the rule, between two devices a coincidence of a few in a hundred spots.
 */
const SHARED_SPOT_LOG_ODDS = 3;

interface Span {
  topic: string;
  first: number;
  last: number;
  clock: SlotClock;
  /** The spots of its first and its last query (with LinkOptions.spots). */
  opening: readonly string[];
  closing: readonly string[];
}

/** Narrowest phase match counted, in periods (stamps are rounded to the millisecond). */
const MIN_PHASE_SPREAD = 0.002;

export function linkSessions(records: readonly ServerRecord[], options: LinkOptions = {}): SessionLink[] {
  const spans: Span[] = [...sessionsOf(records).entries()].map(([topic, steps]) => {
    const times = steps.map((i) => records[i].t);
    const first = times[0];
    const last = times[times.length - 1];
    const window = options.windowMs ?? 0;
    const spotsWhere = (keep: (t: number) => boolean) => [...new Set(steps.flatMap((i) => (keep(records[i].t) ? (options.spots?.[i] ?? []) : [])))];
    return { topic, first, last, clock: slotClock(times), opening: spotsWhere((t) => t <= first + window), closing: spotsWhere((t) => t >= last - window) };
  });
  spans.sort((a, b) => a.first - b.first);
  const linked = new Set<string>();
  return spans.map((b) => {
    const candidates = spans.filter((a) => a !== b && a.last < b.first && !linked.has(a.topic));
    let best: Span | null = null;
    if (options.random) {
      if (candidates.length > 0) best = options.random.pick(candidates);
    } else {
      let bestScore = -Infinity;
      for (const a of candidates) {
        const shared = b.opening.filter((id) => a.closing.includes(id)).length;
        const onward = options.path ? nextStep(options.path, a, b) : 0;
        const score = continuation(a, b.first, options.pauseMs) + SHARED_SPOT_LOG_ODDS * shared + onward;
        if (score > bestScore) [best, bestScore] = [a, score];
      }
    }
    if (best) linked.add(best.topic);
    return { session: b.topic, previous: best?.topic ?? null, candidates: candidates.length };
  });
}

/**
 * The best positive log-likelihood ratio of a spot of `b` following a spot of `a` on one walk (LinkOptions.path): the
 * walk model's next spot after a move (its transition with time enough to have moved and walked there) against a
 * path's start. How long the wearer stood on is not asked: the spot was held across the change, so it says nothing.
 */
function nextStep(path: PathModel, a: Span, b: Span): number {
  let best = 0;
  for (const to of b.opening) {
    if (a.closing.includes(to)) continue;
    const start = path.logPrior(to);
    for (const from of a.closing) best = Math.max(best, path.logTransition(from, to, Number.POSITIVE_INFINITY) - start);
  }
  return best;
}

/** Log-score of "the device of `a` resumed at `first`". */
function continuation(a: Span, first: number, pauseMs: readonly [number, number] | undefined): number {
  const gap = Math.max(first - a.last, 1);
  const period = a.clock.period;
  const outside = pauseMs ? Math.max(0, pauseMs[0] - gap, gap - pauseMs[1] - period) / period : 0;
  const gapScore = pauseMs ? -0.5 * outside * outside : -Math.log(gap);
  const tau = Math.max(a.clock.spread, MIN_PHASE_SPREAD);
  const delta = gridOffset(first, a.clock);
  const density = Math.exp(-0.5 * (delta / tau) ** 2) / (tau * Math.sqrt(2 * Math.PI));
  return gapScore + Math.log(0.5 + 0.5 * density);
}
