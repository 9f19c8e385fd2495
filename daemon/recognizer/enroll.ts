import { createHash } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import type { Extractor } from '../extractor/types.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { listSpotPhotos, loadSpotMetadata, type SpotMetadata } from '../util/spots-dir.js';
import { isFiniteFeature } from '../domain/feature.js';
import { SpotStore } from './spot-store.js';
import { mapInOrder } from '../util/concurrency.js';
import { distortPhoto } from '../augment/distort.js';
import { DEFAULT_VIEW_DIRECTIONS, fitViewModel } from '../domain/view-model.js';
import type { SpotViewModel } from '../domain/spot.js';

export interface EnrollOptions {
  /** Folder of spot photos (see util/spots-dir.ts), with an optional spots.json. */
  spotsDir: string;
  /** Recognizer gallery to write; replaced only once the new one is complete. */
  outPath: string;
  /** A started extractor; its model id and dimension are stamped on the gallery. */
  extractor: Extractor;
  logger?: Logger;
  /** Grid spacing in metres for spots without coordinates (about a city block). */
  spacing?: number;
  /**
   * Per-spot view model: camera views rendered per spot (split over its photos) and principal directions kept.
   * Default { views: 12, directions: 5 }; false enrols references only (decoys then fall back to isotropic noise).
   */
  viewModel?: { views: number; directions: number } | false;
  /**
   * Photos a spot's view model is rendered from, by spot id; default the spot's own photos. The evaluation passes
   * the scene photos its queries are cut from, while the reference comes from an enrolment view (docs/privacy.md,
   * "View models").
   */
  viewSources?: ReadonlyMap<string, readonly string[]>;
  /**
   * Renders view number `seed` of a photo for the view model; default a camera view of the whole photo
   * (augment/distort.ts). The evaluation passes views like its simulated wearers' frames.
   */
  renderView?: (file: string, seed: number) => Promise<Buffer>;
  /**
   * Camera views of the spot's own photos averaged into its reference (rendered like the view model's, from a seed
   * stream of their own). Default DEFAULT_REFERENCE_VIEWS; 0: the reference is the mean of the photos' features alone.
   * A reference that is the centre of the views a camera takes, rather than one picture, sits nearer every query of
   * the spot (decision 51).
   */
  referenceViews?: number;
  /** Spots enrolled at once (ENROL_CONCURRENCY by default); the gallery is the same for any value. */
  concurrency?: number;
}

/** Camera views averaged into each reference unless told otherwise (decision 51: 4 views measured at 1,077 and 10,555 spots). */
export const DEFAULT_REFERENCE_VIEWS = 4;

export const DEFAULT_VIEW_MODEL = { views: 12, directions: DEFAULT_VIEW_DIRECTIONS } as const;
/** View-model views rendered and extracted at once, per spot. */
const VIEW_CONCURRENCY = 4;
/**
 * Spots enrolled at once. On two cores 2 and 3 measured about alike (553 and 532 ms a spot against 631 for 1; single
 * runs, docs/benchmark.md "Enrolment speed"): each spot already keeps 4 views in flight.
 */
export const ENROL_CONCURRENCY = 2;

export interface EnrollResult {
  spots: number;
  photos: number;
  galleryVersion: string;
}

export const DEFAULT_REGION = 'default';
export const DEFAULT_SPACING_M = 80;

/**
 * Builds a recognizer gallery from a folder of spot photos. Each spot's reference feature is the L2-normalised mean
 * of its photos' features. The gallery is built as `<out>.tmp` and renamed over `<out>` only when complete, so a
 * failed enrolment (bad photo, full disk, Ctrl-C) never destroys the gallery a recognizer is serving.
 */
