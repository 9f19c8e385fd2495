#!/usr/bin/env node
// Fits the feature centre of a model (manifest field output.centre, docs/decisions.md #7): the mean of its raw unit
// features over the tuning photos (the 12 MATE nature photographs, which the "unseen" benchmark excludes) and 10
// seeded camera views of each. Writes models/<id>.centre.json, stamped with the model's sha256; then rebuild
// (`/usr/bin/python3 scripts/build-model.py`), which copies it into the manifest.
//
//   node scripts/fit-centre.mjs [--manifest models/enfpire-gist-int8-v1.json] [--views 10]
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

await import('@tapjs/typescript/import');
const { OnnxExtractor } = await import('../daemon/extractor/index.js');
const { distortPhoto } = await import('../daemon/augment/distort.js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PHOTOS = '/usr/share/backgrounds/mate/nature';
const { values: args } = parseArgs({
  options: {
    manifest: { type: 'string', default: join(ROOT, 'models/enfpire-gist-int8-v1.json') },
    views: { type: 'string', default: '10' },
  },
});

// Fit on the model's own output: a copy of the manifest without any centre already in it.
const manifest = JSON.parse(await readFile(args.manifest, 'utf8'));
delete manifest.output.centre;
// Beside the model, since a manifest names its file relative to itself; removed once loaded.
const plain = join(dirname(args.manifest), `.${manifest.id}.plain.json`);
await writeFile(plain, JSON.stringify(manifest));

const extractor = new OnnxExtractor({ manifestPath: plain });
try {
  await extractor.start();
} finally {
  await rm(plain, { force: true });
}
const files = (await readdir(PHOTOS)).filter((f) => /\.jpe?g$/i.test(f)).sort();
if (files.length === 0) throw new Error(`no photos in ${PHOTOS}: apt-get install mate-backgrounds`);
const sum = new Float64Array(manifest.output.dimension);
let n = 0;
for (const [i, file] of files.entries()) {
  const photo = await readFile(join(PHOTOS, file));
  const pictures = [photo];
  for (let v = 0; v < Number(args.views); v++) pictures.push(await distortPhoto(photo, 50_000 + i * 1000 + v));
  for (const picture of pictures) {
    const f = await extractor.extract(picture);
    for (let d = 0; d < f.length; d++) sum[d] += f[d];
    n++;
  }
}
await extractor.stop();
const centre = Array.from(sum, (x) => Number((x / n).toFixed(6)));
const out = join(dirname(args.manifest), `${manifest.id}.centre.json`);
await writeFile(
  out,
  `${JSON.stringify({ model: manifest.id, sha256: manifest.sha256, source: `mean raw feature of ${files.length} MATE nature photos and ${Number(args.views)} camera views of each (${n} pictures)`, centre })}\n`,
);
const norm = Math.sqrt(centre.reduce((a, x) => a + x * x, 0));
console.log(`${out}: centre of ${n} pictures, norm ${norm.toFixed(3)}`);
