/**
 * `enfpire eval` (DESIGN §7), first version: plain vs private recognition on a folder of spot photos, through the
 * real extractor, the real k-mix transform, the real recognizer (SQLite gallery built by `enroll`, exact index,
 * wire codec) and the real resolver. Cover traffic, phantom walkers, the path attack and the dummy classifier come
 * later; the server is reached through `EvalServer`, so a broker-backed run (issue 4) reuses this loop.
 */
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Resolver } from '../edge/resolver.js';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import type { Extractor } from '../extractor/types.js';
import { createTransform } from '../privacy/transform.js';
import { seededRandom } from '../privacy/random.js';
import { enroll } from '../recognizer/enroll.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { listSpotPhotos, METADATA_FILE } from '../util/spots-dir.js';
import { naiveTop1, popularityBayes, type Adversary } from './adversaries.js';
import { InProcessServer, type EvalServer } from './eval-server.js';
import { planEval, renderQuery, renderReference, streamSeed, type EvalPlan } from './views.js';

export interface EvalOptions {
  /** Folder of spot photos (DESIGN §9 layout). */
  spotsDir: string;
  /** Model manifest; its viewVariation.sigma sizes the decoys. */
  modelManifest: string;
  /** Anonymity set size. Default 4. */
  k?: number;
  /** Seeds every picture and the privacy layer's randomness. Default 1. */
  seed?: number;
  /** Camera views per spot. Default 5. */
  queriesPerSpot?: number;
  /** Candidates per k-mix component (topM = k × this). Default: the transform's. */
  candidatesPerComponent?: number;
  /** The resolver's 'unknown' threshold. Default: the resolver's. */
  resolverThreshold?: number;
  logger?: Logger;
  /** Called after each query, e.g. for a progress line. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Builds the server from the enrolled gallery file. Default: the recognizer in-process behind the wire codec;
   * a broker-backed harness passes its own.
   */
  openServer?: (galleryPath: string) => Promise<EvalServer>;
}

/** A query the recognizer (baseline) or the device (user) got wrong. */
export interface EvalMiss {
  spot: string;
  query: number;
  seed: number;
  /** What was answered instead (null: the resolver said "unknown"). */
  got: string | null;
}

export interface EvalReport {
  /** Plain recognition: the feature itself as query, the server's top-1. */
  baseline_top1: number;
  /** The device's final answer with the k-mix transform and the resolver. */
  user_top1: number;
  /** Best adversary at naming the real spot of a real query. */
  server_top1: number;
  /** Encoded query + reply bytes per real result (no cover traffic yet: every query is real). */
  bytes_per_result: number;
  k: number;
  spots: number;
  queries: number;
  queries_per_spot: number;
  model: string;
  seed: number;
  /** Each adversary's top-1 rate. */
  adversaries: Record<string, number>;
  /** Share of queries where the resolver answered "unknown". */
  user_unknown: number;
  /** Share of private queries whose reply held the real spot at all (the resolver can only pick what came back). */
  real_in_reply: number;
  /** One region-pack request and reply, fetched once per run. */
  region_pack_bytes: number;
  decoy_sigma: number;
  failures: { baseline: EvalMiss[]; user: EvalMiss[] };
  /** How references and queries were made (docs/benchmark.md). */
  protocol: { references: Record<string, number>; queries: string; server: string };
  timing: { wall_s: number; enrol_s: number; render_ms_mean: number; extract_ms_mean: number; query_ms_mean: number };
}

export const EVAL_DEFAULTS = { k: 4, seed: 1, queriesPerSpot: 5 } as const;