export async function enroll(options: EnrollOptions): Promise<EnrollResult> {
  const { spotsDir, outPath, extractor } = options;
  const log = options.logger ?? silentLogger();
  const spots = await listSpotPhotos(spotsDir);
  const metadata = await loadSpotMetadata(spotsDir);
  const known = new Set(spots.map((s) => s.id));
  const orphans = [...metadata.keys()].filter((id) => !known.has(id));
  if (orphans.length > 0) log.warn({ ids: orphans.slice(0, 20), count: orphans.length }, 'spots.json names spots with no photos');

  const placed = placeSpots(
    spots.map((s) => ({ id: s.id, meta: metadata.get(s.id) })),
    options.spacing ?? DEFAULT_SPACING_M,
  );

  const viewOptions = options.viewModel === undefined ? DEFAULT_VIEW_MODEL : options.viewModel;
  if (viewOptions && !(Number.isInteger(viewOptions.views) && viewOptions.views >= 2)) {
    throw new RangeError(`viewModel.views must be an integer >= 2, got ${viewOptions.views}`);
  }
  const tmpPath = `${outPath}.tmp`;
  await removeDatabaseFiles(tmpPath); // left over from an enrolment that was killed
  const store = SpotStore.create(tmpPath, { model: extractor.modelId, dimension: extractor.dimension });
  let photos = 0;
  try {
    // Spots are rendered and extracted a few at a time and stored in folder order: the gallery is the same as one
    // spot at a time, and both cores work (one spot's renders while another's views are extracted).
    const enrolSpot = async (spot: (typeof spots)[number]) => {
      const feature = await referenceFeature(spot.id, spot.files, extractor, { views: options.referenceViews ?? DEFAULT_REFERENCE_VIEWS, renderView: options.renderView });
      const viewFiles = options.viewSources?.get(spot.id) ?? spot.files;
      const view = viewOptions ? await learnViewModel(spot.id, viewFiles, feature, extractor, viewOptions, options.renderView) : undefined;
      return { feature, view };
    };
    await mapInOrder(spots, options.concurrency ?? ENROL_CONCURRENCY, enrolSpot, ({ feature, view }, i) => {
      const spot = spots[i];
      photos += spot.files.length;
      const meta = metadata.get(spot.id);
      const where = placed.get(spot.id)!;
      const info = { ...meta?.extra, name: meta?.name ?? spot.id, description: meta?.description, url: meta?.url };
      store.put({ id: spot.id, feature, info: dropUndefined(info), ...where, popularity: meta?.popularity ?? 1, ...(view ? { view } : {}) });
      log.debug({ id: spot.id, photos: spot.files.length }, 'enrolled spot');
    });
    const { galleryVersion } = store.meta();
    store.close();
    try {
      await rename(tmpPath, outPath);
    } catch (err) {
      throw new UserError(`Cannot write the recognizer gallery ${outPath} (${(err as Error).message}); choose a writable --out file.`, {
        cause: err,
      });
    }
    log.info({ out: outPath, spots: spots.length, photos, model: extractor.modelId, galleryVersion }, 'gallery enrolled');
    return { spots: spots.length, photos, galleryVersion };
  } catch (err) {
    store.close();
    await removeDatabaseFiles(tmpPath);
    throw err;
  }
}

/**
 * Seed of enrolment view `index` of `spot`: its own stream ("view-model"), disjoint from the evaluation's
 * enrol/query/privacy/adversary streams (daemon/eval/views.ts), so the views a gallery learns from are never the
 * ones an adversary or a query renders.
 */
export function viewModelSeed(spot: string, index: number): number {
  return createHash('sha256').update(`view-model\0${spot}\0${index}`).digest().readUIntBE(0, 6);
}

/** Renders `views` seeded camera views of the spot's photos, extracts them and fits the spot's view model. */
async function learnViewModel(
  spot: string,
  files: readonly string[],
  reference: Float32Array,
  extractor: Extractor,
  options: { views: number; directions: number },
  renderView: RenderView | undefined,
): Promise<SpotViewModel> {
  const features = await cameraViewFeatures(files, options.views, (v) => viewModelSeed(spot, v), extractor, renderView);
  return fitViewModel(reference, features, options.directions);
}

type RenderView = (file: string, seed: number) => Promise<Buffer>;

/**
 * Features of `count` seeded camera views of `files` (view v from file v mod n, seed `seedOf(v)`), rendered by
 * `renderView` or as a camera view of the whole photo (augment/distort.ts). A few at a time: sharp and ONNX Runtime
 * work off the main thread, and a thousand-spot gallery renders a dozen or more per spot.
 */
async function cameraViewFeatures(
  files: readonly string[],
  count: number,
  seedOf: (view: number) => number,
  extractor: Extractor,
  renderView: RenderView | undefined,
): Promise<Float32Array[]> {
  const photos = renderView || count === 0 ? [] : await Promise.all(files.map((f) => readFile(f)));
  const view = async (v: number): Promise<Float32Array> => {
    const file = files[v % files.length];
    let picture: Buffer;
    try {
      picture = renderView ? await renderView(file, seedOf(v)) : await distortPhoto(photos[v % photos.length], seedOf(v));
    } catch (err) {
      throw new UserError(`Cannot render a camera view of the spot photo ${file} (${(err as Error).message}); replace or remove it.`, { cause: err });
    }
    const feature = await extractor.extract(picture);
    if (!isFiniteFeature(feature, extractor.dimension)) {
      throw new Error(`extractor ${extractor.modelId} returned a malformed feature for a view of ${file}`);
    }
    return feature;
  };
  const features: Float32Array[] = [];
  for (let v = 0; v < count; v += VIEW_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(VIEW_CONCURRENCY, count - v) }, (_, i) => view(v + i));
    features.push(...(await Promise.all(batch)));
  }
  return features;
}

