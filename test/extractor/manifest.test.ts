import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { ModelManifest } from '../../daemon/extractor/index.js';
import { loadManifest, matchThreshold, regionGateCosine, UNCALIBRATED_MATCH_THRESHOLD } from '../../daemon/extractor/manifest.js';
import { UserError } from '../../daemon/util/errors.js';

const SHIPPED = new URL('../../models/enfpire-gist-int8-v1.json', import.meta.url).pathname;

t.test('the shipped manifest loads, with absolute paths', async (t) => {
  const m = await loadManifest(SHIPPED);
  t.equal(m.id, 'enfpire-gist-int8-v1');
  t.ok(isAbsolute(m.modelPath) && existsSync(m.modelPath), 'model file resolved beside the manifest');
  t.equal(m.manifestPath, SHIPPED);
  t.equal(m.input.shape.length, 4);
  t.ok(m.output.dimension > 0);
});

t.test('every problem is one UserError naming the file, the field and the fix', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-manifest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = JSON.parse(await readFile(SHIPPED, 'utf8')) as ModelManifest;
  const write = async (name: string, body: unknown): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, typeof body === 'string' ? body : JSON.stringify(body));
    return path;
  };
  const cases: Array<[string, (m: ModelManifest) => unknown, RegExp]> = [
    ['bad sha', (m) => ({ ...m, sha256: 'abc' }), /"sha256"/],
    ['no input', (m) => ({ ...m, input: undefined }), /"input"/],
    ['shape of 3', (m) => ({ ...m, input: { ...m.input, shape: [1, 128, 128] } }), /"input\.shape"/],
    ['batch 2', (m) => ({ ...m, input: { ...m.input, shape: [2, 3, 128, 128] } }), /"input\.shape"/],
    ['channels in the wrong place', (m) => ({ ...m, input: { ...m.input, layout: 'NHWC' } }), /"input\.shape".*NHWC/],
    ['bad layout', (m) => ({ ...m, input: { ...m.input, layout: 'CHW' } }), /"input\.layout"/],
    ['zero std', (m) => ({ ...m, input: { ...m.input, std: [0.2, 0, 0.2] } }), /"input\.std"/],
    ['short mean', (m) => ({ ...m, input: { ...m.input, mean: [0.5, 0.5] } }), /"input\.mean"/],
    ['bad resize', (m) => ({ ...m, input: { ...m.input, resize: 'stretch' } }), /"input\.resize"/],
    ['threshold out of range', (m) => ({ ...m, output: { ...m.output, threshold: 1.5 } }), /"output\.threshold"/],
    ['threshold as text', (m) => ({ ...m, output: { ...m.output, threshold: '0.5' } }), /"output\.threshold"/],
    ['spot cosine out of range', (m) => ({ ...m, output: { ...m.output, spotCosine: -2 } }), /"output\.spotCosine"/],
    ['background views at an absolute path', (m) => ({ ...m, output: { ...m.output, background: '/etc/passwd' } }), /"output\.background" must be the background views file name relative to the manifest/],
    ['zero dimension', (m) => ({ ...m, output: { ...m.output, dimension: 0 } }), /"output\.dimension"/],
    ['no output name', (m) => ({ ...m, output: { dimension: 8 } }), /"output\.name"/],
    ['absolute file', (m) => ({ ...m, file: '/etc/passwd' }), /"file"/],
    ['bad id', (m) => ({ ...m, id: 'has space' }), /"id"/],
    ['array', () => [], /top level/],
  ];
  for (const [name, mutate, field] of cases) {
    const path = await write(`${name.replace(/\W/g, '_')}.json`, mutate(good));
    const err = await loadManifest(path).then(
      () => null,
      (e: unknown) => e,
    );
    t.type(err, UserError, name);
    t.match((err as Error).message, field, `${name}: names the field`);
    t.ok((err as Error).message.includes(path), `${name}: names the file`);
    t.match((err as Error).message, /fix the manifest/, `${name}: says the fix`);
  }

  const two = await write('two.json', { ...good, sha256: 'x', output: { name: 'f', dimension: -1 } });
  await t.rejects(loadManifest(two), /and 1 more problem\b/, 'counts the other problems');

  await t.rejects(loadManifest(await write('broken.json', '{"id": ')), { name: 'UserError', message: /not valid JSON/ });
  await t.rejects(loadManifest(join(dir, 'missing.json')), {
    name: 'UserError',
    message: /missing\.json does not exist.*build-model\.py/,
  });
});

t.test('the match threshold: the profile, else the model, else the uncalibrated fallback', async (t) => {
  const gist = await loadManifest(SHIPPED);
  const learned = await loadManifest(new URL('../../models/enfpire-mnv2-int8-v1.json', import.meta.url).pathname);
  // Each shipped model carries its own: the learned one spreads camera views further from their reference.
  t.equal(matchThreshold(gist), 0.5);
  t.equal(matchThreshold(learned), 0.45);
  t.equal(matchThreshold(learned, 0.6), 0.6, 'the profile overrides the model');
  t.equal(matchThreshold(learned, 0), 0, 'a profile value of 0 is a value, not absence');
  t.equal(matchThreshold({ output: { name: 'f', dimension: 8 } }), UNCALIBRATED_MATCH_THRESHOLD, 'a model that names none');
});

t.test("the region gate's cosine: the profile, else the model's spotCosine, else the match threshold", async (t) => {
  const model = { output: { name: 'f', dimension: 8, spotCosine: 0.55 } };
  t.equal(regionGateCosine(model, undefined, 0.45), 0.55, "the model's own");
  t.equal(regionGateCosine(model, 0.4, 0.45), 0.4, 'the profile overrides the model');
  t.equal(regionGateCosine({ output: { name: 'f', dimension: 8 } }, undefined, 0.45), 0.45, 'a model that names none: the threshold');
  t.equal(regionGateCosine(model, undefined, 0.45, 0.66), 0.66, "the cosine set from the model's background views comes before its spotCosine");
  t.equal(regionGateCosine(model, 0.4, 0.45, 0.66), 0.4, 'and the profile before both');
});
