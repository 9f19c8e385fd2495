/**
 * What is left of a query once the server has explained it by its components: the server fits q by the
 * components' expected views (reference + view mean, least squares), then explains the residual by the components'
 * view directions. Under the public view model (decoys.ts `sampleView`) component i adds w_i·(Σ_j s_ij z_ij u_ij +
 * isotropic rest) to q, z ~ N(0, 1), w_i its fitted weight; the posterior mean of the z's given the residual (a
 * ridge solve over all components' directions at once, so directions shared between spots are not counted twice)
 * is each component's estimated view state. Persistence compares those states across neighbouring queries; the
 * off-gallery test reads the residual's size and shape.
 */
import { dot64, leastSquares, solveSymmetric, type Vector } from './linalg.js';
import type { SpotModel, SpotModels } from './spot-models.js';

export interface ViewFit {
  components: readonly SpotModel[];
  /** Least-squares weights of q on the components' centres. */
  weights: Float64Array;
  /** |q − its projection on the components' references|. */
  refNorm: number;
  /** |q − its projection on the components' centres (reference + view mean)|. */
  meanNorm: number;
  /** What the centres and every component's view directions leave of q: the energy outside the view subspaces. */
  outsideNorm: number;
  /** Per component, its view coefficients' posterior means divided by their prior deviations (≈ N(0, 1) each). */
  states: Float64Array[];
}

export function fitViews(vector: Vector, componentIds: readonly string[], models: SpotModels): ViewFit {
  const components = componentIds.filter((id) => models.has(id)).map((id) => models.get(id));
  const k = components.length;
  const d = vector.length;
  const centres = components.map((c) => c.centre);
  const weights = leastSquares(centres, vector);
  const r = Float64Array.from(vector);
  centres.forEach((m, i) => {
    for (let t = 0; t < d; t++) r[t] -= weights[i] * m[t];
  });
  const meanNorm2 = dot64(r, r);
  const refWeights = leastSquares(
    components.map((c) => c.unit),
    vector,
  );
  let refNorm2 = dot64(vector, vector);
  components.forEach((c, i) => (refNorm2 -= refWeights[i] * dot64(c.unit, vector)));

  // The directions, flattened: owner[p] is the component of direction p, local[p] its number there.
  const owner: number[] = [];
  const local: number[] = [];
  components.forEach((c, i) => c.directions.forEach((_, j) => (owner.push(i), local.push(j))));
  const p = owner.length;
  const states = components.map((c) => new Float64Array(c.directions.length));
  if (p === 0) {
    const rest = Math.sqrt(Math.max(0, meanNorm2));
    return { components, weights, refNorm: Math.sqrt(Math.max(0, refNorm2)), meanNorm: rest, outsideNorm: rest, states };
  }
  // Ũ = (I − P_M) U, the directions with the centres' span removed (r lies outside that span already):
  // ŨᵀŨ = UᵀU − (UᵀM)(MᵀM)⁻¹(MᵀU) and Ũᵀr = Uᵀr.
  const mtm = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) mtm[i * k + j] = mtm[j * k + i] = dot64(centres[i], centres[j]);
  const utm = Array.from({ length: p }, (_, x) => {
    const row = new Float64Array(k);
    components.forEach((c, i) => (row[i] = models.directionsOnCentre(components[owner[x]], c)[local[x]]));
    return row;
  });
  const solved = utm.map((row) => solveSymmetric(mtm, row, k));
  const gram = new Float64Array(p * p);
  const utr = new Float64Array(p);
  for (let x = 0; x < p; x++) {
    const cx = components[owner[x]];
    utr[x] = dot64(cx.directions[local[x]], r);
    for (let y = x; y < p; y++) {
      const cy = components[owner[y]];
      const block = models.directionGram(cx, cy);
      const v = block[local[x] * cy.directions.length + local[y]] - dot64(utm[x], solved[y]);
      gram[x * p + y] = gram[y * p + x] = v;
    }
  }
  const projection = solveSymmetric(gram, utr, p);
  const outside2 = meanNorm2 - dot64(utr, projection);

  // Posterior mean: (ŨᵀŨ + σ² D⁻¹)⁻¹ Ũᵀr, D the prior variances (w_i s_ij)², σ² the isotropic rest per dimension.
  let noise = 0;
  components.forEach((c, i) => (noise += (weights[i] * c.residual) ** 2 / d));
  noise = Math.max(noise, 1e-12);
  const ridge = Float64Array.from(gram);
  const priorSd = owner.map((i, x) => Math.abs(weights[i]) * components[i].scales[local[x]]);
  for (let x = 0; x < p; x++) ridge[x * p + x] += priorSd[x] > 0 ? noise / priorSd[x] ** 2 : 1e12;
  const posterior = solveSymmetric(ridge, utr, p);
  for (let x = 0; x < p; x++) states[owner[x]][local[x]] = priorSd[x] > 0 ? posterior[x] / priorSd[x] : 0;
  return {
    components,
    weights,
    refNorm: Math.sqrt(Math.max(0, refNorm2)),
    meanNorm: Math.sqrt(Math.max(0, meanNorm2)),
    outsideNorm: Math.sqrt(Math.max(0, outside2)),
    states,
  };
}
