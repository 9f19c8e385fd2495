/**
 * Persistence (DESIGN §4 "Frames come in sequences"). Consecutive frames of smart glasses are nearly the same
 * picture (feature cosine ≈ 0.99); decoys follow the public decoy model — independent `sampleView` draws (two views
 * of one spot: ≈ 0.86), or views that drift with a public correlation time τ (decoys.ts ViewDrift). Whatever that
 * model is, the user's component is the one whose view state behaves unlike it across neighbouring queries: it
 * persists where decoys are redrawn, and it breaks where decoys drift — e.g. where a dummy shows the user's spot
 * with a decoy view that does not continue the user's frames.
 *
 * What the server does: per query it fits the components' expected views and reads each component's view state
 * (view-fit.ts: posterior view coefficients along the spot's own view directions, whitened). For a spot present in
 * two queries of one session within `window` steps, gap Δ apart, the statistic is t = √J · cos(state_a, state_b)
 * (J directions). Under the decoy model the two views are correlated ρ = exp(−Δ/τ) (ρ = 0 without drift); the
 * distribution of t for each ρ comes from the server's own simulation (simulate.ts, the device's synthesiser on a
 * simulated clock). τ is the public configuration when given; otherwise the server fits it to its traffic by
 * maximum likelihood over a grid, allowing one user component per query (most components are decoys). Each pair
 * adds the log-likelihood ratio "user's pair" against "decoys' pair" (the simulated N(μ(ρ), σ(ρ))); the user's
 * pair is an even mixture of "one held view seen twice" (the simulated statistic at ρ = 1) and "anything" (uniform
 * over t's range: a frame next to a dummy's decoy of the user's spot, a new view). The attack names the component
 * with the largest total.
 * With τ = 0 this is the plain persistence test: the user's component persists (t ≈ √J) while decoys scatter
 * around 0; with drift, the user's component is the one whose state breaks where a decoy's would have held.
 */
import type { Random } from '../../util/random.js';
import type { RegionSpot } from '../../transport/messages.js';
import { sessions, type QueryAnalysis, type SpotAttack } from '../adversaries.js';
import { argMax, dot64, meanAndSd } from './linalg.js';
import { KMixSimulator } from './simulate.js';
import type { SpotModels } from './spot-models.js';
import { fitViews } from './view-fit.js';

export interface PersistenceOptions {
  k: number;
  sigma: number;
  /** Reply size the device asks for (only shapes the simulated replies). */
  topM: number;
  random: Random;
  /** Decoy drift correlation time from the public configuration, seconds (0: independent decoys); absent: fitted. */
  driftSeconds?: number;
  /**
   * The device's two-scale decoy drift from the public configuration (privacy.transform.decoyDrift); when given, the decoy
   * model's correlation at a gap is that of the two processes and no τ is fitted.
   */
  viewDrift?: { fastSeconds: number; slowSeconds: number; slowShare: number };
  /** Simulated spot pairs per correlation level. Default 150. */
  simulations?: number;
  /** Neighbouring queries compared on each side, within the session. Default 2. */
  window?: number;
}

/** Correlation levels simulated; the statistic's mean and deviation are interpolated between them. */
const RHO_GRID = [0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 1];
/** Correlation times tried when τ is fitted to the traffic, seconds (0: independent decoys). */
const TAU_GRID = [0, 1, 2, 5, 10, 20, 40, 80, 160, 320, 640, 1280];
/** A density uniform over the statistic's range, about [−√5, √5]. */
const ANY_DENSITY = 0.2;
const LOG_NORMAL_CONSTANT = 0.5 * Math.log(2 * Math.PI);
/** Smallest deviation of the statistic used: quantisation and decomposition noise the simulation may understate. */
const MIN_SD = 0.05;

/** The statistic's mean and deviation under the decoy model, per simulated correlation level. */
export type PersistenceCalibration = { rho: number; mean: number; sd: number }[];

/** One spot seen in two neighbouring queries of a session. */
interface Pair {
  query: number;
  component: number;
  gapMs: number;
  t: number;
}