export async function runEval(options: EvalOptions): Promise<EvalReport> {
  const k = options.k ?? EVAL_DEFAULTS.k;
  const seed = options.seed ?? EVAL_DEFAULTS.seed;
  const queriesPerSpot = options.queriesPerSpot ?? EVAL_DEFAULTS.queriesPerSpot;
  checkInteger('--k', k, 1);
  checkInteger('--seed', seed, 0);
  checkInteger('--queries-per-spot', queriesPerSpot, 1);
  const logger = options.logger ?? silentLogger();
  const started = performance.now();

  const spots = await listSpotPhotos(options.spotsDir);
  const plan = planEval(spots, { seed, queriesPerSpot });
  const work = await mkdtemp(join(tmpdir(), 'enfpire-eval-'));
  const extractor = new OnnxExtractor({ manifestPath: options.modelManifest, logger });
  let server: EvalServer | undefined;
  try {
    await extractor.start();
    const sigma = extractor.manifest.viewVariation?.sigma;
    if (sigma === undefined) {
      throw new UserError(`The model manifest ${options.modelManifest} has no viewVariation.sigma; use a model that ships one.`);
    }
    const galleryPath = join(work, 'gallery.db');
    await enrollReferences(plan, options.spotsDir, join(work, 'references'), galleryPath, extractor, logger);
    const enrolS = (performance.now() - started) / 1000;

    server = await (options.openServer ?? (async (path: string) => InProcessServer.open(path)))(galleryPath);
    const region = await server.regionPack('*');
    const random = seededRandom(streamSeed('privacy', seed, '', 0));
    const transform = createTransform(
      { kind: 'kmix', k, candidatesPerComponent: options.candidatesPerComponent },
      { pool: { spots: region.pack.spots }, variation: { sigma }, random },
    );
    // No smoothing window: every query is a different picture, judged on its own.
    const resolver = new Resolver({ threshold: options.resolverThreshold, logger });
    const adversaries: Adversary[] = [
      naiveTop1,
      popularityBayes(new Map(region.pack.spots.map((s) => [s.id, s.popularity]))),
    ];

    const tally = { baseline: 0, user: 0, unknown: 0, inReply: 0, bytes: 0, render: 0, extract: 0, query: 0 };
    const adversaryHits = new Map(adversaries.map((a) => [a.name, 0]));
    const failures: EvalReport['failures'] = { baseline: [], user: [] };
    const model = server.model;
    let done = 0;
    for (const q of plan.queries) {
      const t0 = performance.now();
      const picture = await renderQuery(q);
      const t1 = performance.now();
      const feature = await extractor.extract(picture);
      const t2 = performance.now();

      const plain = await server.query({ type: 'query', model, vector: feature, topM: 1 });
      const baselineGot = plain.reply.candidates[0]?.id ?? null;
      if (baselineGot === q.spot) tally.baseline++;
      else failures.baseline.push({ spot: q.spot, query: q.index, seed: q.seed, got: baselineGot });

      const t3 = performance.now();
      const transformed = transform.transform(feature);
      const answer = await server.query({ type: 'query', model, vector: transformed.vector, topM: transformed.topM });
      const resolution = resolver.resolve(feature, answer.reply.candidates);
      tally.query += performance.now() - t3;
      tally.bytes += answer.queryBytes + answer.replyBytes;
      if (answer.reply.candidates.some((c) => c.id === q.spot)) tally.inReply++;
      if (resolution.spotId === q.spot) tally.user++;
      else failures.user.push({ spot: q.spot, query: q.index, seed: q.seed, got: resolution.spotId });
      if (resolution.spotId === null) tally.unknown++;

      const view = { vector: transformed.vector, candidates: answer.reply.candidates, k };
      for (const adversary of adversaries) {
        if (adversary.guess(view) === q.spot) adversaryHits.set(adversary.name, adversaryHits.get(adversary.name)! + 1);
      }
      tally.render += t1 - t0;
      tally.extract += t2 - t1;
      options.onProgress?.(++done, plan.queries.length);
    }

    const n = plan.queries.length;
    const rates = Object.fromEntries([...adversaryHits].map(([name, hits]) => [name, round(hits / n)]));
    const referenceKinds: Record<string, number> = {};
    for (const r of plan.references) referenceKinds[r.source.kind] = (referenceKinds[r.source.kind] ?? 0) + 1;
    return {
      baseline_top1: round(tally.baseline / n),
      user_top1: round(tally.user / n),
      server_top1: Math.max(...Object.values(rates)),
      bytes_per_result: round(tally.bytes / n, 1),
      k,
      spots: spots.length,
      queries: n,
      queries_per_spot: queriesPerSpot,
      model,
      seed,
      adversaries: rates,
      user_unknown: round(tally.unknown / n),
      real_in_reply: round(tally.inReply / n),
      region_pack_bytes: region.bytes,
      decoy_sigma: sigma,
      failures,
      protocol: {
        references: referenceKinds,
        queries: 'distortPhoto default camera ranges, query seed stream',
        server: server instanceof InProcessServer ? 'in-process recognizer, exact index, wire codec' : 'external',
      },
      timing: {
        wall_s: round((performance.now() - started) / 1000, 2),
        enrol_s: round(enrolS, 2),
        render_ms_mean: round(tally.render / n, 2),
        extract_ms_mean: round(tally.extract / n, 2),
        query_ms_mean: round(tally.query / n, 2),
      },
    };
  } finally {
    await server?.close();
    await extractor.stop().catch((err: Error) => logger.warn({ err: err.message }, 'extractor stop failed'));
    await rm(work, { recursive: true, force: true });
  }
}

/** Writes the reference pictures as a spot folder (with the original spots.json) and enrols it. */
async function enrollReferences(
  plan: EvalPlan,
  spotsDir: string,
  referencesDir: string,
  galleryPath: string,
  extractor: Extractor,
  logger: Logger,
): Promise<void> {
  await mkdir(referencesDir, { recursive: true });
  for (const r of plan.references) {
    const ext = r.source.kind === 'separate-photo' ? extname(r.source.file) : '.jpg';
    await writeFile(join(referencesDir, `${r.spot}${ext}`), await renderReference(r));
  }
  await copyFile(join(spotsDir, METADATA_FILE), join(referencesDir, METADATA_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await enroll({ spotsDir: referencesDir, outPath: galleryPath, extractor, logger });
}

/** Writes the report next to its final name and renames it, so a reader never sees half a file. */
export async function writeReport(path: string, report: EvalReport): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new UserError(`Cannot write the evaluation report ${path} (${(err as Error).message}); choose a writable --out file.`, {
      cause: err,
    });
  }
}

function checkInteger(flag: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new UserError(`eval: ${flag} must be an integer ≥ ${min} (got ${value}).`);
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
