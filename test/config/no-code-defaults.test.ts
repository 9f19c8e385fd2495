/**
 * No setting has a default outside its one definition (issue #13): a part filled from the profile either requires the
 * option (the profile, or the caller, passes it) or reads the schema's default with schemaDefault(). Each listed file
 * once wrote its own default for a setting (`requestTimeoutMs ?? 5_000`, `candidatesPerComponent = 4`, …), some of
 * them different from the schema's. The static check below fails if such a literal comes back; the behavioural
 * checks fail if a part built without the option drifts from the schema.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { schemaDefault, schemaDefaults } from '../../daemon/config/load.js';
import { DEFAULT_CACHE_THRESHOLD, Resolver } from '../../daemon/edge/resolver.js';
import { LatencyTracker, LatencyWindow } from '../../daemon/health/latency.js';
import { FilesSource } from '../../daemon/camera/files-source.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** File → option names that are profile settings and must not get a literal default there. */
const GUARDED: Record<string, string[]> = {
  'daemon/transport/recognition-client.ts': ['requestTimeoutMs'],
  'daemon/transport/recognizer-endpoint.ts': ['group'],
  'daemon/privacy/kmix.ts': ['candidatesPerComponent', 'maxCandidates', 'realComponent'],
  'daemon/edge/edge-daemon.ts': ['hedgeAfterMs'],
  'daemon/eval/eval-harness.ts': ['candidatesPerComponent'],
  'daemon/privacy/transform.ts': ['candidatesPerComponent', 'noise', 'decoys'],
  'daemon/extractor/onnx-extractor.ts': ['graphOptimizationLevel'],
  'daemon/cli/demo-command.ts': ['api'],
  'daemon/edge/resolver.ts': ['threshold', 'cacheThreshold', 'DEFAULT_THRESHOLD', 'DEFAULT_CACHE_THRESHOLD'],
  'daemon/health/latency.ts': ['windowSize', 'size'],
  'daemon/camera/files-source.ts': ['loop'],
  'daemon/gallery/sqlite-gallery.ts': ['maxResults', 'DEFAULT_MAX_RESULTS'],
  'daemon/recognizer/recognizer.ts': ['maxTopM'],
  'daemon/recognizer/spot-index.ts': ['efSearch', 'efPerCandidate', 'm', 'efConstruction'],
  'daemon/recognizer/onnx-scan-index.ts': ['maxBatch', 'batchWaitMs', 'threads'],
};

/** A literal (number, string, boolean) given as the default of `name`: `name ?? 4`, `name = 4`, `name = 'x'`. */
function literalDefaults(source: string, name: string): string[] {
  const literal = String.raw`(?:-?\d[\d_]*(?:\.\d+)?|'[^']*'|"[^"]*"|true|false)`;
  const pattern = new RegExp(String.raw`\b${name}\s*(?:\?\?|=(?![=>]))\s*(?:\(\s*)?${literal}(?![\w.])`, 'g');
  return [...source.matchAll(pattern)].map((m) => m[0]);
}

t.test('the check finds the defaults it guards against', async (t) => {
  t.same(literalDefaults('this.requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;', 'requestTimeoutMs'), ['requestTimeoutMs ?? 5_000']);
  t.same(literalDefaults('const { k, candidatesPerComponent = 4, synthesizer } = options;', 'candidatesPerComponent'), ['candidatesPerComponent = 4']);
  t.same(literalDefaults("this.group = opts.group ?? 'recognizers';", 'group'), ["group ?? 'recognizers'"]);
  t.same(literalDefaults('export const DEFAULT_THRESHOLD = 0.5;', 'DEFAULT_THRESHOLD'), ['DEFAULT_THRESHOLD = 0.5']);
  t.same(literalDefaults('this.loop = options.loop ?? true;', 'loop'), ['loop ?? true']);
  t.same(literalDefaults("const decoys = config.decoys ?? 'wearer';", 'decoys'), ["decoys ?? 'wearer'"]);
  t.same(literalDefaults('    windowSize = 200,', 'windowSize'), ['windowSize = 200']);
  t.same(literalDefaults("this.loop = options.loop ?? (schemaDefault('edge', 'camera.loop') as boolean);", 'loop'), [], 'the schema is no literal');
  t.same(literalDefaults('if (m === 4) return;', 'm'), [], 'a comparison is no default');
});

for (const [file, names] of Object.entries(GUARDED)) {
  t.test(`${file} writes no default of its settings`, async (t) => {
    const source = readFileSync(`${root}${file}`, 'utf8');
    for (const name of names) t.same(literalDefaults(source, name), [], `${name} has no literal default`);
  });
}

t.test("parts built without the options take the schema's defaults", async (t) => {
  // The match threshold has no default in the profile: it is the model's (extractor/manifest.ts matchThreshold).
  t.throws(() => schemaDefault('edge', 'resolver.threshold'), /no default for resolver.threshold/);
  const resolver = new Resolver({ threshold: 0.45 });
  t.equal(resolver.cacheThreshold, schemaDefault('edge', 'resolver.cacheThreshold'));
  t.equal(DEFAULT_CACHE_THRESHOLD, schemaDefault('edge', 'resolver.cacheThreshold'));

  const latencyWindow = schemaDefault('edge', 'health.latencyWindow');
  t.equal(new LatencyWindow().size, latencyWindow);
  t.equal(new LatencyTracker(new EventEmitter()).all.size, latencyWindow);

  // The tools' k-mix settings (enfpire load, bench) are the default transform's, as the loader fills them.
  const { defaultKMix } = await import('../../daemon/load/queries.js');
  t.same({ ...schemaDefaults('edge', 'privacy.transform') }, { ...defaultKMix(), decoyDrift: schemaDefaults('edge', 'privacy.transform').decoyDrift });

  const source = new FilesSource({ dir: root, fps: 1 });
  t.equal((source as unknown as { loop: boolean }).loop, schemaDefault('edge', 'camera.loop'));
});