export class PersistenceAttack implements SpotAttack {
  readonly name = 'persistence';
  readonly calibration: PersistenceCalibration;
  /** τ used by the last `evidence` call, seconds. */
  driftSeconds: number | undefined;
  private readonly window: number;

  constructor(
    private readonly models: SpotModels,
    gallery: RegionSpot[],
    private readonly options: PersistenceOptions,
  ) {
    this.window = options.window ?? 2;
    this.driftSeconds = options.driftSeconds;
    // Drift on a 1 s correlation time: a gap of −ln ρ seconds gives correlation ρ.
    const simulator = new KMixSimulator(gallery, { ...options, viewDrift: undefined, driftSeconds: 1 });
    let clock = 0;
    // Pairs far apart on the simulated clock: nothing carries over from one to the next.
    const start = () => (clock += 1e9);
    this.calibration = RHO_GRID.map((rho) => ({ rho, ...calibrate(models, simulator, options.k, rho, options.simulations ?? 150, start) }));
  }

  /** −log density of `t` under the decoy model for two views correlated `rho`, up to the constant ½·log 2π. */
  surprise(t: number, rho: number): number {
    const { mean, sd } = this.nullAt(rho);
    return 0.5 * ((t - mean) / sd) ** 2 + Math.log(sd);
  }

  /**
   * Per query, per component (in `components` order): the summed log-likelihood ratio of its pairs with
   * neighbouring queries, "the user's" against "a decoy's" (`userRatio`).
   */
  evidence(analyses: readonly QueryAnalysis[]): number[][] {
    const pairs = this.pairs(analyses);
    const tau = this.options.viewDrift ? 0 : (this.options.driftSeconds ?? this.fitDrift(pairs));
    this.driftSeconds = tau;
    const out = analyses.map((a) => a.components.map(() => 0));
    for (const p of pairs) out[p.query][p.component] += this.userRatio(p, tau);
    return out;
  }

  guess(analyses: readonly QueryAnalysis[]): (string | null)[] {
    return this.evidence(analyses).map((scores, i) => analyses[i].components[argMax(scores)]?.id ?? null);
  }

  /**
   * The τ of the grid under which the session's pairs are likeliest, each query holding at most one user component
   * (or none) whose pairs follow the user's model and decoys whose pairs follow the decoy model at τ: the user's
   * pairs cannot drag τ, whichever way they differ from the decoys'.
   */
  fitDrift(pairs: readonly Pair[]): number {
    const byQuery = new Map<number, Map<number, Pair[]>>();
    for (const p of pairs) {
      const components = byQuery.get(p.query) ?? new Map<number, Pair[]>();
      components.set(p.component, [...(components.get(p.component) ?? []), p]);
      byQuery.set(p.query, components);
    }
    const logLikelihood = TAU_GRID.map((tau) => {
      let total = 0;
      for (const components of byQuery.values()) {
        let decoys = 0;
        const ratios: number[] = [0];
        for (const list of components.values()) {
          let ratio = 0;
          for (const p of list) {
            decoys -= this.surprise(p.t, this.correlation(p.gapMs, tau));
            ratio += this.userRatio(p, tau);
          }
          ratios.push(ratio);
        }
        total += decoys + logMeanExp(ratios);
      }
      return total;
    });
    return TAU_GRID[argMax(logLikelihood)];
  }

  /**
   * log p_user(t) − log N(t; μ(ρ), σ(ρ)) for one pair. The user's pair is either two frames of one held view
   * (the simulated statistic for the same view twice, ρ = 1) or anything at all (a frame and a dummy's decoy of the
   * user's spot, a new view of the spot): an even mixture of that and a uniform density over t's range.
   */
  private userRatio(p: Pair, tau: number): number {
    const held = Math.exp(-this.surprise(p.t, 1) - LOG_NORMAL_CONSTANT);
    return this.surprise(p.t, this.correlation(p.gapMs, tau)) + LOG_NORMAL_CONSTANT + Math.log(0.5 * held + 0.5 * ANY_DENSITY);
  }

