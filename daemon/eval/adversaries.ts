/**
 * The curious server's guesses at the real spot of a query (DESIGN §7). An adversary sees only what the server
 * sees — the transformed vector, the reply it computed, and its own gallery (with popularity) — and knows the
 * algorithm, including k. More adversaries (photo-ness test, path attack, trained classifier) implement the same
 * interface.
 */
import type { Candidate } from '../transport/messages.js';

export interface ServerView {
  /** The query vector as the server decoded it. */
  vector: Float32Array;
  /** The reply the server computed, best first. */
  candidates: readonly Candidate[];
  /** Anonymity set size (public: part of the algorithm's configuration). */
  k: number;
}

export interface Adversary {
  /** Key under `adversaries` in the report. */
  readonly name: string;
  /** The adversary's guess of the real spot id, or null when it cannot guess. */
  guess(view: ServerView): string | null;
}

/** The server's own top-1: what a plain recognizer would answer. */
export const naiveTop1: Adversary = {
  name: 'naive_top1',
  guess: (view) => view.candidates[0]?.id ?? null,
};

/**
 * Bayes with spot popularity. The k best candidates are taken as the mixed components. k-mix draws the real spot
 * from the visit distribution (∝ popularity) and the k−1 decoys from popularity without replacement; treating the
 * decoy draws as independent given the real spot s, P(set | real = s) ∝ pop(s) · Π_{t≠s} pop(t) / (Z − pop(s))^{k−1},
 * so the posterior is ∝ pop(s) / (Z − pop(s))^{k−1}: a popular spot is a likelier real spot. Ties (equal
 * popularity) go to the higher server score, so with a flat popularity profile this adversary is the naive one.
 */
export function popularityBayes(popularity: ReadonlyMap<string, number>): Adversary {
  let total = 0;
  for (const p of popularity.values()) total += p;
  return {
    name: 'popularity_bayes',
    guess(view) {
      const components = view.candidates.slice(0, Math.max(1, view.k));
      let best: string | null = null;
      let bestLog = -Infinity;
      for (const c of components) {
        const pop = popularity.get(c.id) ?? 0;
        if (!(pop > 0)) continue;
        const rest = Math.max(total - pop, Number.MIN_VALUE);
        const logPosterior = Math.log(pop) - (view.k - 1) * Math.log(rest);
        // Candidates arrive best-score first, so a strict '>' keeps the higher score on ties.
        if (logPosterior > bestLog + 1e-12) {
          bestLog = logPosterior;
          best = c.id;
        }
      }
      return best;
    },
  };
}
