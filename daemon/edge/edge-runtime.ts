import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createFrameSource } from '../camera/index.js';
import { SceneGate } from '../camera/scene-gate.js';
import type { FrameSource } from '../camera/types.js';
import { brokerOptionsFrom, trustedKeysFrom } from '../config/broker.js';
import type { EdgeConfig } from '../config/types.js';
import { matchThreshold } from '../extractor/manifest.js';
import { createExtractor, type ModelExtractor } from '../extractor/create-extractor.js';
import { SqliteGallery } from '../gallery/sqlite-gallery.js';
import { cryptoRandom, type Random } from '../util/random.js';
import { createTransform } from '../privacy/transform.js';
import { RegionPackScan } from '../privacy/region-pack-scan.js';
import { RecognitionClient } from '../transport/recognition-client.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { RegionPackMessage } from '../transport/messages.js';
import type { ViewModelBounds } from '../extractor/types.js';
import { boundRegionPack } from './region-pack-bounds.js';
import { CandidateBook } from './candidate-book.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { EdgeDaemon, type EdgeResult, type SentQuery } from './edge-daemon.js';
import { formatListenAddress } from '../util/listen-address.js';
import { ApiServer } from '../api/api-server.js';
import { redactedProfile } from '../api/profile.js';
import type { PrivacyState } from '../api/sources.js';
import { packageVersion } from '../api/version.js';
import { LatencyTracker } from '../health/latency.js';
import { PacedFrameSource } from '../health/paced-source.js';
import { SystemdNotifier, ProgressWatchdog } from '../health/systemd-notify.js';
import { SystemTelemetry } from '../health/telemetry.js';
import { ThermalGovernorService, thermalPolicyFrom } from '../health/thermal-governor.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { IdentityRotation } from './identity-rotation.js';
import { regionGateFor } from './region-gate.js';
import { Resolver } from './resolver.js';

/**
 * privacy.transform.startStationary: the first query leaves this long after the camera's first frame, so the device
 * has seen a few frames (a glance away included) of where the wearer stands; and at the latest this long after the
 * pipeline starts, so a camera that gives nothing does not keep the device silent.
 */
const FIRST_QUERY_WAIT = Object.freeze({ afterFirstFrameMs: 3_000, maxMs: 8_000 });

export interface EdgeRuntimeOptions {
  config: EdgeConfig;
  logger: Logger;
  /** Replace the camera configured in the profile (the demo passes its own replay). */
  source?: FrameSource;
  /** Default crypto-backed; only the evaluation harness and tests pass a seeded one. */
  random?: Random;
  /** Demo only: MQTT 3.1.1 for an embedded broker without v5 (docs/decisions.md). */
  protocolVersion?: 4 | 5;
  /** Default the wall clock; the evaluation runs the same assembly in virtual time. */
  clock?: Clock;
  /**
   * Telemetry, thermal governor, local API and systemd notification; default on. The evaluation turns them off: it
   * runs many devices in one process, and none of these parts touches what the server sees (DESIGN §4).
   */
  health?: boolean;
}

/**
 * Builds the device daemon from a profile and owns the lifetime of its parts (zigbee2mqtt style: every part has
 * start()/stop(), this wires them in order and tears them down in reverse).
 */
export class EdgeRuntime extends EventEmitter<{ result: [EdgeResult]; query: [SentQuery] }> {
  private extractor: ModelExtractor | undefined;
  private gallery: SqliteGallery | undefined;
  private client: RecognitionClient | undefined;
  private daemon: EdgeDaemon | undefined;
  private rotation: IdentityRotation | undefined;
  private historyPruner: TimerHandle | undefined;
  // Health parts: all local to the device, none of them talks to the recognition broker (DESIGN §4).
  private telemetry: SystemTelemetry | undefined;
  private governor: ThermalGovernorService | undefined;
  private latency: LatencyTracker | undefined;
  private api: ApiServer | undefined;
  private pack: RegionPackMessage | undefined;
  /** Whether `pack` was fetched this run under a pinned operator key (else it was taken unchecked or from cache). */
  private packVerified = false;
  /** The resolver's threshold: the profile's, else the model manifest's (reported in /status). */
  private matchThreshold: number | undefined;
  private readonly notifier: SystemdNotifier;
  private watchdog: ProgressWatchdog | undefined;

  constructor(private readonly options: EdgeRuntimeOptions) {
    super();
    this.notifier = new SystemdNotifier({ logger: options.logger });
  }

  /** The running pipeline: subscribe to its 'result' events, read its stats. */
  get edge(): EdgeDaemon {
    if (!this.daemon) throw new Error('edge runtime is not started');
    return this.daemon;
  }