  /**
   * The decoy model's correlation between two views of a spot `gapMs` apart: the public two-scale drift when known
   * (the statistic's distribution depends on the total correlation only, so one calibration serves both), else exp(−gap/τ).
   */
  private correlation(gapMs: number, tau: number): number {
    const d = this.options.viewDrift;
    if (!d) return correlation(gapMs, tau);
    if (!(d.fastSeconds > 0)) return 0;
    const s = gapMs / 1000;
    return d.slowShare * Math.exp(-s / d.slowSeconds) + (1 - d.slowShare) * Math.exp(-s / d.fastSeconds);
  }

  private pairs(analyses: readonly QueryAnalysis[]): Pair[] {
    const states = analyses.map((a) => {
      const fit = fitViews(
        a.record.vector,
        a.components.map((c) => c.id),
        this.models,
      );
      return new Map(fit.components.map((c, i) => [c.id, fit.states[i]]));
    });
    const out: Pair[] = [];
    for (const steps of sessions(analyses).values()) {
      steps.forEach((i, n) => {
        for (let m = Math.max(0, n - this.window); m <= Math.min(steps.length - 1, n + this.window); m++) {
          if (m === n) continue;
          const other = states[steps[m]];
          analyses[i].components.forEach((c, j) => {
            const a = states[i].get(c.id);
            const b = other.get(c.id);
            if (a && b && a.length > 0) {
              out.push({ query: i, component: j, gapMs: Math.abs(analyses[i].record.t - analyses[steps[m]].record.t), t: statistic(a, b) });
            }
          });
        }
      });
    }
    return out;
  }

  private nullAt(rho: number): { mean: number; sd: number } {
    const grid = this.calibration;
    let hi = grid.findIndex((g) => g.rho >= rho);
    if (hi <= 0) hi = Math.max(hi, 1);
    const lo = grid[hi - 1];
    const up = grid[hi];
    const f = Math.min(1, Math.max(0, (rho - lo.rho) / (up.rho - lo.rho || 1)));
    return { mean: lo.mean + f * (up.mean - lo.mean), sd: Math.max(MIN_SD, lo.sd + f * (up.sd - lo.sd)) };
  }
}

function logMeanExp(values: readonly number[]): number {
  const top = Math.max(...values);
  return top + Math.log(values.reduce((s, v) => s + Math.exp(v - top), 0) / values.length);
}

/** exp(−gap/τ); 0 for τ = 0 (independent decoys). */
function correlation(gapMs: number, tauSeconds: number): number {
  return tauSeconds > 0 ? Math.exp(-gapMs / 1000 / tauSeconds) : 0;
}

/** √J · cos(a, b): ≈ N(0, 1) for two independent whitened J-dimensional states. */
export function statistic(a: Float64Array, b: Float64Array): number {
  const na = Math.sqrt(dot64(a, a));
  const nb = Math.sqrt(dot64(b, b));
  return na > 0 && nb > 0 ? (Math.sqrt(a.length) * dot64(a, b)) / (na * nb) : 0;
}

/**
 * The server's simulation: a spot s (popularity draw) in two k-mixes with other components drawn independently;
 * s's second view drawn on the device's synthesiser −ln ρ correlation times after the first. The decomposition is
 * taken as known here (the exhaustive one is right for nearly every query; its misses only add noise).
 */
function calibrate(
  models: SpotModels,
  simulator: KMixSimulator,
  k: number,
  rho: number,
  n: number,
  next: () => number,
): { mean: number; sd: number } {
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = next();
    const [spot] = simulator.spots(1);
    const state = (at: number) => {
      const view = simulator.at(at).view(spot);
      const others = simulator.spots(k - 1, new Set([spot]));
      const q = simulator.mix([spot, ...others], [view, ...others.map((o) => simulator.view(o))], false);
      return fitViews(q.record.vector, q.spots, models).states[0];
    };
    const a = state(start);
    const b = state(rho > 0 ? start - Math.log(rho) * 1000 : start + 5e8);
    if (a.length > 0) values.push(statistic(a, b));
  }
  return meanAndSd(values);
}
