import type { RecognizerConfig } from '../config/types.js';
import { brokerOptionsFrom, signerFrom } from '../config/broker.js';
import { loadManifest } from '../extractor/manifest.js';
import { RecognizerEndpoint, type RecognizerEndpointCounters } from '../transport/recognizer-endpoint.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { BrokerOptions } from '../transport/broker.js';
import { SystemdNotifier } from '../health/systemd-notify.js';
import { packageVersion } from '../api/version.js';
import type { ListenAddress } from '../util/listen-address.js';
import type { Logger } from '../util/log.js';
import { createRecognizerMetrics, type RecognizerMetrics } from './metrics.js';
import { MetricsServer, type RecognizerHealth } from './metrics-server.js';
import { Recognizer } from './recognizer.js';
import { openSpotIndex } from './open-spot-index.js';
import { hnswCacheFile, type SpotIndex } from './spot-index.js';
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
 * With metrics.enabled, a small HTTP listener serves /metrics and /healthz (metrics-server.ts).
 */
export class RecognizerService {
  private store: SpotStore | undefined;
  private index: SpotIndex | undefined;
  private endpoint: RecognizerEndpoint | undefined;
  private readonly notifier: SystemdNotifier;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private metricsServer: MetricsServer | undefined;
  /** What is being served, for the metrics and /healthz (read once: the gallery never changes while serving). */
  private serving: { model: string; galleryVersion: string; spots: number } | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly options: RecognizerServiceOptions) {
    this.notifier = new SystemdNotifier({ logger: options.logger });
  }

  async start(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async open(): Promise<void> {
    const { config, logger } = this.options;
    const metrics = config.metrics.enabled ? this.createMetrics() : undefined;
    const manifest = await loadManifest(config.model);
    const store = SpotStore.open(config.gallery, { model: manifest.id, dimension: manifest.output.dimension });
    this.store = store;
    const meta = store.meta();
    const indexOptions = { ...config.index, logger, cacheFile: undefined as string | undefined };
    if (config.index.kind === 'hnsw' && config.index.cacheGraph) indexOptions.cacheFile = hnswCacheFile(config.gallery, meta.galleryVersion, config.index);
    const index = await openSpotIndex(store.all(), indexOptions);
    this.index = index;
    this.serving = { model: meta.model, galleryVersion: meta.galleryVersion, spots: index.size };
    const recognizer = new Recognizer(store, index, { maxTopM: config.maxTopM, regionPageSpots: config.regionPageSpots });
    // Bound before the broker connection, so a bad metrics.listen fails fast and /healthz answers 503 meanwhile.
    await metrics?.server.start();
    this.metricsServer = metrics?.server;
    const broker: BrokerOptions = await brokerOptionsFrom(config.broker);
    const signer = await signerFrom(config);
    if (signer) logger.info({ key: signer.keyId.toString('hex') }, 'answers are signed with the operator key');
    else logger.warn('no signingKeyFile: answers go unsigned, and devices that pin an operator key will refuse them');
    const protocolVersion = this.options.protocolVersion ?? 5;
    this.endpoint = new RecognizerEndpoint({
      ...broker,
      group: config.group,
      // Any reply size the protocol allows is decoded and then capped at maxTopM (Recognizer): a device that asks for
      // more than this recognizer returns gets a shorter reply, not an error.
      limits: wireLimitsFor(meta.dimension, { maxCandidates: Math.max(config.maxTopM, wireLimitsFor(meta.dimension).maxCandidates) }),
      handler: recognizer,
      logger,
      protocolVersion,
      shared: protocolVersion === 5,
      onAnswer: metrics?.metrics.observe,
      signer,
    });
    await this.endpoint.start();
    await this.notifier.ready(`serving ${index.size} spots`);
    this.startWatchdog();
    logger.info(
      { model: meta.model, spots: index.size, galleryVersion: meta.galleryVersion, index: config.index.kind },
      'recognizer ready',
    );
  }

  /** Where the metrics listener listens (undefined unless metrics.enabled and started). */
  get metricsListening(): ListenAddress | undefined {
    return this.metricsServer?.listening;
  }

  /** The metrics and their listener; the constructor checks metrics.listen before anything is opened. */
  private createMetrics(): { metrics: RecognizerMetrics; server: MetricsServer } {
    const { config, logger } = this.options;
    const version = packageVersion();
    const metrics = createRecognizerMetrics(() => ({
      endpoint: this.endpoint?.counters(),
      model: this.serving?.model ?? '',
      galleryVersion: this.serving?.galleryVersion ?? '',
      spots: this.serving?.spots ?? 0,
      index: config.index.kind,
      version,
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
    }));
    const server = new MetricsServer({ listen: config.metrics.listen, metrics, health: () => this.health(), logger });
    return { metrics, server };
  }

  /** /healthz: serving while connected to the broker, the same progress the systemd watchdog is fed on. */
  private health(): RecognizerHealth {
    const state = this.endpoint?.counters().state ?? 'starting';
    return {
      serving: state === 'connected',
      body: {
        broker: state,
        spots: this.serving?.spots ?? 0,
        gallery_version: this.serving?.galleryVersion ?? null,
        uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      },
    };
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
    await this.close();
  }

  /** Closes whatever start() opened: the broker connection, the metrics listener, the index, the gallery. */
  private async close(): Promise<void> {
    await this.endpoint?.stop();
    this.endpoint = undefined;
    await this.metricsServer?.stop();
    this.metricsServer = undefined;
    await this.index?.close?.();
    this.index = undefined;
    this.store?.close();
    this.store = undefined;
  }
}
