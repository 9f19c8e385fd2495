/**
 * What a recognizer is measured against, shared by `enfpire load` (through a broker) and `enfpire bench` (in-process):
 * a gallery of real photo windows and synthetic spots (gallery.ts), the queries devices of some of its regions send
 * (queries.ts), and the exact scan's answer to each, for the component recall (recall.ts).
 */
import { loadManifest, type LoadedManifest } from '../extractor/manifest.js';
import { dequantize, quantize } from '../domain/quantize.js';
import { normalize } from '../util/vector.js';
import { ExactIndex } from '../recognizer/spot-index.js';
import { SpotStore, type StoredSpot } from '../recognizer/spot-store.js';
import { defaultModelManifest, packageRoot } from '../util/paths.js';
import { DEFAULT_REGION_SIZE, loadGalleryFile } from './gallery.js';
import { defaultLoadCacheDir, defaultPhotoDirs, photoFeatures, type PhotoFeatures } from './photo-features.js';
import { buildQueryPool, type LoadQuery } from './queries.js';

export interface WorkloadOptions {
  spots: number;
  /** Queries built ahead, all regions together; default 600 (200 past 100,000 spots, where each costs a long exact scan). */
  poolSize?: number;
  /** Most regions whose devices send queries (default 20). */
  maxRegions?: number;
  regionSize?: number;
  seed?: number;
  /** Where photo features, galleries and HNSW graphs are kept between runs. */
  cacheDir?: string;
  /** Photo folders; default the benchmark photos (scripts/build-benchmark.mjs) and the samples. */
  photoDirs?: string[];
  /** Real windows cut from the photographs (default 10,000); spots beyond them are synthetic (gallery.ts). */
  photoWindows?: number;
  manifestPath?: string;
  /** Also build the gallery's next edition (for a rolling update). */
  nextEdition?: boolean;
  progress?: (line: string) => void;
}

export interface Gallery {
  path: string;
  version: string;
  spots: StoredSpot[];
}

export interface Workload {
  manifest: LoadedManifest;
  manifestPath: string;
  features: PhotoFeatures;
  gallery: Gallery;
  next?: Gallery;
  regionSize: number;
  /** Regions with devices, and each one's queries in sending order. */
  regions: string[];
  queries: Map<string, LoadQuery[]>;
  /** The exact scan's ids for each query (edition 1). */
  exact: Map<LoadQuery, string[]>;
}

export async function prepareWorkload(options: WorkloadOptions): Promise<Workload> {
  const say = options.progress ?? (() => undefined);
  const manifestPath = options.manifestPath ?? defaultModelManifest;
  const manifest = await loadManifest(manifestPath);
  const cacheDir = options.cacheDir ?? defaultLoadCacheDir();
  const regionSize = Math.min(options.regionSize ?? DEFAULT_REGION_SIZE, options.spots);
  const seed = options.seed ?? 1;
  const windows = options.photoWindows ?? 10_000;
  say(`photo features: ${windows} windows of real photographs (cached in ${cacheDir})`);
  const features = await photoFeatures({
    dirs: options.photoDirs ?? defaultPhotoDirs(packageRoot),
    manifestPath,
    count: windows,
    views: Math.min(1000, windows),
    cacheDir,
    progress: say,
  });
  const galleryOptions = { spots: options.spots, features, model: manifest.id, seed, regionSize, cacheDir, featuresKey: features.key };
  say(`gallery: ${options.spots} spots`);
  const gallery = readGallery(await loadGalleryFile({ ...galleryOptions, edition: 1 }));
  const next = options.nextEdition ? readGallery(await loadGalleryFile({ ...galleryOptions, edition: 2 })) : undefined;

  const all = [...new Set(gallery.spots.map((s) => s.region))].sort();
  const used = Math.min(all.length, options.maxRegions ?? 20);
  const regions = Array.from({ length: used }, (_, i) => all[Math.floor((i * all.length) / used)]);
  const poolSize = options.poolSize ?? (options.spots > 100_000 ? 200 : 600);
  say(`queries: ${poolSize} built ahead by the k-mix transform over ${used} region packs`);
  const queries = buildQueryPool(
    { spots: gallery.spots, features, perRegion: Math.ceil(poolSize / used), regions, seed },
    manifest.viewVariation?.sigma ?? 0.4,
  );
  say('exact answers for the component recall');
  const exactIndex = new ExactIndex(gallery.spots);
  const exact = new Map<LoadQuery, string[]>();
  // On the vector as it travels (int8): the recognizer ranks that one, and near the end of a reply a component's
  // place can change with quantisation, which is no loss of the index.
  for (const list of queries.values()) for (const q of list) exact.set(q, exactIndex.search(onWire(q.vector), q.topM).map((h) => h.id));
  return { manifest, manifestPath, features, gallery, next, regionSize, regions, queries, exact };
}

/** A query vector as the recognizer sees it: int8 on the wire, then normalised. */
export function onWire(v: Float32Array): Float32Array {
  return normalize(dequantize(quantize(v)));
}

function readGallery(path: string): Gallery {
  const store = SpotStore.open(path);
  try {
    return { path, spots: store.all(), version: store.meta().galleryVersion };
  } finally {
    store.close();
  }
}
