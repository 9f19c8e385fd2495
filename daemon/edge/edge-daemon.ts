import { EventEmitter } from 'node:events';
import type { Frame, FrameSource } from '../camera/types.js';
import type { Extractor } from '../extractor/types.js';
import type { Gallery } from '../gallery/types.js';
import type { Transform } from '../privacy/types.js';
import { QueryScheduler, SupersededError, type ScheduleMode } from '../privacy/scheduler.js';
import type { QueryMessage, ReplyMessage, ServiceInfo } from '../transport/messages.js';
import type { Logger } from '../util/log.js';
import { dot } from '../util/vector.js';
import type { Resolver } from './resolver.js';

/** What the edge daemon needs from the transport: one request, one reply. RecognitionClient provides it. */
export interface QueryTransport {
  query(q: QueryMessage): Promise<ReplyMessage>;
}

/** One recognition result, as the local API and the demo see it. Never sent to the server. */
export interface EdgeResult {
  at: number;
  /** The frame's label (file name for replays). */
  label?: string;
  spotId: string | null;
  score: number;
  info?: ServiceInfo;
  /** Frame capture to result, ms. */
  latencyMs: number;
  /** Answered from the local gallery without a query. */
  fromCache: boolean;
}

/** Decides whether a frame shows a new scene worth extracting (daemon/camera/scene-gate.ts). */
export interface FrameGate {
  shouldProcess(frame: Frame): Promise<boolean>;
}

export interface EdgeDaemonOptions {
  source: FrameSource;
  /** Skips frames whose scene did not change; absent: every frame is extracted. */
  gate?: FrameGate;
  extractor: Extractor;
  transform: Transform;
  transport: QueryTransport;
  gallery: Gallery;
  resolver: Resolver;
  schedule: { mode: ScheduleMode; ratePerSecond: number };
  /** Cosine with a cached spot above which the local gallery answers without a query; ≥ 1 disables it. */
  cacheThreshold: number;
  /** Below this cosine with the previous frame the scene changed, and the resolver's smoothing starts afresh. */
  sceneChangeCosine: number;
  random: () => number;
  logger: Logger;
}

export interface EdgeCounters {
  frames: number;
  /** Frames the scene gate skipped as unchanged. */
  gated: number;
  extracted: number;
  realQueries: number;
  dummyQueries: number;
  results: number;
  cacheHits: number;
  unknown: number;
  errors: number;
  superseded: number;
}

/**
 * The device pipeline (DESIGN §3): camera → extractor → (local cache?) → privacy transform → scheduler slot →
 * recognizer → gallery → resolver → result. Frames are taken from the source's mailbox one at a time, so a slow
 * stage drops frames instead of queueing them. Emits 'result' (EdgeResult) and 'error' is never emitted for
 * per-frame problems: those are logged and counted, the daemon keeps running.
 */
export class EdgeDaemon extends EventEmitter {
  private readonly scheduler: QueryScheduler<ReplyMessage>;
  private loop: Promise<void> | undefined;
  private running = false;
  private previousFeature: Float32Array | undefined;
  private readonly counts: EdgeCounters = {
    frames: 0,
    gated: 0,
    extracted: 0,
    realQueries: 0,
    dummyQueries: 0,
    results: 0,
    cacheHits: 0,
    unknown: 0,
    errors: 0,
    superseded: 0,
  };

  constructor(private readonly options: EdgeDaemonOptions) {
    super();
    const { transform, transport, gallery, extractor } = options;
    this.scheduler = new QueryScheduler<ReplyMessage>({
      mode: options.schedule.mode,
      ratePerSecond: options.schedule.ratePerSecond,
      random: options.random,
      logger: options.logger,
      send: (query) =>
        transport.query({ type: 'query', model: extractor.modelId, vector: query.vector, topM: query.topM }),
      makeDummy: () => transform.dummy(),
      // A dummy's reply is cached exactly like a real one so what the device does next gives nothing away.
      onDummyReply: (reply) => gallery.upsertCandidates(reply.candidates),
    });
  }

  /** Starts the scheduler and the source; `finished` resolves when a finite source runs out or stop() is called. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.scheduler.start();
    await this.options.source.start();
    this.loop = this.run();
  }

  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.options.source.stop();
    await this.scheduler.stop();
    await this.loop;
  }

  stats(): EdgeCounters & { queueDepth: number; source: { produced: number; dropped: number } } {
    const s = this.scheduler.counters;
    return {
      ...this.counts,
      realQueries: s.real,
      dummyQueries: s.dummy,
      superseded: s.superseded,
      queueDepth: this.scheduler.queueDepth,
      source: this.options.source.stats(),
    };
  }

  private async run(): Promise<void> {
    while (this.running) {
      const frame = await this.options.source.next();
      if (!frame) break;
      this.counts.frames++;
      try {
        if (this.options.gate && !(await this.options.gate.shouldProcess(frame))) {
          this.counts.gated++;
          continue;
        }
        await this.process(frame);
      } catch (err) {
        if (err instanceof SupersededError || !this.running) continue;
        this.counts.errors++;
        this.options.logger.warn({ frame: frame.label ?? frame.seq, err: (err as Error).message }, 'frame not recognised');
      }
    }
  }

  private async process(frame: Frame): Promise<void> {
    const { extractor, transform, gallery, resolver } = this.options;
    const feature = await extractor.extract(frame);
    this.counts.extracted++;
    // Smoothing is for noisy frames of one scene; votes from a scene the camera has left would only delay the answer.
    if (this.previousFeature && dot(feature, this.previousFeature) < this.options.sceneChangeCosine) resolver.reset();
    this.previousFeature = feature;

    const cached = this.options.cacheThreshold < 1 ? resolver.resolveFromCache(feature, gallery.allSpots()) : null;
    if (cached) {
      this.counts.cacheHits++;
      this.emitResult(frame, cached.spotId, cached.score, cached.info, true);
      if (this.options.schedule.mode !== 'on-demand') this.refresh(feature);
      return;
    }

    const reply = await this.scheduler.submit(transform.transform(feature));
    gallery.upsertCandidates(reply.candidates);
    const resolution = resolver.resolve(feature, reply.candidates);
    this.emitResult(frame, resolution.spotId, resolution.score, resolution.info, false);
  }

  /**
   * A frame the cache answered still takes the next slot as a real query. Cover traffic pays for the slot either
   * way, and a device that queried only when the scene was new would show the server its user's track changing
   * exactly at the real queries — the one component that just arrived (docs/privacy.md, "Two cameras"). The
   * reply refreshes the cache; its answer is not shown again.
   */
  private refresh(feature: Float32Array): void {
    this.scheduler.submit(this.options.transform.transform(feature)).then(
      (reply) => this.options.gallery.upsertCandidates(reply.candidates),
      (err: Error) => {
        if (!(err instanceof SupersededError) && this.running) this.options.logger.debug({ err: err.message }, 'cache refresh query failed');
      },
    );
  }

  private emitResult(frame: Frame, spotId: string | null, score: number, info: ServiceInfo | undefined, fromCache: boolean): void {
    const at = Date.now();
    const result: EdgeResult = { at, label: frame.label, spotId, score, info, latencyMs: at - frame.capturedAt, fromCache };
    this.counts.results++;
    if (spotId === null) this.counts.unknown++;
    this.options.gallery.recordResult({ at, spotId, score, label: frame.label });
    this.emit('result', result);
  }
}
