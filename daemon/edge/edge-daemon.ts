import { EventEmitter } from 'node:events';
import type { Frame, FrameSource } from '../camera/types.js';
import type { Extractor } from '../extractor/types.js';
import type { Gallery } from '../gallery/types.js';
import type { Transform, TransformedQuery } from '../privacy/types.js';
import { HeldBackError, QueryScheduler, SupersededError, type ScheduleMode } from '../privacy/scheduler.js';
import type { Candidate, QueryMessage } from '../transport/messages.js';
import type { ResolvedReply } from './candidate-book.js';
import type { Logger } from '../util/log.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { dot } from '../util/vector.js';
import type { PausableQueries } from './identity-rotation.js';
import type { RegionGate } from './region-gate.js';
import type { Resolution, Resolver } from './resolver.js';
import type { EdgeResult } from '../domain/result.js';
import type { EdgeCounters } from '../health/pipeline-counters.js';

/** The result and counter types live below api/ and edge/ (the API reads them): found here too, for the edge's users. */
export type { EdgeResult } from '../domain/result.js';
export type { EdgeCounters } from '../health/pipeline-counters.js';

/** What the edge daemon needs from the transport: one request, one reply. RecognitionClient provides it. */
export interface QueryTransport {
  query(q: QueryMessage): Promise<ResolvedReply>;
}

/**
 * A query leaving the device, as the device itself knows it (never sent): emitted as 'query' when its slot fires,
 * for the local counters and the evaluation's ground truth.
 */
export interface SentQuery {
  at: number;
  kind: 'real' | 'dummy';
  /** The frame a real query came from. */
  label?: string;
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
  /**
   * Frames whose feature matches no spot of the region pack closely enough are answered "unknown" on the device and
   * never become queries (region-gate.ts); absent: every frame may.
   */
  regionGate?: RegionGate;
  /**
   * The region pack's own nearest spot for a frame. A frame held back (privacy.transform.arrival 'deferred') is named
   * from it alone; with `rankPackNearest` it is also ranked beside a reply's candidates.
   */
  packNearest?: (feature: Float32Array) => Candidate | null;
  /**
   * Rank the pack's nearest spot beside the reply's candidates (resolver.packNearest, decision 40): a real query
   * stands in for that very spot, and a reply that misses it must not force a worse answer. False: the reply's
   * candidates alone. Default false.
   */
  rankPackNearest?: boolean;
  /**
   * The schedule starts `afterFirstFrameMs` after the camera's first frame (at most `maxMs` after start()), so a
   * transform that starts a session where the wearer stands (privacy.transform.startStationary) has seen a few frames
   * before anything leaves; frames before then are named from the region pack. The wait never depends on what the
   * frames show: when the first query leaves says nothing about where the wearer is. Absent: the schedule starts with
   * the daemon.
   */
  firstQueryWait?: { afterFirstFrameMs: number; maxMs: number };
  /** A real request unanswered this long after its slot is asked again in a later slot (see ask()); 0: never. */
  hedgeAfterMs: number;
  random: () => number;
  /** Default the wall clock; the evaluation passes its virtual clock. */
  clock?: Clock;
  logger: Logger;
}

/** Attempts a real frame gets (the first and the retries) before it is reported as failed. */
export const REAL_FRAME_ATTEMPTS = 3;

/**
 * The device pipeline (DESIGN §3): camera → extractor → (local cache?) → privacy transform → scheduler slot →
 * recognizer → gallery → resolver → result. Frames are taken from the source's mailbox one at a time, so a slow
 * stage drops frames instead of queueing them. Emits 'result' (EdgeResult) and 'error' is never emitted for
 * per-frame problems: those are logged and counted, the daemon keeps running.
 */
