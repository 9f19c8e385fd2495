import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { enrolKey } from '../../daemon/eval/enrol-cache.js';
import type { ModelManifest } from '../../daemon/extractor/types.js';
import { defaultModelManifest } from '../../daemon/util/paths.js';

t.test('the enrolment cache key follows what shapes the features, not the gate or threshold', async (t) => {
  const dir = t.testdir({ 'photo.jpg': 'not really a photo' });
  const spots = [{ id: 'a', files: [join(dir, 'photo.jpg')] }];
  const manifest = JSON.parse(await readFile(defaultModelManifest, 'utf8')) as ModelManifest & { output: { centre: number[] } };
  const keyOf = async (m: unknown, name: string, seed = 1) => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(m));
    return enrolKey({ spots, modelManifest: path, seed, adversaryViews: 6 });
  };
  const base = await keyOf(manifest, 'base.json');
  t.equal(await keyOf({ ...manifest, output: { ...manifest.output, threshold: 0.6, background: 'x.json', spotCosine: 0.5 }, card: 'other.md' }, 'gate.json'), base, 'threshold, gate and card keep the key');
  t.not(await keyOf({ ...manifest, output: { ...manifest.output, centre: manifest.output.centre.map((x) => x + 0.01) } }, 'centre.json'), base, 'another centre is another key');
  t.not(await keyOf({ ...manifest, sha256: '0'.repeat(64) }, 'model.json'), base, 'another model file is another key');
  t.not(await keyOf({ ...manifest, input: { ...manifest.input, resize: 'cover' } }, 'input.json'), base, 'another input rule is another key');
  t.not(await keyOf(manifest, 'seed.json', 2), base, 'another seed is another key');
});
