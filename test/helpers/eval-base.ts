import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';

/**
 * The short `runEval` the harness tests share: the bundled sample spots, 2 wearers × 3 simulated minutes, one slot a
 * second, no identity changes. Each test file of the harness runs a few of these; tap gives each file its own
 * timeout, so the slow ones (enrolment with views, the wall-clock run) live in files of their own. Their enrolments are
 * cached in a folder of the tests' own under the system's temporary folder, shared by the files of a run, never in the
 * cache of whoever runs the tests (`~/.cache/enfpire/eval`, the harness's default).
 */
export const EVAL_TEST_BASE = {
  spotsDir: sampleSpotsDir,
  modelManifest: defaultModelManifest,
  seed: 3,
  users: 2,
  minutes: 3,
  ratePerSecond: 1,
  adversaryViews: 4,
  rotateIdentityMinutes: 0,
  cacheDir: join(tmpdir(), 'enfpire-test-eval-cache'),
} as const;