  get transport(): RecognitionClient {
    if (!this.client) throw new Error('edge runtime is not started');
    return this.client;
  }

  /**
   * Starts every part, in order. When a part fails after others are running (no region pack, a busy API port), the
   * ones already running are stopped before the error is passed on: a broker connection or a timer left behind would
   * keep the process alive until systemd's start timeout killed it (issue #10).
   */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (err) {
      await this.stop().catch((stopErr: Error) => this.options.logger.warn({ err: stopErr.message }, 'could not stop every part after a failed start'));
      throw err;
    }
  }

  private async startParts(): Promise<void> {
    const { config, logger } = this.options;
    const random = this.options.random ?? cryptoRandom();
    const clock = this.options.clock ?? systemClock;

    const extractor = createExtractor({
      thread: config.model.thread,
      manifestPath: config.model.manifest,
      executionProviders: config.model.executionProviders,
      intraOpThreads: config.model.intraOpThreads || undefined,
      graphOptimizationLevel: config.model.graphOptimizationLevel,
      threadSpinning: config.model.threadSpinning,
      logger,
    });
    this.extractor = extractor;
    await extractor.start();

    mkdirSync(dirname(config.gallery.path), { recursive: true });
    const gallery = new SqliteGallery(config.gallery.path, {
      maxResults: config.gallery.historyLimit,
      maxResultAgeMs: config.gallery.historyMinutes * 60_000,
      model: extractor.modelId,
      logger,
    });
    this.gallery = gallery;

    const trustedKeys = await trustedKeysFrom(config.transport);
    if (trustedKeys.pinned) logger.info({ keys: trustedKeys.ids() }, 'answers must carry the operator signature');
    else logger.warn('no recognizerKeyFile: answers from the recognizer are not authenticated');
    const client = new RecognitionClient({
      ...(await brokerOptionsFrom(config.transport)),
      limits: wireLimitsFor(extractor.dimension),
      model: extractor.modelId,
      requestTimeoutMs: config.transport.requestTimeoutMs,
      regionTimeoutMs: config.transport.regionTimeoutMs,
      protocolVersion: this.options.protocolVersion ?? 5,
      logger,
      trustedKeys,
    });
    this.client = client;
    await client.start();

    const { pack, verified } = await this.regionPack(client, gallery, extractor.modelId, extractor.manifest.viewVariation?.bounds, trustedKeys.ids());
    this.packVerified = verified;
    this.pack = pack;
    const settings = config.privacy.transform;
    // k-mix and noise draw decoy views from the spots' view models, spread as the model (or decoySigma) says; bucket draws none.
    let variation: { sigma: number } | undefined;
    if (settings.kind !== 'bucket') {
      const sigma = settings.decoySigma ?? extractor.manifest.viewVariation?.sigma;
      if (sigma === undefined) {
        throw new UserError(
          `model '${extractor.modelId}' has no viewVariation in its manifest; set privacy.transform.decoySigma in ${config.configFile} or use a model that ships one.`,
        );
      }
      variation = { sigma };
    }
    // One scan of the pack for the gate, the transform and the book: each frame's nearest spot is found once.
    const scan = new RegionPackScan(pack.spots);
    if (!config.privacy.rememberWearer && gallery.forgetHabits()) logger.info('privacy.rememberWearer is off: deleted the saved wearer habits');
    const transform = createTransform(settings, {
      pool: { spots: pack.spots },
      scan,
      variation,
      random,
      // Tracks and drift are read at the time the query leaves, the same for real and dummy (scheduler.ts).
      clock: () => this.daemon?.departureTime() ?? clock.now(),
      drift: settings.kind === 'bucket' ? undefined : settings.decoyDrift,
      habits: config.privacy.rememberWearer ? gallery : undefined,
    });
    const threshold = matchThreshold(extractor.manifest, config.resolver.threshold);
    this.matchThreshold = threshold;
    const resolver = new Resolver({
      threshold,
      cacheThreshold: config.resolver.cacheThreshold,
      window: { size: config.resolver.windowSize, maxAgeMs: config.resolver.windowMaxAgeMs },
      logger,
    });

    // Set once per region pack, before the first slot: how close a frame of no spot comes to some spot depends on the pack.
    const regionGate = await regionGateFor(scan, extractor.manifest, config.privacy, threshold);
    logger.info({ cosine: Number(regionGate.minCosine.toFixed(3)), spots: pack.spots.length }, 'region gate set');

    const book = new CandidateBook(pack, logger, scan);
    // The thermal governor lowers the rate frames are taken at; pacing wraps any source kind.
    const source = new PacedFrameSource(this.options.source ?? createFrameSource(config.camera, { logger }), config.camera.fps, () => clock.monotonic());
    this.daemon = new EdgeDaemon({
      source,
      gate: config.camera.gate.enabled ? new SceneGate({ ...config.camera.gate, now: () => clock.now() }) : undefined,
      extractor,
      transform,
      transport: book.transport(client),
      packNearest: (feature) => book.nearest(feature),
      rankPackNearest: config.resolver.packNearest,
      gallery,
      resolver,
      schedule: { mode: config.scheduler.mode, ratePerSecond: config.scheduler.ratePerSecond },
      cacheThreshold: config.resolver.cacheThreshold,
      sceneChangeCosine: config.resolver.sceneChangeCosine,
      regionGate,
      hedgeAfterMs: config.transport.hedgeAfterMs,
      // Only the wearer crowd under deferred arrival reads where the wearer stands before the first query.
      firstQueryWait: settings.kind === 'kmix' && settings.decoys === 'wearer' && settings.arrival === 'deferred' && settings.startStationary ? FIRST_QUERY_WAIT : undefined,
      random: () => random.next(),
      clock,
      logger,
    });
    // Forwarded, so callers can subscribe before start() and miss no result while the health parts start.
    this.daemon.on('result', (r: EdgeResult) => {
      // Debug only: at info the journal would be a location history (DESIGN §4, "the device keeps no trail").
      logger.debug({ spot: r.spotId, score: Number(r.score.toFixed(3)), latencyMs: r.latencyMs, fromCache: r.fromCache }, 'result');
      this.emit('result', r);
    });
    this.daemon.on('query', (q: SentQuery) => this.emit('query', q));
    await this.daemon.start();
    if (this.options.health !== false) await this.startHealth(source, client, gallery, extractor.modelId);

    if (config.transport.rotateIdentityMinutes > 0) {
      this.rotation = new IdentityRotation({
        identity: client,
        queries: this.daemon,
        meanMinutes: config.transport.rotateIdentityMinutes,
        pauseSeconds: config.transport.rotatePauseSeconds,
        random: () => random.next(),
        clock,
        logger,
      });
      this.rotation.start();
    }
    this.pruneHistoryNowAndThen(gallery, clock);
  }

  /** A device that stops seeing anything still forgets its results on time. */
  private pruneHistoryNowAndThen(gallery: SqliteGallery, clock: Clock): void {
    const everyMs = Math.min(60_000, this.options.config.gallery.historyMinutes * 60_000);
    this.historyPruner = clock.setTimer(() => {
      try {
        gallery.pruneHistory(clock.now());
      } catch (err) {
        this.options.logger.warn({ err: (err as Error).message }, 'could not prune the result history');
      }
      if (this.gallery === gallery) this.pruneHistoryNowAndThen(gallery, clock);
    }, everyMs);
  }

  private async startHealth(source: PacedFrameSource, client: RecognitionClient, gallery: SqliteGallery, model: string): Promise<void> {
    const { config, logger } = this.options;
    const daemon = this.edge;
    this.telemetry = new SystemTelemetry({ intervalMs: config.health.sampleIntervalMs, logger });
    await this.telemetry.start();
    if (config.health.thermal.enabled) {
      this.governor = new ThermalGovernorService({
        policy: thermalPolicyFrom(config.health, config.camera.fps, config.configFile),
        samples: this.telemetry,
        logger,
      });
      this.governor.on('fps', (fps) => source.setFps(fps));
      this.governor.start();
    }
    this.latency = new LatencyTracker(daemon, config.health.latencyWindow);
    this.latency.start();
    if (config.api.enabled) {
      const { thumbnail, lan } = config.api;
      // The latest frame is kept (in memory) only while the thumbnail is on.
      source.keepLatest = thumbnail.enabled;
      this.api = new ApiServer({
        listen: config.api.listen,
        executionProvider: this.extractor?.executionProvider,
        matchThreshold: this.matchThreshold,
        page: config.api.page,
        profile: redactedProfile(config),
        thumbnail: thumbnail.enabled ? { frames: source, width: thumbnail.width, fps: thumbnail.fps } : undefined,
        lan: lan ? { listen: lan.listen, token: lan.token } : undefined,
        privacy: { privacy: () => this.privacyState(client) },
        pipeline: daemon,
        broker: client,
        telemetry: this.telemetry,
        latency: this.latency,
        thermal: this.governor,
        history: gallery,
        model,
        version: packageVersion(),
        logger,
      });
      await this.api.start();
    }
    // Fed only while frames arrive and extractions finish: a stuck camera or inference gets the unit restarted.
    this.watchdog = new ProgressWatchdog({
      notifier: this.notifier,
      counters: () => daemon.stats(),
      status: () => {
        const s = daemon.stats();
        return `frames ${s.frames}, results ${s.results}, broker ${client.counters().state}`;
      },
      logger,
    });
    this.watchdog.start();
    await this.notifier.ready('running');
  }

  /** The privacy layer at a glance, for the operator's page. */
  private privacyState(client: RecognitionClient): PrivacyState {
    const { privacy, transport } = this.options.config;
    const pack = this.pack;
    return {
      transform: privacy.transform.kind,
      k: privacy.transform.k,
      identityAgeMs: client.counters().state === 'connected' ? client.identityAgeMs() : null,
      identityRotations: this.identityRotations,
      region: pack
        ? { name: transport.region, galleryVersion: pack.galleryVersion, spots: pack.spots.length, signature: this.packVerified ? 'verified' : 'unsigned' }
        : null,
    };
  }

  /** True while an identity change works on the network (not during its offline pause): see IdentityRotation.busy. */
  get changingIdentity(): boolean {
    return this.rotation?.busy ?? false;
  }

  /** Identity changes so far (0 when rotation is off). */
  get identityRotations(): number {
    return this.rotation?.rotations ?? 0;
  }

  /** Where the local API listens, once started (the demo and tests use port 0). */
  get apiAddress(): string | undefined {
    return this.api ? formatListenAddress(this.api.listening) : undefined;
  }

  /** Where the token-guarded LAN listener listens (api.lan), once started. */
  get lanAddress(): string | undefined {
    const lan = this.api?.lanListening;
    return lan ? formatListenAddress(lan) : undefined;
  }

  async stop(): Promise<void> {
    await this.notifier.stopping().catch(() => {});
    await this.watchdog?.stop();
    await this.api?.stop();
    this.latency?.stop();
    this.governor?.stop();
    await this.telemetry?.stop();
    this.watchdog = undefined;
    this.api = undefined;
    this.latency = undefined;
    this.governor = undefined;
    this.telemetry = undefined;
    await this.rotation?.stop();
    this.rotation = undefined;
    (this.options.clock ?? systemClock).clearTimer(this.historyPruner);
    this.historyPruner = undefined;
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
   * The region pack decoys are drawn from. The copy cached on the device when it is the gallery the recognizer
   * announces (decision 69: a restart then asks nothing and downloads nothing, closer to an identity change); else
   * fresh from the recognizer; else, when it does not answer, the cached copy whatever its version, so a restart while
   * the broker is away still starts with privacy on. Only a copy checked against the operator keys pinned now
   * (`pinnedKeys`, none or some) stands in for a fetch: a key removed since no longer vouches for anything.
   */
  private async regionPack(
    client: RecognitionClient,
    gallery: SqliteGallery,
    model: string,
    bounds: ViewModelBounds | undefined,
    pinnedKeys: string[],
  ): Promise<{ pack: RegionPackMessage; verified: boolean }> {
    const keys = [...pinnedKeys].sort().join(',');
    const pinned = keys !== '';
    const region = this.options.config.transport.region;
    const within = (pack: RegionPackMessage): RegionPackMessage => {
      const bounded = boundRegionPack(pack, bounds);
      if (bounded.dropped.length > 0) {
        this.options.logger.warn(
          { region, spots: bounded.dropped.length, first: bounded.dropped[0] },
          'region pack view models beyond the model manifest bounds were dropped; those spots use the isotropic spread',
        );
      }
      return bounded.pack;
    };
    const copy = gallery.loadCachedRegionPack(region, model);
    const announced = client.info();
    if (copy && announced?.model === model && announced.galleryVersion === copy.pack.galleryVersion && copy.trustedKeys === keys) {
      this.options.logger.info(
        { region, galleryVersion: copy.pack.galleryVersion, spots: copy.pack.spots.length },
        'the cached region pack is the gallery the recognizer announces; not fetching it again',
      );
      return { pack: within(copy.pack), verified: pinned };
    }
    try {
      const pack = await client.fetchRegion(region);
      gallery.saveRegionPack(pack, Date.now(), keys);
      return { pack: within(pack), verified: pinned };
    } catch (err) {
      const cached = copy?.pack;
      if (!cached) {
        throw new UserError(
          `could not fetch region pack '${region}' from the recognizer (${(err as Error).message}) and none is cached; check that a recognizer with model '${model}' serves this broker.`,
        );
      }
      this.options.logger.warn({ region, err: (err as Error).message }, 'using the cached region pack');
      return { pack: within(cached), verified: false };
    }
  }
}
