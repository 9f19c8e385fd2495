import type { RecognizerConfig } from '../config/types.js';
import { brokerOptionsFrom } from '../config/broker.js';
import { loadManifest } from '../extractor/manifest.js';
import { RecognizerEndpoint, type RecognizerEndpointCounters } from '../transport/recognizer-endpoint.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { BrokerOptions } from '../transport/broker.js';
import type { Logger } from '../util/log.js';
import { Recognizer } from './recognizer.js';
import { createSpotIndex } from './spot-index.js';
import { SpotStore } from './spot-store.js';

export interface RecognizerServiceOptions {
  /** The loaded recognizer profile (or the demo's equivalent). */
  config: RecognizerConfig;
  logger: Logger;
  /** Demo only: MQTT 3.1.1 for an embedded broker without v5 (docs/decisions.md). */
  protocolVersion?: 4 | 5;
}

/**
 * The broker-side service (DESIGN §6): the gallery in SQLite, an index over it, and the MQTT endpoint that answers
 * queries on the shared subscription. Stateless per query and keeps no query log, so any number can run side by side.
 */
export class RecognizerService {
  private store: SpotStore | undefined;
  private endpoint: RecognizerEndpoint | undefined;

  constructor(private readonly options: RecognizerServiceOptions) {}

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const manifest = await loadManifest(config.model);
    const store = SpotStore.open(config.gallery, { model: manifest.id, dimension: manifest.output.dimension });
    this.store = store;
    const meta = store.meta();
    const index = createSpotIndex(store.all(), { kind: config.index.kind, efSearch: config.index.efSearch });
    const recognizer = new Recognizer(store, index, { maxTopM: config.maxTopM });
    const broker: BrokerOptions = await brokerOptionsFrom(config.broker);
    const protocolVersion = this.options.protocolVersion ?? 5;
    this.endpoint = new RecognizerEndpoint({
      ...broker,
      group: config.group,
      limits: wireLimitsFor(meta.dimension, { maxCandidates: Math.max(config.maxTopM, 1) }),
      handler: recognizer,
      logger,
      protocolVersion,
      shared: protocolVersion === 5,
    });
    await this.endpoint.start();
    logger.info(
      { model: meta.model, spots: index.size, galleryVersion: meta.galleryVersion, index: config.index.kind },
      'recognizer ready',
    );
  }

  counters(): RecognizerEndpointCounters | undefined {
    return this.endpoint?.counters();
  }

  async stop(): Promise<void> {
    await this.endpoint?.stop();
    this.endpoint = undefined;
    this.store?.close();
    this.store = undefined;
  }
}
