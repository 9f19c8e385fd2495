import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createFrameSource } from '../camera/index.js';
import type { FrameSource } from '../camera/types.js';
import { brokerOptionsFrom } from '../config/broker.js';
import type { EdgeConfig } from '../config/types.js';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { SqliteGallery } from '../gallery/sqlite-gallery.js';
import { cryptoRandom, type Random } from '../privacy/random.js';
import { createTransform } from '../privacy/transform.js';
import { RecognitionClient } from '../transport/recognition-client.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { RegionPackMessage } from '../transport/messages.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { EdgeDaemon, type EdgeResult } from './edge-daemon.js';
import { Resolver } from './resolver.js';

export interface EdgeRuntimeOptions {
  config: EdgeConfig;
  logger: Logger;
  /** Replace the camera configured in the profile (the demo passes its own replay). */
  source?: FrameSource;
  /** Default crypto-backed; only the evaluation harness and tests pass a seeded one. */
  random?: Random;
  /** Demo only: MQTT 3.1.1 for an embedded broker without v5 (docs/decisions.md). */
  protocolVersion?: 4 | 5;
}

/**
 * Builds the device daemon from a profile and owns the lifetime of its parts (zigbee2mqtt style: every part has
 * start()/stop(), this wires them in order and tears them down in reverse).
 */
export class EdgeRuntime {
  private extractor: OnnxExtractor | undefined;
  private gallery: SqliteGallery | undefined;
  private client: RecognitionClient | undefined;
  private daemon: EdgeDaemon | undefined;
  private rotation: NodeJS.Timeout | undefined;

  constructor(private readonly options: EdgeRuntimeOptions) {}

  /** The running pipeline: subscribe to its 'result' events, read its stats. */
  get edge(): EdgeDaemon {
    if (!this.daemon) throw new Error('edge runtime is not started');
    return this.daemon;
  }

  get transport(): RecognitionClient {
    if (!this.client) throw new Error('edge runtime is not started');
    return this.client;
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const random = this.options.random ?? cryptoRandom();

    const extractor = new OnnxExtractor({
      manifestPath: config.model.manifest,
      executionProviders: config.model.executionProviders,
      intraOpThreads: config.model.intraOpThreads || undefined,
      graphOptimizationLevel: config.model.graphOptimizationLevel,
      logger,
    });
    this.extractor = extractor;
    await extractor.start();

    mkdirSync(dirname(config.gallery.path), { recursive: true });
    const gallery = new SqliteGallery(config.gallery.path, {
      maxResults: config.gallery.historyLimit,
      model: extractor.modelId,
      logger,
    });
    this.gallery = gallery;

    const client = new RecognitionClient({
      ...(await brokerOptionsFrom(config.transport)),
      limits: wireLimitsFor(extractor.dimension),
      model: extractor.modelId,
      requestTimeoutMs: config.transport.requestTimeoutMs,
      protocolVersion: this.options.protocolVersion ?? 5,
      logger,
    });
    this.client = client;
    await client.start();

    const pack = await this.regionPack(client, gallery, extractor.modelId);
    const sigma = config.privacy.decoySigma ?? extractor.manifest.viewVariation?.sigma;
    if (sigma === undefined) {
      throw new UserError(
        `model '${extractor.modelId}' has no viewVariation in its manifest; set privacy.decoySigma in ${config.configFile} or use a model that ships one.`,
      );
    }
    const transform = createTransform(
      {
        kind: config.privacy.transform,
        k: config.privacy.k,
        decoys: config.privacy.decoys,
        candidatesPerComponent: config.privacy.candidatesPerComponent,
      },
      { pool: { spots: pack.spots }, variation: { sigma }, random },
    );
    const resolver = new Resolver({
      threshold: config.resolver.threshold,
      cacheThreshold: config.resolver.cacheThreshold,
      window: { size: config.resolver.windowSize, maxAgeMs: config.resolver.windowMaxAgeMs },
      logger,
    });

    this.daemon = new EdgeDaemon({
      source: this.options.source ?? createFrameSource(config.camera, { logger }),
      extractor,
      transform,
      transport: client,
      gallery,
      resolver,
      schedule: { mode: config.scheduler.mode, ratePerSecond: config.scheduler.ratePerSecond },
      cacheThreshold: config.resolver.cacheThreshold,
      sceneChangeCosine: config.resolver.sceneChangeCosine,
      random: () => random.next(),
      logger,
    });
    this.daemon.on('result', (r: EdgeResult) =>
      logger.info({ spot: r.spotId, score: Number(r.score.toFixed(3)), latencyMs: r.latencyMs, fromCache: r.fromCache }, 'result'),
    );
    await this.daemon.start();

    if (config.transport.rotateIdentityMinutes > 0) {
      this.rotation = setInterval(() => {
        client.rotateIdentity().catch((err: Error) => logger.warn({ err: err.message }, 'identity rotation failed'));
      }, config.transport.rotateIdentityMinutes * 60_000);
      this.rotation.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.rotation) clearInterval(this.rotation);
    this.rotation = undefined;
    await this.daemon?.stop();
    await this.client?.stop();
    await this.extractor?.stop();
    this.gallery?.close();
    this.daemon = undefined;
    this.client = undefined;
    this.extractor = undefined;
    this.gallery = undefined;
  }

  /**
   * The region pack decoys are drawn from: fresh from the recognizer when it answers, else the copy cached on the
   * device, so a restart while the broker is away still starts with privacy on.
   */
  private async regionPack(client: RecognitionClient, gallery: SqliteGallery, model: string): Promise<RegionPackMessage> {
    const region = this.options.config.transport.region;
    try {
      const pack = await client.fetchRegion(region);
      gallery.saveRegionPack(pack);
      return pack;
    } catch (err) {
      const cached = gallery.loadRegionPack(region, model);
      if (!cached) {
        throw new UserError(
          `could not fetch region pack '${region}' from the recognizer (${(err as Error).message}) and none is cached; check that a recognizer with model '${model}' serves this broker.`,
        );
      }
      this.options.logger.warn({ region, err: (err as Error).message }, 'using the cached region pack');
      return cached;
    }
  }
}
