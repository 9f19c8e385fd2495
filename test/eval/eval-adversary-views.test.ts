/**
 * `enfpire eval --adversary-views 0` on the bundled sample spots: the devices run as before, the component test gets
 * no views of its own, and the views are cached apart (a file of its own for its own timeout).
 */
import t from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval } from '../../daemon/eval/eval-harness.js';
import { EVAL_TEST_BASE as base } from '../helpers/eval-base.js';

t.test('--adversary-views 0: no views rendered for the component test, which then guesses blindly; under a cache key of its own', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'enfpire-eval-cache-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const seeing = await runEval({ ...base, k: 2, users: 1, minutes: 1, cacheDir });
  const blind = await runEval({ ...base, k: 2, users: 1, minutes: 1, cacheDir, adversaryViews: 0 });
  t.equal(seeing.adversary_views, base.adversaryViews, 'the views the tests render');
  t.equal(blind.adversary_views, 0);
  t.equal(blind.queries, seeing.queries, 'the devices ran as before: only the server-side simulation changed');
  t.equal(blind.user_top1, seeing.user_top1);
  t.type(blind.adversaries.component_test, 'number', 'the component test still reports');
  const views = (await readdir(cacheDir)).filter((f) => f.endsWith('.views.json'));
  t.equal(views.length, 2, 'views cached apart: a run with views never reads a blind run\'s empty ones');
});
