#!/usr/bin/env node
// Side by side: several feature models on the same spot folders, the same references and the same camera views
// (issue #11, docs/benchmark.md "Models side by side"). References and queries are planned exactly as
// `enfpire eval` plans them (daemon/eval/views.ts: an enrolment view or the spot's first photo as reference, seeded
// camera views of the other photos as queries), so a folder of viewpoint spots is queried from other camera
// positions and a folder of single photos from re-renders. Every model sees the same bytes.
//
//   node scripts/compare-models.mjs --spots DIR [--spots DIR2] --manifest A.json [--manifest B.json]
//        [--distractors DIR] [--queries-per-spot 3] [--seed 1] [--reference-views N] [--out FILE.json]
//
// --reference-views N enrols every reference (distractors included) as `enfpire enroll --reference-views N` does:
// the mean of the reference picture's feature and of N camera views of it (recognizer/enroll.ts referenceFeature);
// default enrolment's own (DEFAULT_REFERENCE_VIEWS), 0 the reference picture's feature alone.
//
// Per model and folder: nearest-neighbour top-1 of the queries among the folder's references (plus every
// reference of --distractors, spots that are never queried: a larger gallery of confusers; a distractor with the id of
// a spot of the folder is that spot, not a confuser, and is left out), mean cosine to the own
// reference, and the extractor's own timings (decode + resize, inference) as medians. Runs on the TypeScript
// sources through the loader tap uses.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

await import('@tapjs/typescript/import');
const { OnnxExtractor } = await import('../daemon/extractor/index.js');
const { dot } = await import('../daemon/util/vector.js');
const { listSpotPhotos } = await import('../daemon/util/spots-dir.js');
const { planEval, renderQuery, renderReference } = await import('../daemon/eval/views.js');
const { DEFAULT_REFERENCE_VIEWS, referenceFeature } = await import('../daemon/recognizer/enroll.js');

