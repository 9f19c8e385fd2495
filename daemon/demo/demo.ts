import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadEdgeConfig, loadRecognizerConfig } from '../config/load.js';
import { EdgeRuntime } from '../edge/edge-runtime.js';
import type { EdgeResult } from '../edge/edge-daemon.js';
import { distortPhoto } from '../augment/distort.js';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { enroll } from '../recognizer/enroll.js';
import { RecognizerService } from '../recognizer/service.js';
import type { Logger } from '../util/log.js';
import { defaultModelManifest, sampleSpotsDir } from '../util/paths.js';
import { listSpotPhotos } from '../util/spots-dir.js';
import { EmbeddedBroker } from './embedded-broker.js';

export interface DemoOptions {
  /** One pass over the replay, then stop (the summary is returned). */
  once: boolean;
  /** Anonymity set size. */
  k: number;
  /** Camera views generated per sample spot. */
  views: number;
  /** Seed of the generated camera views (not of the privacy layer, which uses crypto randomness as in production). */
  seed: number;
  /** Where the edge daemon's local API listens ('127.0.0.1:0' picks a free port); `enfpire status` reads it. */
  api: string;
  /** More api.* settings for the edge profile (thumbnail, lan), as in a profile. */
  apiSettings?: Record<string, unknown>;
  /** Called once the pipeline runs, with the local API's address (and the LAN listener's, with api.lan). */
  onReady?: (apiAddress: string | undefined, lanAddress?: string) => void;
  logger: Logger;
  /** Called with each result as it happens. */
  onResult: (result: EdgeResult, correct: boolean) => void;
  /** Resolves to stop a continuous demo (e.g. on SIGINT). */
  stopSignal?: Promise<void>;
}

/** The machine-readable last line of `enfpire demo --once` (DESIGN §9). */
export interface DemoSummary {
  results: number;
  correct: number;
  real_queries: number;
  dummy_queries: number;
  user_top1: number;
}

/**
 * The embedded default: an in-process broker, a recognizer enrolled from the bundled sample spots, and an edge daemon
 * whose camera replays views of those spots that the gallery never saw (crop, rotation, exposure, noise, JPEG from
 * a seed). Both services are configured through the same profiles and loaders as in production.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { logger } = options;
  const work = await mkdtemp(join(tmpdir(), 'enfpire-demo-'));
  const broker = new EmbeddedBroker();
  let recognizer: RecognizerService | undefined;
  let edge: EdgeRuntime | undefined;
  try {
    const viewsDir = join(work, 'camera');
    const galleryPath = join(work, 'recognizer.db');
    const frames = await prepareGalleryAndViews(sampleSpotsDir, galleryPath, viewsDir, options);

    await broker.start();
    const recognizerFile = join(work, 'recognizer.yaml');
    await writeFile(
      recognizerFile,
      stringify({ broker: { url: broker.url }, gallery: galleryPath, model: defaultModelManifest, index: { kind: 'exact' }, log: { level: 'warn' } }),
    );
    recognizer = new RecognizerService({ config: await loadRecognizerConfig(recognizerFile), logger, protocolVersion: 4 });
    await recognizer.start();

    const edgeFile = join(work, 'edge.yaml');
    await writeFile(
      edgeFile,
      stringify({
        // Each replayed view is a separate picture to recognise, so the unchanged-scene gate stays off.
        camera: { kind: 'files', dir: viewsDir, fps: 2, loop: !options.once, gate: { enabled: false } },
        model: { manifest: defaultModelManifest },
        // The demo's camera turns to another spot every second or two, faster than any decoy track ends a visit: under
        // the devices' default 'deferred' arrival nearly every frame would be named from the region pack and the demo
        // would show no real query. It shows the real queries going out among dummies, as 'immediate' sends them.
        privacy: { transform: { kind: 'kmix', k: options.k, arrival: 'immediate' } },
        transport: { url: broker.url, region: '*', rotateIdentityMinutes: 0 },
        gallery: { path: join(work, 'edge.db') },
        scheduler: { mode: 'constant', ratePerSecond: 4 },
        api: { ...options.apiSettings, enabled: true, listen: options.api },
        log: { level: 'warn' },
      }),
    );
    edge = new EdgeRuntime({ config: await loadEdgeConfig(edgeFile), logger, protocolVersion: 4 });
    let results = 0;
    let correct = 0;
    edge.on('result', (result: EdgeResult) => {
      const expected = result.label?.split('/')[0];
      const ok = result.spotId !== null && result.spotId === expected;
      results++;
      if (ok) correct++;
      options.onResult(result, ok);
    });
    await edge.start();
    options.onReady?.(edge.apiAddress, edge.lanAddress);
    await (options.once ? edge.edge.finished : Promise.race([edge.edge.finished, options.stopSignal ?? new Promise(() => {})]));
    const stats = edge.edge.stats();
    return {
      results,
      correct,
      real_queries: stats.realQueries,
      dummy_queries: stats.dummyQueries,
      // Out of every frame shown, so a dropped or unanswered frame counts against the user.
      user_top1: frames > 0 ? round(correct / (options.once ? frames : Math.max(results, 1)), 4) : 0,
    };
  } finally {
    await edge?.stop().catch((err: Error) => logger.warn({ err: err.message }, 'edge stop failed'));
    await recognizer?.stop().catch((err: Error) => logger.warn({ err: err.message }, 'recognizer stop failed'));
    await broker.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Enrols the sample spots and writes `views` distorted camera views of each; returns the number of views. */
async function prepareGalleryAndViews(spotsDir: string, galleryPath: string, viewsDir: string, options: DemoOptions): Promise<number> {
  const extractor = new OnnxExtractor({ manifestPath: defaultModelManifest, logger: options.logger });
  await extractor.start();
  try {
    await enroll({ spotsDir, outPath: galleryPath, extractor, logger: options.logger });
  } finally {
    await extractor.stop();
  }
  let count = 0;
  for (const spot of await listSpotPhotos(spotsDir)) {
    await mkdir(join(viewsDir, spot.id), { recursive: true });
    const photo = await readFile(spot.files[0]);
    for (let v = 1; v <= options.views; v++) {
      const seed = options.seed * 100_003 + count;
      await writeFile(join(viewsDir, spot.id, `view-${v}.jpg`), await distortPhoto(photo, seed));
      count++;
    }
  }
  return count;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
