import type { RecognizerConfig } from '../config/types.js';
import { brokerOptionsFrom } from '../config/broker.js';
import { loadManifest } from '../extractor/manifest.js';
import { RecognizerEndpoint, type RecognizerEndpointCounters } from '../transport/recognizer-endpoint.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { BrokerOptions } from '../transport/broker.js';
import { SystemdNotifier } from '../health/systemd-notify.js';
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
  private readonly notifier: SystemdNotifier;
  private watchdogTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RecognizerServiceOptions) {
    this.notifier = new SystemdNotifier({ logger: options.logger });
  }

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
    await this.notifier.ready(`serving ${index.size} spots`);
    this.startWatchdog();
    logger.info(
      { model: meta.model, spots: index.size, galleryVersion: meta.galleryVersion, index: config.index.kind },
      'recognizer ready',
    );
  }

  counters(): RecognizerEndpointCounters | undefined {
    return this.endpoint?.counters();
  }

  /**
   * The recognizer's progress is being able to answer: it pings systemd only while connected to the broker, so a
   * recognizer cut off from its broker for longer than the watchdog period is restarted.
   */
  private startWatchdog(): void {
    const period = this.notifier.watchdogMs();
    if (period === null) return;
    this.watchdogTimer = setInterval(() => {
      const counters = this.endpoint?.counters();
      if (counters?.state === 'connected') void this.notifier.watchdog(`queries ${counters.queries}`);
    }, period / 2);
    this.watchdogTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    await this.notifier.stopping().catch(() => false);
    await this.endpoint?.stop();
    this.endpoint = undefined;
    this.store?.close();
    this.store = undefined;
  }
}
