/**
 * Component recall (issue #12): a k-mix query is useful only when every component's spot comes back, since the device
 * resolves among the candidates and the real spot is one of the components. Measured against the exact scan, so an
 * index is charged only for what it loses, not for components the query itself ranks too low.
 */
export interface RecallSample {
  /** Spot ids mixed into the query (the real one and the decoys; the device knows them, the server does not). */
  components: readonly string[];
  /** Ids the exact scan returns for the same vector and topM. */
  exact: readonly string[];
  /** Ids the index under test returned. */
  reply: readonly string[];
}

export interface ComponentRecall {
  queries: number;
  /** Share of queries for which every component the exact scan returns is in the reply too (the headline figure). */
  component_recall: number;
  /** Share of components returned by the exact scan that the reply also holds. */
  component_recall_per_component: number;
  /** Share of queries whose reply holds every component (what the device gets; ≤ exact_all_components). */
  reply_all_components: number;
  /** Share of queries for which the exact scan itself returns every component: a property of the transform and gallery. */
  exact_all_components: number;
  /** Mean share of the exact reply's ids that the reply holds (ordinary recall@topM). */
  recall_at_top_m: number;
}

export function componentRecall(samples: readonly RecallSample[]): ComponentRecall {
  let ok = 0;
  let found = 0;
  let wanted = 0;
  let replyAll = 0;
  let exactAll = 0;
  let overlap = 0;
  for (const s of samples) {
    const exact = new Set(s.exact);
    const reply = new Set(s.reply);
    const expected = s.components.filter((c) => exact.has(c));
    const got = expected.filter((c) => reply.has(c)).length;
    if (got === expected.length) ok++;
    found += got;
    wanted += expected.length;
    if (expected.length === s.components.length) exactAll++;
    if (s.components.every((c) => reply.has(c))) replyAll++;
    overlap += exact.size === 0 ? 1 : s.exact.filter((id) => reply.has(id)).length / exact.size;
  }
  const n = samples.length;
  const share = (x: number, of: number) => (of === 0 ? 1 : x / of);
  return {
    queries: n,
    component_recall: share(ok, n),
    component_recall_per_component: share(found, wanted),
    reply_all_components: share(replyAll, n),
    exact_all_components: share(exactAll, n),
    recall_at_top_m: share(overlap, n),
  };
}