export class EdgeDaemon extends EventEmitter<{ result: [EdgeResult]; query: [SentQuery] }> implements PausableQueries {
  private readonly scheduler: QueryScheduler<ResolvedReply>;
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
    offGallery: 0,
    heldBack: 0,
    failedQueries: 0,
    retried: 0,
    failedFrames: 0,
  };
  private readonly clock: Clock;
  /** Recent time to build a real query on this thread, ms: the quiet moment before a slot it must fit in. */
  private buildMs = 0;
  private working = false;
  private scheduling = false;
  /** Starts the schedule at the end of the first-query wait (EdgeDaemonOptions.firstQueryWait). */
  private firstQueryTimer: TimerHandle | undefined;
  private firstQueryLatest = Infinity;

  constructor(private readonly options: EdgeDaemonOptions) {
    super();
    const { transform, transport, gallery, extractor } = options;
    this.clock = options.clock ?? systemClock;
    this.scheduler = new QueryScheduler<ResolvedReply>({
      mode: options.schedule.mode,
      ratePerSecond: options.schedule.ratePerSecond,
      random: options.random,
      clock: this.clock,
      logger: options.logger,
      send: (query, kind) => {
        const at = this.clock.now();
        transform.sent?.(query, at);
        this.emit('query', { at, kind, label: query.label } satisfies SentQuery);
        return transport.query({ type: 'query', model: extractor.modelId, vector: query.vector, topM: query.topM });
      },
      makeDummy: () => transform.dummy(),
      // A dummy's reply is cached exactly like a real one so what the device does next gives nothing away.
      onDummyReply: (reply) => gallery.upsertCandidates(reply.candidates),
    });
  }

  /** When a query built now will leave (QueryScheduler.departureTime): the time the privacy transform reads. */
  departureTime(): number {
    return this.scheduler.departureTime();
  }

  /** Starts the scheduler and the source; `finished` resolves when a finite source runs out or stop() is called. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const wait = this.options.firstQueryWait;
    if (wait) {
      this.firstQueryLatest = this.clock.now() + wait.maxMs;
      this.firstQueryTimer = this.clock.setTimer(() => this.startSchedule(), wait.maxMs);
    } else {
      this.startSchedule();
    }
    await this.options.source.start();
    this.loop = this.run();
  }

  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimer(this.firstQueryTimer);
    await this.options.source.stop();
    await this.scheduler.stop();
    await this.loop;
  }

  /** The query schedule begins (once): at start(), or after the first-query wait (EdgeDaemonOptions.firstQueryWait). */
  private startSchedule(): void {
    if (this.scheduling || !this.running) return;
    this.scheduling = true;
    this.clock.clearTimer(this.firstQueryTimer);
    this.firstQueryTimer = undefined;
    this.scheduler.start();
  }

  /** The first frame came: the schedule starts `afterFirstFrameMs` from now, unless the longest wait ends first. */
  private afterFirstFrame(): void {
    const wait = this.options.firstQueryWait;
    if (!wait || this.scheduling) return;
    const at = Math.min(this.firstQueryLatest, this.clock.now() + wait.afterFirstFrameMs);
    this.clock.clearTimer(this.firstQueryTimer);
    this.firstQueryTimer = this.clock.setTimer(() => this.startSchedule(), Math.max(0, at - this.clock.now()));
  }

  /** Identity rotation: nothing is sent until resumeQueries() (IdentityRotation). */
  pauseQueries(): void {
    // A change during the wait for the first frame: the schedule starts paused, so nothing leaves without an identity.
    this.startSchedule();
    this.scheduler.pause();
    // Frames go on being named, on the device, through the pause. A real query left waiting for the new identity's
    // first slot held the pipeline for the whole pause (15-60 s): the wearer got no answer, and the transform saw no
    // frame, so at the new identity the wearer's visit looked over and the spot held across the change (decision 57)
    // was let go at its first query (20 of 21 holds on the rotation test's world, device seed 3; decision 64).
    this.scheduler.holdBackWaiting();
  }

  /**
   * Resumes sending with a new random slot phase, and decoys that carry nothing over from the old identity (a real
   * query that waited is built again with them).
   */
  resumeQueries(): void {
    this.options.transform.newIdentity?.();
    this.scheduler.resume();
  }

  /** Whether the queries show the wearer's spot now (Transform.showsWearer): identity rotation waits until they do not. */
  showsWearer(): boolean {
    return this.options.transform.showsWearer?.() ?? false;
  }

  /** Resolves when every query sent so far has its reply or has failed (the evaluation's virtual time waits on it). */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  stats(): EdgeCounters & { queueDepth: number; source: { produced: number; dropped: number } } {
    const s = this.scheduler.counters;
    return {
      ...this.counts,
      realQueries: s.real,
      dummyQueries: s.dummy,
      superseded: s.superseded,
      failedQueries: s.failed,
      queueDepth: this.scheduler.queueDepth,
      source: this.options.source.stats(),
    };
  }

  /**
   * True while a frame is being worked on; false while the pipeline waits for a frame or for a slot. The evaluation
   * moves virtual time on only when every device is waiting, as a real device's time would find it.
   */
  get busy(): boolean {
    return this.working;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.working = false;
      const frame = await this.options.source.next();
      this.working = true;
      if (!frame) break;
      this.counts.frames++;
      if (this.counts.frames === 1) this.afterFirstFrame();
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
    this.working = false;
  }

  private async process(frame: Frame): Promise<void> {
    const { extractor, transform, gallery, resolver } = this.options;
    const feature = await extractor.extract(frame);
    this.counts.extracted++;
    // Smoothing is for noisy frames of one scene; votes from a scene the camera has left would only delay the answer.
    if (this.previousFeature && dot(feature, this.previousFeature) < this.options.sceneChangeCosine) resolver.reset();
    this.previousFeature = feature;

    if (this.options.regionGate && !this.options.regionGate.admits(feature)) {
      // Nothing about this frame reaches the wire. Its "unknown" is voted through the window, so one weak frame of the
      // scene the device has just named does not flicker to "unknown" (the scene-change check above reset the window
      // if the camera has turned to something else).
      this.counts.offGallery++;
      const standing = resolver.resolveUnmatched(this.clock.now());
      if (standing.spotId === null) transform.wearerLeft?.();
      this.emitResult(frame, standing, false);
      return;
    }

    // privacy.transform.arrival 'deferred': the spot is not on the wire yet (the wearer's track has not moved to it), so
    // the frame is named on the device and its slot carries a dummy like any slot without a real query.
    // Before the first query may leave (firstQueryWait), and through an identity change's pause, every frame is named
    // on the device too; the transform has still been told where the wearer stands.
    const held = this.heldBack(feature) || !this.scheduling || this.scheduler.isPaused;
    // The region gate's scan already holds this frame's nearest spot (region-pack-scan.ts keeps its last answer).
    const own = this.options.rankPackNearest ? this.options.packNearest?.(feature) : undefined;
    // The cache holds whatever replies brought, real and dummy; a look-alike cached above the threshold must not answer
    // for a spot the cache lacks, and the pack knows every spot's reference (decision 66).
    const cached =
      this.options.cacheThreshold < 1 ? resolver.resolveFromCache(feature, own ? [...gallery.allSpots(), own] : gallery.allSpots(), this.clock.now()) : null;
    if (cached) {
      this.counts.cacheHits++;
      this.emitResult(frame, cached, true);
      if (!held && this.options.schedule.mode !== 'on-demand') this.refresh(feature, frame.label);
      return;
    }
    if (held) {
      this.answerHeld(frame, feature);
      return;
    }

    const reply = await this.ask(feature, frame);
    if (!reply) {
      this.answerHeld(frame, feature);
      return;
    }
    gallery.upsertCandidates(reply.candidates);
    const candidates = own && !reply.candidates.some((c) => c.id === own.id) ? [...reply.candidates, own] : reply.candidates;
    const resolution = resolver.resolve(feature, candidates, this.clock.now());
    this.emitResult(frame, resolution, false);
  }

  /**
   * Whether the transform keeps this frame's spot off the wire now (privacy.transform.arrival 'deferred'). Asked for
   * every real query built, the first and any rebuilt or retried one: an identity change in between may have moved it.
   */
  private heldBack(feature: Float32Array): boolean {
    return this.options.transform.mayShow?.(feature) === false;
  }

  /** A frame whose spot the transform does not show yet: named on the device, from its region pack. */
  private answerHeld(frame: Frame, feature: Float32Array): void {
    this.counts.heldBack++;
    const own = this.options.packNearest?.(feature);
    this.emitResult(frame, this.options.resolver.resolve(feature, own ? [own] : [], this.clock.now()), false);
  }

  /**
   * The real query for a frame, and its reply; undefined when the frame's spot may no longer be shown (an identity
   * changed while it waited, and the new one's tracks have not reached the spot: deferred arrival). A request that
   * fails (timeout, error reply, broker away) is not the end of the frame: it is built again from fresh randomness
   * (new decoys, a new stand-in) and waits for a later regular slot like any real query, so nothing on the wire says
   * "retry" — no repeated payload, no extra message, no burst outside the schedule. A request still unanswered `hedgeAfterMs` after its slot is asked again the same way
   * while the first stays open, and whichever answer comes first is taken: a query that went to a recognizer which
   * has just died would otherwise hold the frame loop for the whole request timeout (the slot would have carried a
   * dummy, so the broker and the recognizers see no extra load). After REAL_FRAME_ATTEMPTS requests with no answer
   * the frame is counted as failed (`failedFrames`, and in `errors`) and the error passed on. A newer frame that
   * supersedes the retry ends it as superseded.
   */
  private async ask(feature: Float32Array, frame: Frame): Promise<ResolvedReply | undefined> {
    interface Outcome {
      reply?: ResolvedReply;
      err?: Error;
      of: Promise<Outcome>;
    }
    const open = new Set<Promise<Outcome>>();
    let attempts = 0;
    let hedgeAt = Infinity;
    let lastError: Error | undefined;
    const hedgeAfterMs = this.options.hedgeAfterMs;
    // The request leaves at the next slot; its wait for an answer starts there.
    const armHedge = () => {
      const untilSlot = this.scheduler.msUntilNextSlot();
      hedgeAt = hedgeAfterMs > 0 ? this.clock.now() + (untilSlot === Infinity ? 0 : untilSlot) + hedgeAfterMs : Infinity;
    };
    // A retry is a real query built now, so it asks the transform again whether the spot may be shown: an identity
    // may have changed since the first request, and the new one shows the spot only once a track has reached it.
    const launch = async (): Promise<boolean> => {
      if (attempts > 0 && (this.heldBack(feature) || this.scheduler.isPaused)) return false;
      attempts++;
      const waiting = this.submitReal(await this.buildQuery(feature), feature, frame.label);
      const outcome: Promise<Outcome> = waiting.then(
        (reply) => ({ reply, of: outcome }),
        (err: Error) => ({ err, of: outcome }),
      );
      open.add(outcome);
      armHedge();
      return true;
    };

    for (;;) {
      if (open.size === 0) {
        if (attempts >= REAL_FRAME_ATTEMPTS) {
          this.counts.failedFrames++;
          throw new Error(`every one of ${attempts} requests failed, the last: ${lastError?.message}`);
        }
        if (attempts > 0) {
          this.counts.retried++;
          this.options.logger.debug({ frame: frame.label ?? frame.seq, attempt: attempts, err: lastError?.message }, 'real query failed; retrying in a later slot');
        }
        if (!(await launch())) return undefined;
      }
      let timer: TimerHandle | undefined;
      const hedge = new Promise<'hedge'>((resolve) => {
        if (attempts < REAL_FRAME_ATTEMPTS && hedgeAt < Infinity) timer = this.clock.setTimer(() => resolve('hedge'), hedgeAt - this.clock.now());
      });
      this.working = false;
      const next = await Promise.race([...open, hedge]);
      this.working = true;
      this.clock.clearTimer(timer);
      if (next === 'hedge') {
        if (!this.running) throw new Error('stopped');
        // Our own request still waiting for its slot (paused for an identity change) is not superseded by its hedge.
        if (this.scheduler.queueDepth > 0) armHedge();
        else {
          this.counts.retried++;
          this.options.logger.debug({ frame: frame.label ?? frame.seq, attempt: attempts }, `no answer within ${hedgeAfterMs} ms; asking again in a later slot`);
          await launch();
        }
        continue;
      }
      open.delete(next.of);
      if (next.reply) return next.reply;
      const err = next.err ?? new Error('request ended without a reply');
      if (err instanceof SupersededError || !this.running) throw err;
      if (err instanceof HeldBackError) {
        // A hedge already on the wire may still answer; otherwise the frame is named on the device.
        if (open.size === 0) return undefined;
        continue;
      }
      lastError = err;
    }
  }

  /**
   * A frame the cache answered still takes the next slot as a real query. Cover traffic pays for the slot either
   * way, and a device that queried only when the scene was new would show the server its user's track changing
   * exactly at the real queries — the one component that just arrived (docs/privacy.md, "Two cameras"). The
   * reply refreshes the cache; its answer is not shown again.
   */
  private refresh(feature: Float32Array, label: string | undefined): void {
    this.buildQuery(feature)
      .then((query) => this.submitReal(query, feature, label))
      .then(
        (reply) => this.options.gallery.upsertCandidates(reply.candidates),
        (err: Error) => {
          if (!(err instanceof SupersededError || err instanceof HeldBackError) && this.running) this.options.logger.debug({ err: err.message }, 'cache refresh query failed');
        },
      );
  }

  /**
   * Queues a real query built from `feature`; one that waits through an identity change is built again for it, if
   * the new identity may show its spot (else it fails with HeldBackError).
   */
  private submitReal(query: TransformedQuery, feature: Float32Array, label: string | undefined): Promise<ResolvedReply> {
    return this.scheduler.submit({ ...query, label }, () => (this.heldBack(feature) ? undefined : { ...this.options.transform.transform(feature), label }));
  }

  /**
   * The real query, built now (ahead of its slot) but never right before a slot: the build runs on the thread that
   * fires slot timers, and a slot delayed by it would mark the next query as real (DESIGN §4, "time is on the wire").
   */
  private async buildQuery(feature: Float32Array) {
    // In virtual time building takes no time, and no margin is needed.
    await this.scheduler.quietMoment(this.buildMs > 0 ? 2 * this.buildMs + 2 : 0);
    const t0 = this.clock.monotonic();
    const query = this.options.transform.transform(feature);
    this.buildMs = 0.8 * this.buildMs + 0.2 * (this.clock.monotonic() - t0);
    return query;
  }

  private emitResult(frame: Frame, answer: Resolution, fromCache: boolean): void {
    const at = this.clock.now();
    const { spotId, score, info, smoothed, overruled } = answer;
    const result: EdgeResult = {
      at,
      label: frame.label,
      spotId,
      score,
      info,
      latencyMs: at - frame.capturedAt,
      fromCache,
      smoothed,
      ...(overruled ? { overruled: { ...overruled } } : {}),
    };
    this.counts.results++;
    if (spotId === null) this.counts.unknown++;
    this.options.gallery.recordResult({ at, spotId, score, label: frame.label });
    this.emit('result', result);
  }
}
