/**
 * privacy.transform as variants (docs/decisions.md, "privacy.transform as variants"): each kind takes only the settings
 * it reads, with its defaults filled by the loader (Ajv's discriminator picks the branch; a plain oneOf would fill
 * none), and a profile of before the variants still loads, with one warning per moved setting naming its new place.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig, configSchema, loadEdgeConfig, schemaDefault, schemaDefaults } from '../../daemon/config/load.js';
import { MOVED_INTO_TRANSFORM } from '../../daemon/config/migrate.js';
import { formatWarning, schemaAt, type SchemaNode } from '../../daemon/config/problems.js';
import type { EdgeConfig, Problem } from '../../daemon/config/types.js';
import { UserError } from '../../daemon/util/errors.js';

const base = { camera: { dir: 'frames' }, transport: { url: 'mqtt://127.0.0.1:1883' } };

function write(dir: string, name: string, privacy: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(privacy === undefined ? base : { ...base, privacy }));
  return file;
}

async function load(dir: string, name: string, privacy: unknown): Promise<{ config: EdgeConfig; warnings: Problem[] }> {
  const warnings: Problem[] = [];
  const config = await loadEdgeConfig(write(dir, name, privacy), { onWarning: (w) => warnings.push(w) });
  return { config, warnings };
}

const KMIX_DEFAULTS = {
  kind: 'kmix',
  k: 4,
  decoys: 'wearer',
  phantomPace: 1,
  arrival: 'deferred',
  holdAcrossIdentity: true,
  holdOpening: false,
  startStationary: true,
  candidatesPerComponent: 6,
  maxCandidates: 256,
  replySize: 'fixed',
  mixWeights: 'equal',
  realComponent: 'stand-in',
  decoyDrift: { fastSeconds: 4.4, slowSeconds: 600, slowShare: 0.59 },
};

t.test('each kind gets its own defaults and nothing of another kind', async (t) => {
  const dir = t.testdir();
  const none = await load(dir, 'none.yaml', undefined);
  t.same(none.config.privacy.transform, KMIX_DEFAULTS, 'no privacy section: the default transform, every kmix default filled');
  t.same(none.warnings, []);
  t.same((await load(dir, 'kmix.yaml', { transform: { kind: 'kmix' } })).config.privacy.transform, KMIX_DEFAULTS, 'only {kind: kmix}');
  t.same(schemaDefaults('edge', 'privacy.transform'), KMIX_DEFAULTS, 'schemaDefaults fills the default variant as the loader does');
  t.same(schemaDefaults('edge', 'privacy').transform, KMIX_DEFAULTS, 'and the section around it');

  const noise = (await load(dir, 'noise.yaml', { transform: { kind: 'noise' } })).config.privacy.transform;
  t.same(noise, { kind: 'noise', noise: 1, k: 4, decoys: 'wearer', candidatesPerComponent: 6, decoyDrift: KMIX_DEFAULTS.decoyDrift });
  t.notOk('maxCandidates' in noise || 'realComponent' in noise, 'a noise transform gets no kmix field');
  t.same(schemaDefaults('edge', 'privacy.transform', 'noise'), noise);

  const bucket = await load(dir, 'bucket.yaml', { transform: { kind: 'bucket', k: 8 } });
  t.same(bucket.config.privacy.transform, { kind: 'bucket', k: 8 }, 'bucket reads k only');
  const partial = await load(dir, 'partial.yaml', { transform: { kind: 'kmix', k: 6, decoyDrift: { fastSeconds: 2 } }, minSpotCosine: 0.5 });
  t.same(partial.config.privacy, {
    transform: { ...KMIX_DEFAULTS, k: 6, decoyDrift: { ...KMIX_DEFAULTS.decoyDrift, fastSeconds: 2 } },
    minSpotCosine: 0.5,
    backgroundPass: schemaDefaults('edge', 'privacy').backgroundPass,
    rememberWearer: false,
  });
  t.equal(partial.config.privacy.backgroundPass, 0.25, 'the region gate lets a quarter of the background views through by default');
});

t.test('the types narrow on kind', async (t) => {
  const dir = t.testdir();
  const { transform } = (await load(dir, 'noise.yaml', { transform: { kind: 'noise', noise: 0.5 } })).config.privacy;
  if (transform.kind !== 'noise') return t.fail(`kind ${transform.kind}`);
  t.equal(transform.noise, 0.5, 'a noise field, read with no cast');
});

t.test("schemaDefault goes on in the default's variant, or the one named", async (t) => {
  t.equal(schemaDefault('edge', 'privacy.transform.k'), 4);
  t.equal(schemaDefault('edge', 'privacy.transform.maxCandidates'), 256);
  t.equal(schemaDefault('edge', 'privacy.transform.noise', 'noise'), 1);
  t.throws(() => schemaDefault('edge', 'privacy.transform.noise'), /no default for privacy.transform.noise/, 'kmix has no noise');
  t.same(schemaDefault('edge', 'privacy.transform'), { kind: 'kmix' });
});

t.test('a setting that several kinds read has the same type, range and default in each', async (t) => {
  const transform = schemaAt(configSchema('edge'), ['privacy', 'transform']);
  const variants = transform?.oneOf ?? [];
  t.same(variants.map((v) => v.properties?.kind?.const), ['kmix', 'noise', 'bucket']);
  const strip = (node: SchemaNode) => JSON.stringify({ ...node, description: undefined }, (key, value: unknown) => (key === 'description' ? undefined : value));
  for (const key of MOVED_INTO_TRANSFORM) {
    const nodes = variants.flatMap((v) => (v.properties?.[key] ? [v.properties[key]] : []));
    t.ok(nodes.length >= 1, `${key} is a setting of some kind`);
    for (const node of nodes.slice(1)) t.equal(strip(node), strip(nodes[0]), `${key} is the same setting in every kind`);
  }
});

t.test('a field of another kind, a missing or unknown kind: one sentence that says what to do', async (t) => {
  const dir = t.testdir();
  const problems = (privacy: unknown) => checkConfig(write(dir, 'p.yaml', privacy), 'edge').problems;

  t.same(problems({ transform: { kind: 'noise', maxCandidates: 12 } }), [
    {
      path: 'privacy.transform.maxCandidates',
      message: "is not a setting of the 'noise' transform: only 'kmix' reads it",
      fix: "remove it, or make privacy.transform.kind 'kmix'",
    },
  ]);
  t.same(problems({ transform: { kind: 'bucket', noise: 2 } }), [
    { path: 'privacy.transform.noise', message: "is not a setting of the 'bucket' transform: only 'noise' reads it", fix: "remove it, or make privacy.transform.kind 'noise'" },
  ]);
  t.same(problems({ transform: { kind: 'bucket', decoys: 'random' } })[0]?.message, "is not a setting of the 'bucket' transform: only 'kmix' and 'noise' read it");
  t.same(problems({ transform: { kind: 'kmx' } }), [
    { path: 'privacy.transform.kind', message: "'kmx' is not allowed", fix: "did you mean 'kmix'? use one of 'kmix', 'noise', 'bucket'" },
  ]);
  t.same(problems({ transform: { k: 3 } }), [
    { path: 'privacy.transform.kind', message: 'missing (required)', fix: "add it: use one of 'kmix', 'noise', 'bucket'" },
  ]);
  t.match(problems({ transform: { kind: 'kmix', zzz: 1 } }), [{ path: 'privacy.transform.zzz', message: 'unknown setting', fix: /settings here are kind, k, decoys/ }]);
  t.match(problems({ transform: { kind: 'noise', noise: 20 } }), [{ path: 'privacy.transform.noise', message: /must be ≤ 10/ }]);

  const error = await loadEdgeConfig(write(dir, 'bad.yaml', { transform: { kind: 'noise', realComponent: 'frame' } })).catch((e: unknown) => e);
  t.type(error, UserError);
  t.match((error as Error).message, /privacy\.transform\.realComponent: is not a setting of the 'noise' transform/);
});

t.test('a profile of before the variants loads as the same profile written the new way, with a warning per moved setting', async (t) => {
  const dir = t.testdir();
  const settings = {
    k: 6,
    decoys: 'lockstep',
    candidatesPerComponent: 5,
    maxCandidates: 120,
    realComponent: 'frame',
    decoySigma: 0.05,
    decoyDrift: { fastSeconds: 3, slowSeconds: 300, slowShare: 0.5 },
  };
  const now = await load(dir, 'new.yaml', { transform: { kind: 'kmix', ...settings }, minSpotCosine: 0.4 });
  t.same(now.warnings, [], 'the new shape reads without a warning');

  const old = await load(dir, 'old.yaml', { transform: 'kmix', ...settings, minSpotCosine: 0.4 });
  t.same(old.config.privacy, now.config.privacy, 'the same privacy settings');
  t.same({ ...old.config, configFile: '' }, { ...now.config, configFile: '' }, 'the same profile');
  t.same(
    old.warnings.map(formatWarning),
    [
      "privacy.transform 'kmix' is now privacy.transform.kind; the profile was read the old way — write transform as a section, 'transform: { kind: kmix }', to keep it working",
      ...Object.keys(settings).map((key) => `privacy.${key} is now privacy.transform.${key}; the profile was read the old way — move it to keep it working`),
    ],
    'one warning per moved setting, naming its new key',
  );
  t.same(
    old.warnings.map((w) => w.path),
    ['privacy.transform', 'privacy.k', 'privacy.decoys', 'privacy.candidatesPerComponent', 'privacy.maxCandidates', 'privacy.realComponent', 'privacy.decoySigma', 'privacy.decoyDrift'],
    'each warning is at the setting as the profile wrote it',
  );

  const noTransform = await load(dir, 'flat.yaml', { k: 6, decoys: 'lockstep' });
  t.same(noTransform.config.privacy.transform, { ...KMIX_DEFAULTS, k: 6, decoys: 'lockstep' }, 'flat settings without a transform were the default transform’s');
  t.same(noTransform.warnings.map((w) => w.path), ['privacy.k', 'privacy.decoys']);

  const onlyKind = await load(dir, 'kind.yaml', { transform: 'noise' });
  t.same(onlyKind.config.privacy.transform, schemaDefaults('edge', 'privacy.transform', 'noise'));
  t.equal(onlyKind.warnings.length, 1);
});

t.test('old and new both: the new one is used, and the warning says so; a setting the transform never read is dropped', async (t) => {
  const dir = t.testdir();
  const both = await load(dir, 'both.yaml', { k: 3, transform: { kind: 'kmix', k: 5 } });
  t.equal(both.config.privacy.transform.k, 5, 'the new one wins');
  t.same(both.warnings.map(formatWarning), [
    'privacy.k is now privacy.transform.k, which the profile sets too: privacy.transform.k (5) is used and privacy.k (3) ignored — remove privacy.k',
  ]);

  // Before the variants a noise profile could carry kmix's settings, which nothing read.
  const noise = await load(dir, 'noise.yaml', { transform: 'noise', noise: 0.5, k: 4, maxCandidates: 96, realComponent: 'frame' });
  t.same(noise.config.privacy.transform, { kind: 'noise', noise: 0.5, k: 4, decoys: 'wearer', candidatesPerComponent: 6, decoyDrift: KMIX_DEFAULTS.decoyDrift });
  t.same(
    noise.warnings.filter((w) => w.path === 'privacy.maxCandidates').map(formatWarning),
    [
      "privacy.maxCandidates is now privacy.transform.maxCandidates, a setting of the 'kmix' transform only; this profile's transform is 'noise', which never read it, so it is dropped — remove privacy.maxCandidates",
    ],
  );
  t.equal(noise.warnings.length, 5, 'transform, noise, k, maxCandidates, realComponent');
});

t.test('a problem in a moved setting names where the profile wrote it; config check lists the warnings', async (t) => {
  const dir = t.testdir();
  const { problems, warnings } = checkConfig(write(dir, 'old.yaml', { transform: 'kmix', k: 99 }), 'edge');
  t.same(problems, [{ path: 'privacy.transform.k', message: 'must be ≤ 16 (got 99) (written the old way, as privacy.k)', fix: 'set k between 1 and 16' }]);
  t.equal(warnings.length, 2);
  const drift = checkConfig(write(dir, 'drift.yaml', { decoyDrift: { slowShare: 2 } }), 'edge').problems;
  t.match(drift, [{ path: 'privacy.transform.decoyDrift.slowShare', message: /\(written the old way, as privacy\.decoyDrift\.slowShare\)$/ }]);
  t.same(checkConfig(write(dir, 'weird.yaml', { transform: 5, k: 3 }), 'edge').problems.map((p) => p.path).sort(), ['privacy.k', 'privacy.transform'], 'a transform of the wrong type is reported, and the flat settings stay unknown');
});

t.test('enfpire config check shows the warnings and still calls the old profile valid', async (t) => {
  const { runConfigCommand } = await import('../../daemon/cli/config-command.js');
  const dir = t.testdir();
  const file = write(dir, 'old.yaml', { transform: 'kmix', k: 6 });
  const out: string[] = [];
  const err: string[] = [];
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  process.stdout.write = (chunk: string) => out.push(chunk) > 0;
  process.stderr.write = (chunk: string) => err.push(chunk) > 0;
  let code: number;
  try {
    code = await runConfigCommand(['check', file]);
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
  t.equal(code, 0);
  t.same(err, [
    `${file}: warning: privacy.transform 'kmix' is now privacy.transform.kind; the profile was read the old way — write transform as a section, 'transform: { kind: kmix }', to keep it working\n`,
    `${file}: warning: privacy.k is now privacy.transform.k; the profile was read the old way — move it to keep it working\n`,
  ]);
  t.same(out, [`${file}: valid edge configuration (read the old way: 2 warnings above)\n`]);
});
