import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { encodeBackgroundView, loadBackground } from '../../daemon/extractor/background.js';
import { loadManifest } from '../../daemon/extractor/manifest.js';
import { packageRoot } from '../../daemon/util/paths.js';
import { seededRandom } from '../../daemon/util/random.js';
import { cosine, normalize } from '../../daemon/util/vector.js';

t.test('every shipped model carries background views fitted for its own build', async (t) => {
  for (const id of ['enfpire-mnv2-int8-v1', 'enfpire-gist-int8-v1']) {
    const manifest = await loadManifest(join(packageRoot, 'models', `${id}.json`));
    const views = await loadBackground(manifest);
    t.ok(views && views.length >= 500, `${id}: ${views?.length} views`);
    t.ok(views!.every((v) => v.length === manifest.output.dimension && Math.abs(cosine(v, v) - 1) < 1e-5), `${id}: unit features of the model's dimension`);
    // Views of 57 photographs, ten each: far from copies of one another.
    const sameAsNext = views!.filter((v, i) => i > 0 && cosine(v, views![i - 1]) > 0.999).length;
    t.ok(sameAsNext < 5, `${id}: no run of identical views (${sameAsNext})`);
  }
});

t.test('a view survives its int8 encoding to a cosine of 0.999', async (t) => {
  const random = seededRandom(5);
  for (let n = 0; n < 20; n++) {
    const f = normalize(Float32Array.from({ length: 256 }, () => random.normal()));
    const dir = t.testdir({
      'm.json': '{}',
      'm.background.json': JSON.stringify({ sha256: 'ab'.repeat(32), views: [encodeBackgroundView(f)] }),
    });
    const [back] = (await loadBackground({ manifestPath: join(dir, 'm.json'), sha256: 'ab'.repeat(32), output: { name: 'f', dimension: 256, background: 'm.background.json' } }))!;
    t.ok(cosine(back, f) > 0.999, `cosine ${cosine(back, f).toFixed(5)}`);
  }
});

t.test('a broken background file is one sentence naming it and the fix', async (t) => {
  const sha = 'cd'.repeat(32);
  const view = encodeBackgroundView(normalize(Float32Array.from({ length: 8 }, (_, i) => i - 3.5)));
  const dir = t.testdir({
    'm.json': '{}',
    'other-build.json': JSON.stringify({ sha256: 'ef'.repeat(32), views: [view] }),
    'short.json': JSON.stringify({ sha256: sha, views: [view, 'AAAA'] }),
    'zero.json': JSON.stringify({ sha256: sha, views: [Buffer.alloc(8).toString('base64')] }),
    'empty.json': JSON.stringify({ sha256: sha, views: [] }),
    'broken.json': '{"sha256": ',
  });
  const load = (file: string) => loadBackground({ manifestPath: join(dir, 'm.json'), sha256: sha, output: { name: 'f', dimension: 8, background: file } });
  t.equal(await loadBackground({ manifestPath: join(dir, 'm.json'), sha256: sha, output: { name: 'f', dimension: 8 } }), undefined, 'a model without views');
  await t.rejects(load('missing.json'), /missing\.json does not exist; run `node scripts\/fit-background\.mjs/);
  await t.rejects(load('broken.json'), /broken\.json is not valid JSON/);
  await t.rejects(load('other-build.json'), /fitted for another build of the model/);
  await t.rejects(load('short.json'), /view 1 is not base64 of 8 non-zero int8 components/);
  await t.rejects(load('zero.json'), /view 0 is not base64/);
  await t.rejects(load('empty.json'), /hold no "views" array/);
  await writeFile(join(dir, 'ok.json'), JSON.stringify({ sha256: sha, views: [view] }));
  t.equal((await load('ok.json'))!.length, 1);
});
