import t from 'tap';
import { componentRecall } from '../../daemon/load/recall.js';

t.test('component recall counts only what the exact scan returns, per query and per component', async (t) => {
  const r = componentRecall([
    // Every component found by both: counts.
    { components: ['a', 'b'], exact: ['a', 'b', 'c'], reply: ['b', 'a', 'c'] },
    // 'b' lost by the index although the exact scan has it: the query fails.
    { components: ['a', 'b'], exact: ['a', 'b', 'c'], reply: ['a', 'c', 'd'] },
    // 'z' is beyond the exact top-M too: not the index's fault, the query passes.
    { components: ['a', 'z'], exact: ['a', 'c'], reply: ['a', 'c'] },
    // Nothing expected: passes.
    { components: ['y', 'z'], exact: ['a'], reply: ['b'] },
  ]);
  t.equal(r.queries, 4);
  t.equal(r.component_recall, 3 / 4);
  t.equal(r.component_recall_per_component, 4 / 5, 'a,b + a + a of a,b,a,b,a');
  t.equal(r.exact_all_components, 2 / 4);
  t.equal(r.reply_all_components, 1 / 4);
  t.equal(r.recall_at_top_m, (1 + 2 / 3 + 1 + 0) / 4);
  t.same(componentRecall([]).component_recall, 1, 'no queries: nothing lost');
});