/**
 * Seed of reference view `index` of `spot`: a stream of its own ("reference-view"), disjoint from the view model's and
 * from the evaluation's streams.
 */
export function referenceViewSeed(spot: string, index: number): number {
  return createHash('sha256').update(`reference-view\0${spot}\0${index}`).digest().readUIntBE(0, 6);
}

/**
 * A spot's reference: the L2-normalised mean of its photos' features and of `views` camera views of them (split over
 * the photos in turn; `renderView` as for the view model, default a camera view from augment/distort.ts). The
 * extractor's features are unit vectors, so each counts alike.
 */
export async function referenceFeature(
  spot: string,
  files: readonly string[],
  extractor: Extractor,
  options: { views?: number; renderView?: RenderView } = {},
): Promise<Float32Array> {
  const views = options.views ?? 0;
  if (!(Number.isInteger(views) && views >= 0)) throw new RangeError(`referenceViews must be an integer >= 0, got ${views}`);
  const sum = new Float64Array(extractor.dimension);
  const photos = [];
  for (const file of files) photos.push(await extractPhoto(file, extractor));
  const rendered = await cameraViewFeatures(files, views, (v) => referenceViewSeed(spot, v), extractor, options.renderView);
  for (const feature of [...photos, ...rendered]) for (let i = 0; i < sum.length; i++) sum[i] += feature[i];
  let norm = 0;
  for (const v of sum) norm += v * v;
  norm = Math.sqrt(norm);
  return Float32Array.from(sum, (v) => (norm > 0 ? v / norm : 0));
}

async function extractPhoto(file: string, extractor: Extractor): Promise<Float32Array> {
  let feature: Float32Array;
  try {
    feature = await extractor.extract(await readFile(file));
  } catch (err) {
    // The extractor's own user errors (model missing…) are not this photo's fault.
    if (err instanceof UserError) throw err;
    throw new UserError(`Cannot read the spot photo ${file} (${(err as Error).message}); replace or remove it.`, { cause: err });
  }
  if (!isFiniteFeature(feature, extractor.dimension)) {
    throw new Error(`extractor ${extractor.modelId} returned a malformed feature for ${file}`);
  }
  return feature;
}

export interface PlacedSpot {
  region: string;
  x: number;
  y: number;
}

/**
 * Region and coordinates for every spot: from spots.json when given, otherwise on a square grid per region (in id
 * order) with a jitter derived from the id, so that the same folder always yields the same map and the map does not
 * look like a lattice to a path model. Decoy walkers and the path attack both need plausible distances.
 */
export function placeSpots(
  spots: readonly { id: string; meta?: Pick<SpotMetadata, 'region' | 'x' | 'y'> }[],
  spacing: number = DEFAULT_SPACING_M,
): Map<string, PlacedSpot> {
  const placed = new Map<string, PlacedSpot>();
  const unplaced = new Map<string, string[]>();
  for (const { id, meta } of spots) {
    const region = meta?.region ?? DEFAULT_REGION;
    if (meta?.x !== undefined && meta.y !== undefined) placed.set(id, { region, x: meta.x, y: meta.y });
    else unplaced.set(region, [...(unplaced.get(region) ?? []), id]);
  }
  for (const [region, ids] of unplaced) {
    const side = Math.ceil(Math.sqrt(ids.length));
    ids.forEach((id, i) => {
      const [jx, jy] = jitter(id);
      placed.set(id, {
        region,
        x: round((i % side) * spacing + jx * spacing * 0.5),
        y: round(Math.floor(i / side) * spacing + jy * spacing * 0.5),
      });
    });
  }
  return placed;
}

/** Two numbers in [-0.5, 0.5) from the id's hash. */
function jitter(id: string): [number, number] {
  const h = createHash('sha256').update(id).digest();
  return [h.readUInt32BE(0) / 2 ** 32 - 0.5, h.readUInt32BE(4) / 2 ** 32 - 0.5];
}

function round(metres: number): number {
  return Math.round(metres * 100) / 100;
}

function dropUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

async function removeDatabaseFiles(path: string): Promise<void> {
  await Promise.all(['', '-journal', '-wal', '-shm'].map((suffix) => rm(`${path}${suffix}`, { force: true })));
}