const { values: args } = parseArgs({
  options: {
    spots: { type: 'string', multiple: true },
    manifest: { type: 'string', multiple: true },
    distractors: { type: 'string' },
    'queries-per-spot': { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    'reference-views': { type: 'string', default: String(DEFAULT_REFERENCE_VIEWS) },
    out: { type: 'string' },
  },
});
if (!args.spots?.length || !args.manifest?.length) {
  console.error('usage: node scripts/compare-models.mjs --spots DIR [--spots DIR2] --manifest A.json [--manifest B.json] [--distractors DIR] [--queries-per-spot 3] [--seed 1] [--out FILE.json]');
  process.exit(2);
}
const seed = Number(args.seed);
const queriesPerSpot = Number(args['queries-per-spot']);
const referenceViews = Number(args['reference-views']);
if (!(Number.isInteger(referenceViews) && referenceViews >= 0)) {
  console.error(`--reference-views must be an integer >= 0, not '${args['reference-views']}'`);
  process.exit(2);
}
// Reference pictures go through enrolment's own code, which reads files.
const referenceDir = referenceViews > 0 ? await mkdtemp(join(tmpdir(), 'compare-models-')) : undefined;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

/** Rendered once, shared by every model: [{ folder, references: [{spot, bytes}], queries: [{spot, bytes}] }]. */
async function render(dir, withQueries) {
  const spots = await listSpotPhotos(resolve(dir));
  const plan = planEval(spots, { seed, queriesPerSpot: withQueries ? queriesPerSpot : 1 });
  const references = [];
  for (const r of plan.references) {
    const bytes = await renderReference(r);
    let file;
    if (referenceDir) await writeFile((file = join(referenceDir, `${references.length}-${basename(resolve(dir))}.jpg`)), bytes);
    references.push({ spot: r.spot, bytes, file });
  }
  const queries = [];
  if (withQueries) for (const q of plan.queries) queries.push({ spot: q.spot, bytes: await renderQuery(q) });
  return { folder: basename(resolve(dir)), references, queries };
}

const folders = [];
for (const dir of args.spots) folders.push(await render(dir, true));
const distractors = args.distractors ? await render(args.distractors, false) : null;
console.error(`rendered ${folders.map((f) => `${f.folder}: ${f.references.length} spots, ${f.queries.length} queries`).join('; ')}${distractors ? `; ${distractors.references.length} distractor spots` : ''}`);

const results = [];
for (const manifestPath of args.manifest) {
  const extractor = new OnnxExtractor({ manifestPath: resolve(manifestPath) });
  await extractor.start();
  const preprocess = [];
  const inference = [];
  const reference = async (r) => (referenceDir ? referenceFeature(r.spot, [r.file], extractor, { views: referenceViews }) : extract(r.bytes));
  const extract = async (bytes) => {
    const f = await extractor.extract(bytes);
    preprocess.push(extractor.lastTimings.preprocessMs);
    inference.push(extractor.lastTimings.inferenceMs);
    return f;
  };
  const others = [];
  if (distractors) for (const r of distractors.references) others.push({ spot: `distractor:${r.spot}`, feature: await reference(r) });
  for (const folder of folders) {
    // A distractor folder may contain the queried spots themselves (debian-windows-10k holds every spot of
    // debian-windows and so of debian-viewpoint, under the same id): the same spot, not a confuser.
    const own = new Set(folder.references.map((r) => r.spot));
    const refs = others.filter((o) => !own.has(o.spot.slice('distractor:'.length)));
    const skipped = others.length - refs.length;
    for (const r of folder.references) refs.push({ spot: r.spot, feature: await reference(r) });
    let correct = 0;
    let correctOwn = 0; // among the folder's own references only, when there are distractors
    let ownCos = 0;
    for (const q of folder.queries) {
      const feature = await extract(q.bytes);
      let best = -Infinity;
      let bestSpot = '';
      let bestOwn = -Infinity;
      let bestOwnSpot = '';
      for (const r of refs) {
        const c = dot(feature, r.feature);
        if (c > best) [best, bestSpot] = [c, r.spot];
        if (c > bestOwn && own.has(r.spot)) [bestOwn, bestOwnSpot] = [c, r.spot];
        if (r.spot === q.spot) ownCos += c;
      }
      if (bestSpot === q.spot) correct++;
      if (bestOwnSpot === q.spot) correctOwn++;
    }
    const n = folder.queries.length;
    results.push({
      model: extractor.manifest.id,
      folder: folder.folder,
      gallery: refs.length,
      folder_spots: folder.references.length,
      distractors_skipped: skipped,
      queries: n,
      top1: correct / n,
      // Wilson 95 % interval: the figure is a share of n queries, not of spots.
      top1_ci95: wilson(correct, n),
      own_cos: ownCos / n,
      ...(distractors ? { top1_without_distractors: correctOwn / n, top1_without_distractors_ci95: wilson(correctOwn, n) } : {}),
    });
  }
  results.push({ model: extractor.manifest.id, timing: { preprocessMs: median(preprocess), inferenceMs: median(inference), frames: preprocess.length }, dimension: extractor.manifest.output.dimension });
  await extractor.stop();
}

function wilson(k, n, z = 1.96) {
  if (n === 0) return [NaN, NaN];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)].map((v) => Math.round(v * 1000) / 1000);
}

for (const r of results) {
  if (r.timing) console.log(`${r.model.padEnd(24)} timing: decode+resize ${r.timing.preprocessMs.toFixed(1)} ms, inference ${r.timing.inferenceMs.toFixed(1)} ms (median of ${r.timing.frames}), ${r.dimension} dimensions`);
  else console.log(`${r.model.padEnd(24)} ${r.folder.padEnd(24)} gallery ${String(r.gallery).padStart(6)}  top-1 ${r.top1.toFixed(3)} [${r.top1_ci95.join(', ')}] of ${r.queries}  own cos ${r.own_cos.toFixed(3)}${r.top1_without_distractors === undefined ? '' : `; without the distractors (gallery ${r.folder_spots}) top-1 ${r.top1_without_distractors.toFixed(3)} [${r.top1_without_distractors_ci95.join(', ')}]`}${r.distractors_skipped ? `; ${r.distractors_skipped} distractors left out (a spot of the folder)` : ''}`);
}
if (referenceDir) await rm(referenceDir, { recursive: true, force: true });
if (args.out) await writeFile(args.out, `${JSON.stringify({ seed, queriesPerSpot, referenceViews, results }, null, 2)}\n`);
