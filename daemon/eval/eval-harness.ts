/**
 * `enfpire eval` (DESIGN §7): the privacy/utility harness. It enrols the spots folder into a gallery, starts the real
 * recognizer behind a broker, simulates the world in front of the cameras (world/: wearers and kiosks who do not move
 * like the phantoms), and runs one shipped device per person (fleet.ts: `EdgeRuntime` from a device profile) in
 * virtual or wall-clock time. The user's side is scored here (BaselineTally: each answer beside plain recognition of
 * the same picture); what the server saw, as the wiretap recorded it, goes to attack-suite.ts, and the ground truth
 * stays here to score both.
 */
import { askingFigures, type AskingFigures } from './asking.js';
import { CandidateBook } from '../edge/candidate-book.js';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { loadRecognizerConfig, schemaDefault } from '../config/load.js';
import { mergeSettings, type Settings } from '../config/overrides.js';
import { EmbeddedBroker } from '../demo/embedded-broker.js';
import { Resolver } from '../edge/resolver.js';
import { matchThreshold } from '../extractor/manifest.js';
import { createExtractor } from '../extractor/create-extractor.js';
import type { Extractor } from '../extractor/types.js';
import type { DecoySpotSource, TransformKind } from '../privacy/transform.js';
import { seededRandom } from '../util/random.js';
import type { RealComponent } from '../privacy/kmix.js';
import { WalkModel } from '../privacy/walk-model.js';
import { RegionGate, regionGateFor } from '../edge/region-gate.js';
import { normalize } from '../util/vector.js';
import { DEFAULT_REFERENCE_VIEWS, enroll } from '../recognizer/enroll.js';
import { RecognizerService } from '../recognizer/service.js';
import type { MqttProtocolVersion } from '../transport/broker.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { RegionSpot } from '../transport/messages.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { listSpotPhotos, METADATA_FILE, type SpotPhotos } from '../util/spots-dir.js';
import { centrality, expectedSpotOrderFloor, GalleryIndex, type OwnViews } from './adversaries.js';
import { InProcessServer } from './eval-server.js';
import type { CameraModel, SlotMode } from './simulation.js';
import { dwellViewOf, loadWorld, measureStream, renderFrame, simulateWorld, type StreamStats, type WorldStream } from './world/index.js';
import { clusteredCi95, clusteredRatioCi95, rate, round } from './stats.js';
import { attack, type SpotAttackFigures } from './attack-suite.js';
import { planEval, queryFiles, renderReference, streamSeed, type EvalPlan } from './views.js';
import { writeRecord } from './wiretap.js';
import { replayFleet, runFleet, type WorldFrame } from './fleet.js';
import { defaultEvalCacheDir, EnrolCache, enrolKey } from './enrol-cache.js';
import type { EdgeResult } from '../edge/edge-daemon.js';
import type { StrongerAttackFigures } from './attacks/scoring.js';
import { forEachConcurrently } from '../util/concurrency.js';

export interface EvalOptions {
  /** Folder of spot photos (DESIGN §9 layout). */
  spotsDir: string;
  /** Model manifest; its viewVariation.sigma sizes the decoys. */
  modelManifest: string;
  /** Anonymity set size. Default 4. */
  k?: number;
  /** Seeds every picture, walk and the privacy layer's randomness. Default 1. */
  seed?: number;
  /**
   * Seeds only the devices' own draws (decoys, phantoms, slot phase, identity changes); default `seed`. Holding
   * `seed` and varying this re-runs the same world and the same adversary with other device draws: how much of a
   * figure is the device's chance, as two wall-clock runs of one seed differ by how their draws interleave.
   */
  deviceSeed?: number;
  /** Simulated users (devices). Default 4. */
  users?: number;
  /** Simulated minutes each user walks. Default 30. */
  minutes?: number;
  /** Cover-traffic slots per second per user, and their timing. Default: the edge profile's (caller passes it). */
  ratePerSecond?: number;
  mode?: SlotMode;
  /** The transform under test. Default 'kmix'. */
  transform?: TransformKind;
  /** Noise norm for transform 'noise'. */
  noise?: number;
  /** Decoy spot source. Default the device profile's ('wearer'). */
  decoys?: DecoySpotSource;
  /** What stands for the real spot in a k-mix query. Default the device profile's ('stand-in'). */
  realComponent?: RealComponent;
  /** Photographs of no spot (what glasses see between spots); default `<spotsDir>-offgallery` or a sibling `offgallery`. */
  offGalleryDir?: string;
  /** How the simulated users' cameras see spots. Default 'continuous' (smart glasses). */
  camera?: CameraModel;
  /** Candidates per k-mix component (topM = k × this). Default: the transform's. */
  candidatesPerComponent?: number;
  /** Most candidates a query may ask for (privacy.transform.maxCandidates; the recognizer's maxTopM is raised to match). Default: the profile's. */
  maxCandidates?: number;
  /** The resolver's 'unknown' threshold. Default: the model manifest's, as on a device whose profile sets none. */
  resolverThreshold?: number;
  /** The devices' privacy.backgroundPass; default the profile's. */
  backgroundPass?: number;
  /** External broker URL (e.g. Mosquitto, MQTT v5); default an in-process aedes broker (MQTT 3.1.1 mode). */
  brokerUrl?: string;
  protocolVersion?: MqttProtocolVersion;
  /** Camera views per spot the adversary renders for itself (its own seeds). Default 6. */
  adversaryViews?: number;
  /**
   * Camera views of each reference picture averaged into its reference, as `enfpire enroll --reference-views N`
   * (recognizer/enroll.ts, decision 51). Default that of enrolment (DEFAULT_REFERENCE_VIEWS); 0: the enrolment view's
   * feature alone.
   */
  referenceViews?: number;
  /** Also run k = 1…8 for the privacy/utility curve. */
  sweep?: boolean;
  /** Mean minutes between a device's identity changes; default the device profile's; 0 keeps one identity. */
  rotateIdentityMinutes?: number;
  /**
   * Minutes each device ran on an earlier day, before the measured run: the same people on other itineraries
   * (another stream seed), the devices then stopped and started again on the same gallery files, as glasses are
   * switched off overnight. What a device keeps across a restart (its region pack, the wearer habits of
   * privacy.rememberWearer) is then what it has after a day of use. Nothing of that day is attacked or scored.
   * Default 0: every device starts new.
   */
  historyMinutes?: number;
  /**
   * Run no devices: read what the server saw and the ground truth from files an earlier run wrote with `--record`
   * and `--truth` (same spots, seed and settings), and run the attacks on them. For trying attacks of one's own
   * without the minutes the fleet takes; the report's user figures then read nothing.
   */
  replay?: { recordPath: string; truthPath: string };
  /**
   * Any other device profile settings (`enfpire eval --set path=value`), laid over what the options above make of the
   * profile. Not for settings the harness reads itself (resolver.threshold, privacy.backgroundPass): they have options.
   */
  deviceSettings?: Settings;
  /** 'virtual' (default): the devices run in simulated time; 'wall': in real time, for the timing attacks. */
  time?: 'virtual' | 'wall';
  /**
   * Where enrolled galleries and the adversary's views are kept between runs (enrol-cache.ts); default
   * `${XDG_CACHE_HOME:-~/.cache}/enfpire/eval`; null: enrol afresh every run.
   */
  cacheDir?: string | null;
  /** Write what the server saw (JSON lines) here. */
  recordPath?: string;
  /** Write the ground truth of each line of the record here (JSON lines, same order): for attacks of one's own. */
  truthPath?: string;
  /** Write each attack's guess of each line of the record here (JSON lines, same order, `{ attack: spot | null }`). */
  guessesPath?: string;
  /** Write the user's side here (JSON lines, one per answered frame of a spot): the device's answer beside plain recognition's. */
  resultsPath?: string;
  logger?: Logger;
  /** Called after each query slot, e.g. for a progress line. */
  onProgress?: (done: number, total: number) => void;
}

/** Figures of one run at one k (DESIGN §7 table). */
export interface PrivacyFigures extends SpotAttackFigures {
  k: number;
  /** Plain recognition (k = 1, the feature itself) through the device's resolver, 'unknown' threshold included. */
  baseline_top1: number;
  /** The server's top-1 for the plain feature, no threshold. */
  baseline_top1_raw: number;
  user_top1: number;
  user_top1_ci95: [number, number];
  baseline_top1_ci95: [number, number];
  bytes_per_result: number;
  queries: number;
  real_queries: number;
  dummy_queries: number;
  results: number;
  user_unknown: number;
  /**
   * user_top1 / baseline_top1 with a 95 % interval from resampling simulated people (2,000 draws), and where the
   * answers plain recognition got right and the device did not came from: "unknown", the smoothing window overruling
   * the frame, the local cache, or the frame's own answer from a reply.
   */
  user_vs_baseline: { ratio: number; ci95: [number, number]; lost: { unknown: number; smoothed: number; from_cache: number; from_reply: number } };
  /**
   * Frames of no spot (what glasses see between spots): how many there were, the share the devices' region gate let
   * through (they become real queries), and the share of those answered that the user was told a spot for.
   */
  no_spot: { gate_cosine: number; frames: number; admitted: number; told_a_spot: number; gate_curve: { cosine: number; no_spot_admitted: number; spot_gated: number }[] };
  real_in_reply: number;
  identity_rotations: number;
  /** Seconds from the run's start until the last device was up (0 in virtual time); each wearer's world starts with its device. */
  devices_up_s: number;
  /** Wall clock: how late the world's frames were shown after their time, s (0 in virtual time). Over a second: the machine did not keep up. */
  world_lag_s: { p50: number; p95: number; max: number };
  /** How soon the devices asked about what their wearers looked at (asking.ts; the cost of 'deferred' arrival). */
  asking: AskingFigures;
}

export interface EvalReport extends PrivacyFigures, StrongerAttackFigures {
  spots: number;
  seed: number;
  /** The devices' own seed (`deviceSeed`; `seed` unless set). */
  device_seed: number;
  users: number;
  minutes: number;
  /** Minutes each device ran on an earlier day before the measured run (EvalOptions.historyMinutes). */
  history_minutes: number;
  /** Camera views averaged into each reference at enrolment (EvalOptions.referenceViews; 0: the enrolment view alone). */
  reference_views: number;
  /** Camera views per spot the adversary rendered for its component test (EvalOptions.adversaryViews; 0: none, it guesses blindly). */
  adversary_views: number;
  /** Set when the attacks ran on a recorded wiretap (`--replay`): no device ran, and the user's figures read nothing. */
  replayed_from?: string;
  model: string;
  transform: TransformKind;
  decoys: DecoySpotSource;
  real_component: RealComponent;
  camera: CameraModel;
  scheduler: { mode: SlotMode; ratePerSecond: number };
  broker: { url: string; protocolVersion: MqttProtocolVersion; embedded: boolean };
  decoy_sigma: number;
  /** The resolver's 'unknown' threshold the devices and the baseline ran with (--threshold, else the model's). */
  threshold: number;
  /** Device profile settings given with `--set`, as laid over the profile ({} when none). */
  device_settings: Settings;
  /** Frames the simulated cameras delivered. */
  photos: number;
  /**
   * `central_spot_floor` over FLOOR_WORLDS other worlds of the same folder, people and minutes (frames of a spot
   * standing for real queries): what the central-spot guess wins on average against decoys that know nothing of the
   * wearers, and the spread one world draws from it.
   */
  central_spot_floor_worlds: { mean: number; sd: number; worlds: number };
  /** Statistics of the simulated camera streams: frames of no spot, dropouts, dwells, frame-to-frame cosine. */
  world: StreamStats;
  targets: Record<string, { target: string; pass: boolean }>;
  /** The privacy/utility curve (k = 1…8) when a sweep was asked for. */
  curve?: PrivacyFigures[];
  timing: { wall_s: number; enrol_s: number; extract_ms_mean: number };
}

/** Other worlds simulated for `central_spot_floor_worlds` (a few seconds at 36 wearers × 10 min). */
const FLOOR_WORLDS = 50;

export const EVAL_DEFAULTS = { k: 4, seed: 1, users: 4, minutes: 30, mode: 'constant', camera: 'continuous', adversaryViews: 6, referenceViews: DEFAULT_REFERENCE_VIEWS } as const;

/** Everything a scenario shares with the others of a run: gallery, broker, recognizer, features already extracted. */
interface World {
  spots: SpotPhotos[];
  region: RegionSpot[];
  model: string;
  sigma: number;
  /** The devices' match threshold: --threshold, else the model manifest's. */
  threshold: number;
  /** The devices' region gate cosine (their profiles set no minSpotCosine): set from the model's background views (regionGateFor). */
  gateCosine: number;
  walk: WalkModel;
  baseline: InProcessServer;
  /** Resolves the baseline's replies against the whole gallery's pack, as a device resolves its own. */
  book: CandidateBook;
  brokerUrl: string;
  protocolVersion: MqttProtocolVersion;
  limits: ReturnType<typeof wireLimitsFor>;
  ownViews: OwnViews;
  /**
   * The simulated world in front of the devices' cameras, the same for every k of a sweep; 'history' is an earlier
   * day of the same people (EvalOptions.historyMinutes).
   */
  stream: (s: Pick<ScenarioOptions, 'users' | 'minutes' | 'camera'>, day?: 'measured' | 'history') => WorldStream;
  /** The evaluation's own extractor (plain recognition beside the devices'). */
  extract: (picture: Buffer) => Promise<Float32Array>;
  extractMs: { total: number; count: number };
  /** Device galleries and profiles. */
  workDir: string;
}

export async function runEval(options: EvalOptions): Promise<EvalReport> {
  const k = options.k ?? EVAL_DEFAULTS.k;
  const seed = options.seed ?? EVAL_DEFAULTS.seed;
  const users = options.users ?? EVAL_DEFAULTS.users;
  const minutes = options.minutes ?? EVAL_DEFAULTS.minutes;
  const mode = options.mode ?? EVAL_DEFAULTS.mode;
  const rate = options.ratePerSecond ?? 1;
  checkInteger('--k', k, 1);
  checkInteger('--seed', seed, 0);
  if (options.deviceSeed !== undefined) checkInteger('--device-seed', options.deviceSeed, 0);
  checkInteger('--users', users, 1);
  if (!(minutes > 0)) throw new UserError(`eval: --minutes must be a number > 0 (got ${minutes}).`);
  const historyMinutes = options.historyMinutes ?? 0;
  if (!(historyMinutes >= 0)) throw new UserError(`eval: --history-minutes must be a number of minutes >= 0 (got ${historyMinutes}).`);
  if (!(rate > 0)) throw new UserError(`eval: --rate must be a number of slots per second > 0 (got ${rate}).`);
  const logger = options.logger ?? silentLogger();
  const started = performance.now();

  const spots = await listSpotPhotos(options.spotsDir);
  // Before the enrolment, which takes minutes on a large gallery: a missing folder is a typo to hear of at once.
  const offGalleryDir = await findOffGallery(options);
  const plan = planEval(spots, { seed, queriesPerSpot: 1 });
  const work = await mkdtemp(join(tmpdir(), 'enfpire-eval-'));
  // The evaluation's own extractions (enrolment, the plain-recognition baseline of every frame shown) run on a
  // worker thread: in a wall-clock run the devices' slot timers share this thread, and work the world does when a
  // frame is shown would delay them exactly when a real query is coming — a leak of the harness, not the device.
  const extractor = createExtractor({ thread: 'worker', manifestPath: options.modelManifest, logger });
  const embedded = options.brokerUrl === undefined ? new EmbeddedBroker() : undefined;
  let baseline: InProcessServer | undefined;
  let recognizer: RecognizerService | undefined;
  try {
    await extractor.start();
    const sigma = extractor.manifest.viewVariation?.sigma;
    if (sigma === undefined) {
      throw new UserError(`The model manifest ${options.modelManifest} has no viewVariation.sigma; use a model that ships one.`);
    }
    const galleryPath = join(work, 'gallery.db');
    const adversaryViews = options.adversaryViews ?? EVAL_DEFAULTS.adversaryViews;
    const referenceViews = options.referenceViews ?? EVAL_DEFAULTS.referenceViews;
    const cache =
      options.cacheDir === null
        ? undefined
        : new EnrolCache(options.cacheDir ?? defaultEvalCacheDir(), await enrolKey({
            spots,
            modelManifest: options.modelManifest,
            seed,
            adversaryViews,
            extra: {
              metadata: await readFile(join(options.spotsDir, METADATA_FILE), 'utf8').catch(() => null),
              views: 'world-dwell-v1',
              // Only when > 0, so galleries cached before the option existed (no views) keep their key; views keyed by
              // file name since a370fcf (galleries cached before it averaged views of a temporary path).
              ...(referenceViews > 0 ? { referenceViews, referenceViewKey: 'file-name' } : {}),
            },
          }));
    if (!(await cache?.restoreGallery(galleryPath))) {
      await enrollReferences(plan, new Map(spots.map((s) => [s.id, queryFiles(s)])), options.spotsDir, join(work, 'references'), galleryPath, extractor, logger, referenceViews);
      await cache?.saveGallery(galleryPath);
    }
    const enrolS = (performance.now() - started) / 1000;

    baseline = InProcessServer.open(galleryPath);
    const wholePack = (await baseline.regionPack('*')).pack;
    const region = wholePack.spots;
    if (k > region.length) throw new UserError(`eval: --k ${k} needs at least ${k} spots; ${options.spotsDir} has ${region.length}.`);

    await embedded?.start();
    const brokerUrl = options.brokerUrl ?? embedded!.url;
    const protocolVersion = options.protocolVersion ?? (embedded ? 4 : 5);
    const recognizerFile = join(work, 'recognizer.yaml');
    await writeFile(
      recognizerFile,
      stringify({
        // One process hosts the broker, the recognizer and every device here: a device storing a 10,555-spot region
        // pack (22 MB) holds the shared event loop for longer than the recognizer's 5 s keep-alive allows, and the
        // broker then dropped the recognizer. Apart, each has its own loop; the product's keep-alive stays as it is.
        broker: { url: brokerUrl, keepaliveSeconds: 120 },
        gallery: galleryPath,
        model: options.modelManifest,
        index: { kind: 'exact' },
        log: { level: 'warn' },
        ...(options.maxCandidates !== undefined ? { maxTopM: Math.max(options.maxCandidates, schemaDefault('recognizer', 'maxTopM') as number) } : {}),
      }),
    );
    const recognizerConfig = await loadRecognizerConfig(recognizerFile);
    recognizer = new RecognizerService({ config: recognizerConfig, logger, protocolVersion });
    await recognizer.start();

    const extractMs = { total: 0, count: 0 };
    const extractPicture = async (picture: Buffer) => {
      const t0 = performance.now();
      const f = await extractor.extract(picture);
      extractMs.total += performance.now() - t0;
      extractMs.count++;
      return f;
    };
    const place = await loadWorld(options.spotsDir, offGalleryDir);
    // Glasses wearers of every kind in turn, or kiosks taking stills: people who do not move like the phantoms.
    const worldOf = (sc: Pick<ScenarioOptions, 'users' | 'minutes' | 'camera'>) => ({
      ...place,
      ...(sc.camera === 'photos' ? { people: 0, kiosks: sc.users } : { people: sc.users, kiosks: 0 }),
      durationMs: sc.minutes * 60_000,
    });
    const streams = new Map<string, WorldStream>();
    const stream = (sc: Pick<ScenarioOptions, 'users' | 'minutes' | 'camera'>, day: 'measured' | 'history' = 'measured') => {
      const key = `${sc.users}/${sc.minutes}/${sc.camera}/${day}`;
      let made = streams.get(key);
      if (!made) {
        made = simulateWorld({ ...worldOf(sc), seed: streamSeed('query', seed, day === 'measured' ? 'world' : 'history', 0) });
        streams.set(key, made);
      }
      return made;
    };
    const extract = async (file: string, viewSeed: number) => extractPicture(await renderDwellView(file, viewSeed));
    let ownViews = await cache?.loadViews();
    if (!ownViews) {
      const made = new Map<string, Float32Array[]>();
      await forEachConcurrently(spots, RENDER_CONCURRENCY, async (spot) => {
        const files = queryFiles(spot);
        const views: Float32Array[] = [];
        for (let v = 0; v < adversaryViews; v++) {
          views.push(await extract(files[v % files.length], streamSeed('adversary', seed, spot.id, v)));
        }
        made.set(spot.id, views);
      });
      ownViews = new Map(spots.map((s) => [s.id, made.get(s.id)!]));
      await cache?.saveViews(ownViews);
    }

    // The devices' own gate: each holds the whole gallery as its region pack, with the profile's gate settings.
    const threshold = matchThreshold(extractor.manifest, options.resolverThreshold);
    const gate = await regionGateFor(region, extractor.manifest, { backgroundPass: options.backgroundPass ?? (schemaDefault('edge', 'privacy.backgroundPass') as number) }, threshold);
    const world: World = {
      spots,
      region,
      model: baseline.model,
      sigma,
      threshold,
      gateCosine: gate.minCosine,
      walk: new WalkModel(region),
      baseline,
      book: new CandidateBook(wholePack),
      brokerUrl,
      protocolVersion,
      limits: wireLimitsFor(region[0].feature.length, { maxCandidates: recognizerConfig.maxTopM }),
      ownViews,
      stream,
      extract: extractPicture,
      extractMs,
      workDir: work,
    };
    const scenario = { seed, users, minutes, mode, rate, decoys: options.decoys ?? (schemaDefault('edge', 'privacy.transform.decoys') as DecoySpotSource), camera: options.camera ?? EVAL_DEFAULTS.camera, options, logger };
    const main = await runScenario(world, { ...scenario, k, recordPath: options.recordPath, truthPath: options.truthPath, guessesPath: options.guessesPath, resultsPath: options.resultsPath, onProgress: options.onProgress });
    const curve: PrivacyFigures[] = [];
    if (options.sweep) {
      for (let kk = 1; kk <= Math.min(8, region.length); kk++) {
        curve.push(kk === k ? main.figures : (await runScenario(world, { ...scenario, k: kk })).figures);
      }
    }

    const f = main.figures;
    // The same spot-order floor on other worlds of this folder and size: where wearers stand on average, against
    // which one world's central_spot_floor (and its central-spot guess) is a draw.
    const floorWorlds = Array.from({ length: FLOOR_WORLDS }, (_, i) =>
      simulateWorld({ ...worldOf(scenario), seed: streamSeed('query', seed, 'floor-world', i) }).frames.flatMap((frame) => (frame.spot === null ? [] : [frame.spot])),
    );
    const floorExpected = expectedSpotOrderFloor(floorWorlds, centrality(new GalleryIndex({ gallery: region, k, walk: world.walk })), k);
    // What the cameras saw, beside the figures: the world is part of the claim (issue #9, "camera streams").
    const cameras = await measureStream(world.stream(scenario), extractor, { pairs: 12 });
    return {
      ...f,
      spots: spots.length,
      seed,
      device_seed: options.deviceSeed ?? seed,
      users,
      minutes,
      history_minutes: historyMinutes,
      reference_views: referenceViews,
      adversary_views: adversaryViews,
      ...(options.replay ? { replayed_from: options.replay.recordPath } : {}),
      model: world.model,
      transform: options.transform ?? (schemaDefault('edge', 'privacy.transform') as { kind: TransformKind }).kind,
      decoys: scenario.decoys,
      real_component: options.realComponent ?? (schemaDefault('edge', 'privacy.transform.realComponent') as RealComponent),
      camera: scenario.camera,
      scheduler: { mode, ratePerSecond: rate },
      broker: { url: embedded ? 'embedded aedes' : brokerUrl, protocolVersion, embedded: embedded !== undefined },
      decoy_sigma: sigma,
      threshold: world.threshold,
      device_settings: options.deviceSettings ?? {},
      photos: main.photos,
      central_spot_floor_worlds: { mean: round(floorExpected.mean), sd: round(floorExpected.sd), worlds: FLOOR_WORLDS },
      world: cameras,
      targets: {
        baseline_top1: { target: '>= 0.95', pass: f.baseline_top1 >= 0.95 },
        user_top1: { target: '>= 0.99 x baseline_top1', pass: f.user_top1 >= 0.99 * f.baseline_top1 },
        server_top1: { target: `<= 1/k + 0.03 = ${round(1 / k + 0.03)}`, pass: f.server_top1 <= 1 / k + 0.03 },
        trajectory_acc: { target: `<= 1/k + 0.05 = ${round(1 / k + 0.05)}`, pass: f.trajectory_acc <= 1 / k + 0.05 },
        dummy_auc: { target: '<= 0.55', pass: f.dummy_auc <= 0.55 },
      },
      ...(options.sweep ? { curve } : {}),
      timing: {
        wall_s: round((performance.now() - started) / 1000, 2),
        enrol_s: round(enrolS, 2),
        extract_ms_mean: round(extractMs.total / Math.max(1, extractMs.count), 2),
      },
    };
  } finally {
    await recognizer?.stop().catch((err: Error) => logger.warn({ err: err.message }, 'recognizer stop failed'));
    await embedded?.stop();
    await baseline?.close();
    await extractor.stop().catch((err: Error) => logger.warn({ err: err.message }, 'extractor stop failed'));
    await rm(work, { recursive: true, force: true });
  }
}

interface ScenarioOptions {
  k: number;
  seed: number;
  users: number;
  minutes: number;
  mode: SlotMode;
  rate: number;
  decoys: DecoySpotSource;
  camera: CameraModel;
  options: EvalOptions;
  logger: Logger;
  recordPath?: string;
  truthPath?: string;
  guessesPath?: string;
  resultsPath?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Ground truth of one query on the wire: whose it was, and the real spot (null: a dummy or an off-gallery frame). */
/** The profile's privacy.transform for this run: only the settings its kind reads (the schema refuses the others). */
function transformSettings(k: number, s: ScenarioOptions): Record<string, unknown> {
  const o = s.options;
  const kind = o.transform ?? (schemaDefault('edge', 'privacy.transform') as { kind: TransformKind }).kind;
  const candidates = o.candidatesPerComponent !== undefined ? { candidatesPerComponent: o.candidatesPerComponent } : {};
  switch (kind) {
    case 'kmix':
      return {
        kind,
        k,
        decoys: s.decoys,
        ...candidates,
        ...(o.realComponent !== undefined ? { realComponent: o.realComponent } : {}),
        ...(o.maxCandidates !== undefined ? { maxCandidates: o.maxCandidates } : {}),
      };
    case 'noise':
      return { kind, k, decoys: s.decoys, ...candidates, ...(o.noise !== undefined ? { noise: o.noise } : {}) };
    case 'bucket':
      return { kind, k };
  }
}

/**
 * One run at one k: the shipped daemon on every simulated device (fleet.ts), then the attacks on what the server saw
 * and the user's answers against the ground truth.
 */
async function runScenario(world: World, s: ScenarioOptions): Promise<{ figures: PrivacyFigures & StrongerAttackFigures; photos: number }> {
  const { k, seed } = s;
  // The same world for every k of a sweep: only the privacy layer's randomness depends on k.
  const framesOf = (stream: WorldStream, prefix: string): WorldFrame[] =>
    stream.frames.map((f, n) => ({ user: f.device, t: f.t, label: `${prefix}${f.device}/${n}`, spot: f.spot, render: () => renderFrame(f.view) }));
  const measured = world.stream(s);
  const frames = framesOf(measured, 'd');
  const baseline = new BaselineTally(world, s);
  const shownOnWallClock: { frame: WorldFrame; picture: Buffer }[] = [];
  // Each scenario's devices start from gallery files of their own: a sweep's k = 2 must not hand its k = 3 a history.
  const workDir = await mkdtemp(join(world.workDir, `k${k}-`));
  const fleet = {
    profile: mergeSettings(
      {
        privacy: { transform: transformSettings(k, s), ...(s.options.backgroundPass !== undefined ? { backgroundPass: s.options.backgroundPass } : {}) },
        scheduler: { mode: s.mode, ratePerSecond: s.rate },
        ...(s.options.resolverThreshold !== undefined ? { resolver: { threshold: s.options.resolverThreshold } } : {}),
        // 0 keeps one identity per device for the whole run; otherwise the profile's mean interval.
        ...(s.options.rotateIdentityMinutes !== undefined ? { transport: { rotateIdentityMinutes: s.options.rotateIdentityMinutes } } : {}),
      },
      s.options.deviceSettings ?? {},
    ),
    users: s.users,
    brokerUrl: world.brokerUrl,
    galleryIds: world.region.map((spot) => spot.id),
    protocolVersion: world.protocolVersion,
    modelManifest: s.options.modelManifest,
    workDir,
    time: s.options.time,
    limits: world.limits,
    logger: s.logger,
  };
  const historyMinutes = s.options.historyMinutes ?? 0;
  if (s.options.replay) {
    // Attacks of one's own on a wiretap recorded earlier: no device runs, so the user's figures read nothing.
    if (s.recordPath || s.truthPath) throw new UserError('eval: --replay reads a record; it cannot write one (drop --record and --truth).');
  } else if (historyMinutes > 0) {
    // An earlier day: its own device draws, nothing of it kept but what the devices kept in their files.
    const history = world.stream({ ...s, minutes: historyMinutes }, 'history');
    await runFleet({ ...fleet, frames: framesOf(history, 'h'), durationMs: historyMinutes * 60_000, seed: streamSeed('privacy', s.options.deviceSeed ?? seed, 'history', k) });
  }
  const run = s.options.replay
    ? await replayFleet(fleet, s.options.replay)
    : await runFleet({
        ...fleet,
        frames,
        durationMs: s.minutes * 60_000,
        seed: streamSeed('privacy', s.options.deviceSeed ?? seed, 'devices', k),
        // Wall clock: plain recognition of what was shown waits until the devices are off. Measured beside them, it
        // took an extraction per frame from the same cores as theirs, and 24 wearers fell behind (2026-12-06).
        onShown: (frame, picture) => (s.options.time === 'wall' ? shownOnWallClock.push({ frame, picture }) : baseline.add(frame, picture)),
        onProgress: s.onProgress,
      });
  await forEachConcurrently(shownOnWallClock, 4, ({ frame, picture }) => baseline.measure(frame, picture));
  if (s.recordPath) await writeRecord(s.recordPath, run.records);
  if (s.truthPath) await writeRecord(s.truthPath, run.truths);
  if (run.unpaired > 0) s.logger.warn({ unpaired: run.unpaired }, 'queries on the wire that no device claimed were left out of the attacks');

  // The server knows the devices' public configuration: the drift of their decoys and their rotation pauses.
  const guesses: Record<string, string | null>[] = run.records.map(() => ({}));
  const onGuesses = (name: string, of: readonly (string | null)[]) => of.forEach((spot, i) => (guesses[i][name] = spot));
  const attacks = attack(world, k, run.records, run.truths, { ...s, device: run.deviceSettings, onGuesses });
  if (s.guessesPath) await writeRecord(s.guessesPath, guesses);
  const user = await baseline.score(run.results);
  if (s.resultsPath) await writeRecord(s.resultsPath, baseline.rows(run.results));
  const realOfSpot = run.truths.flatMap((t, i) => (t.spot !== null ? [i] : []));
  const inReply = realOfSpot.filter((i) => run.records[i].candidates.includes(run.truths[i].spot!)).length;
  const real = run.truths.filter((t) => t.spot !== null || t.offGallery).length;
  return {
    photos: frames.length,
    figures: {
      k,
      ...user,
      ...attacks,
      bytes_per_result: round(run.bytes / Math.max(1, user.results), 1),
      queries: run.truths.length,
      real_queries: real,
      dummy_queries: run.truths.length - real,
      real_in_reply: rate(inReply, realOfSpot.length),
      identity_rotations: run.rotations,
      devices_up_s: round(Math.max(0, ...run.startedAt) / 1000, 2),
      world_lag_s: { p50: round(run.worldLag.p50 / 1000, 3), p95: round(run.worldLag.p95 / 1000, 3), max: round(run.worldLag.max / 1000, 3) },
      asking: askingFigures(measured, (n) => frames[n].label, run.records, run.truths, run.counters.reduce((sum, c) => sum + c.heldBack, 0), run.startedAt),
    },
  };
}

/**
 * The user's side of the figures: for every frame the device answered, its answer against the ground truth, beside
 * plain recognition of the same picture (k = 1, the feature itself to the server, the device's resolver rule).
 */
class BaselineTally {
  private readonly pending: Promise<void>[] = [];
  private readonly plain = new Map<string, { raw: boolean; resolved: boolean; inReply?: boolean; bestCosine: number }>();
  private readonly frames = new Map<string, WorldFrame>();
  private readonly resolver: Resolver;
  /** The devices' region gate, as their profiles set it. */
  private readonly gate: RegionGate;

  constructor(
    private readonly world: World,
    s: ScenarioOptions,
  ) {
    this.resolver = new Resolver({ threshold: world.threshold, logger: s.logger });
    this.gate = new RegionGate(world.region, world.gateCosine);
  }

  add(frame: WorldFrame, picture: Buffer): void {
    this.pending.push(this.measure(frame, picture));
  }

  /** Plain recognition of one shown picture. */
  async measure(frame: WorldFrame, picture: Buffer): Promise<void> {
    this.frames.set(frame.label, frame);
    const feature = await this.world.extract(picture);
    const plain = await this.world.baseline.query({ type: 'query', model: this.world.model, vector: feature, topM: 1 });
    const top = plain.reply.candidates[0]?.id ?? null;
    this.plain.set(frame.label, {
      bestCosine: this.gate.bestCosine(normalize(feature)),
      raw: top === frame.spot,
      resolved: this.resolver.resolve(feature, this.world.book.resolve(plain.reply).candidates, frame.t).spotId === frame.spot,
    });
  }

  /** Per answered frame of a spot: what the device said and how, beside plain recognition (EvalOptions.resultsPath). */
  rows(results: ReadonlyMap<string, EdgeResult>): Record<string, unknown>[] {
    const rows: Record<string, unknown>[] = [];
    for (const [label, result] of results) {
      const frame = this.frames.get(label);
      const plain = this.plain.get(label);
      if (!frame || !plain || frame.spot === null) continue;
      rows.push({
        label,
        user: frame.user,
        t: frame.t,
        spot: frame.spot,
        answer: result.spotId,
        score: round(result.score),
        baseline_right: plain.resolved,
        from_cache: result.fromCache,
        smoothed: result.smoothed ?? false,
        ...(result.overruled ? { overruled: { ...result.overruled, score: round(result.overruled.score), margin: round(result.overruled.margin) } } : {}),
      });
    }
    return rows;
  }

  /** What other region-gate cosines would do: the share of no-spot frames let through, of spot frames held back. */
  private gateCurve(): { cosine: number; no_spot_admitted: number; spot_gated: number }[] {
    const best = { spot: [] as number[], none: [] as number[] };
    for (const [label, frame] of this.frames) {
      const plain = this.plain.get(label);
      if (plain) (frame.spot === null ? best.none : best.spot).push(plain.bestCosine);
    }
    return GATE_CURVE_COSINES.map((cosine) => ({
      cosine,
      no_spot_admitted: rate(best.none.filter((c) => c >= cosine).length, best.none.length),
      spot_gated: rate(best.spot.filter((c) => c < cosine).length, best.spot.length),
    }));
  }

  async score(
    results: ReadonlyMap<string, EdgeResult>,
  ): Promise<Pick<PrivacyFigures, 'baseline_top1' | 'baseline_top1_raw' | 'user_top1' | 'user_top1_ci95' | 'baseline_top1_ci95' | 'results' | 'user_unknown' | 'user_vs_baseline' | 'no_spot'>> {
    await Promise.all(this.pending);
    // Frames of no spot: how many the region gate lets through to become real queries, and how many the user was
    // told a spot for.
    const noSpot = { frames: 0, admitted: 0, answered: 0, toldSpot: 0 };
    for (const [label, frame] of this.frames) {
      const plain = this.plain.get(label);
      if (frame.spot !== null || !plain) continue;
      noSpot.frames++;
      if (plain.bestCosine >= this.gate.minCosine) noSpot.admitted++;
      const result = results.get(label);
      if (result) noSpot.answered++;
      if (result && result.spotId !== null) noSpot.toldSpot++;
    }
    let n = 0;
    const tally = { user: 0, baseline: 0, raw: 0, unknown: 0 };
    const lost = { unknown: 0, smoothed: 0, from_cache: 0, from_reply: 0 };
    const outcomes = { user: [] as boolean[], baseline: [] as boolean[], users: [] as number[] };
    for (const [label, result] of results) {
      const frame = this.frames.get(label);
      const plain = this.plain.get(label);
      if (!frame || !plain || frame.spot === null) continue;
      n++;
      outcomes.user.push(result.spotId === frame.spot);
      outcomes.baseline.push(plain.resolved);
      outcomes.users.push(frame.user);
      if (result.spotId === frame.spot) tally.user++;
      if (result.spotId === null) tally.unknown++;
      if (plain.resolved && result.spotId !== frame.spot) {
        if (result.spotId === null) lost.unknown++;
        else if (result.smoothed) lost.smoothed++;
        else if (result.fromCache) lost.from_cache++;
        else lost.from_reply++;
      }
      if (plain.resolved) tally.baseline++;
      if (plain.raw) tally.raw++;
    }
    return {
      baseline_top1: rate(tally.baseline, n),
      baseline_top1_raw: rate(tally.raw, n),
      user_top1: rate(tally.user, n),
      user_top1_ci95: clusteredCi95(outcomes.user, outcomes.users),
      baseline_top1_ci95: clusteredCi95(outcomes.baseline, outcomes.users),
      results: n,
      user_unknown: rate(tally.unknown, n),
      user_vs_baseline: {
        ratio: round(tally.baseline > 0 ? tally.user / tally.baseline : 0),
        ci95: clusteredRatioCi95(outcomes.user, outcomes.baseline, outcomes.users, seededRandom(streamSeed('adversary', 0, 'user-vs-baseline', 0))),
        lost,
      },
      no_spot: {
        gate_cosine: this.gate.minCosine,
        frames: noSpot.frames,
        admitted: rate(noSpot.admitted, noSpot.frames),
        told_a_spot: rate(noSpot.toldSpot, noSpot.answered),
        gate_curve: this.gateCurve(),
      },
    };
  }
}

/** Region-gate cosines the report's gate curve is read at (privacy.minSpotCosine). */
const GATE_CURVE_COSINES = [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8];

/** Photos rendered at once: enough to keep sharp's and ONNX Runtime's threads busy on a small machine. */
const RENDER_CONCURRENCY = 4;

/**
 * Photographs of no spot for the simulated cameras: `--offgallery DIR`, else a folder beside the spots named
 * `<spots>-offgallery` (what scripts/build-benchmark.mjs writes) or `offgallery` (the bundled samples).
 */
async function findOffGallery(options: Pick<EvalOptions, 'spotsDir' | 'offGalleryDir'>): Promise<string> {
  const candidates = options.offGalleryDir
    ? [options.offGalleryDir]
    : [`${options.spotsDir.replace(/\/+$/, '')}-offgallery`, join(dirname(options.spotsDir.replace(/\/+$/, '')), 'offgallery')];
  for (const dir of candidates) {
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  throw new UserError(
    `eval: no photographs of no spot for the simulated cameras (looked for ${candidates.join(' and ')}); pass --offgallery DIR with pictures that are none of the spots.`,
  );
}

/**
 * A view of a spot photo like the simulated wearers' frames while they stand at it (world/stream.ts): what the
 * recognizer's view models and the adversary's own views are learned from, as an operator who knows what queries
 * look like would (docs/decisions.md #21).
 */
function renderDwellView(file: string, seed: number): Promise<Buffer> {
  return renderFrame(dwellViewOf(file, seed));
}

/** Writes the reference pictures as a spot folder (with the original spots.json) and enrols it. */
async function enrollReferences(
  plan: EvalPlan,
  viewSources: ReadonlyMap<string, readonly string[]>,
  spotsDir: string,
  referencesDir: string,
  galleryPath: string,
  extractor: Extractor,
  logger: Logger,
  referenceViews: number,
): Promise<void> {
  await mkdir(referencesDir, { recursive: true });
  // A few at a time: each render is seeded by its own plan, so the files are the same in any order, and one at a
  // time left a core idle for the 15 minutes that 10,555 references took (2026-12-06).
  await forEachConcurrently(plan.references, RENDER_CONCURRENCY, async (r) => {
    const ext = r.source.kind === 'separate-photo' ? extname(r.source.file) : '.jpg';
    await writeFile(join(referencesDir, `${r.spot}${ext}`), await renderReference(r));
  });
  await copyFile(join(spotsDir, METADATA_FILE), join(referencesDir, METADATA_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  // View models from camera views of the scene photos, not of the reference picture: the server's own views (the
  // component test's) are of the scene too, and decoys shaped like re-renders of a mild enrolment view sit farther
  // from the reference than real photos do (measured: mean cosine to the reference 0.824 against 0.858 for real
  // views; from the scene photos 0.852), which gives the real component the larger weight.
  // Reference views, when asked for, are of the reference picture itself: what the server enrols from.
  await enroll({ spotsDir: referencesDir, outPath: galleryPath, extractor, logger, viewSources, renderView: renderDwellView, referenceViews });
}

/** Writes the report next to its final name and renames it, so a reader never sees half a file. */
export async function writeReport(path: string, report: EvalReport): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new UserError(`Cannot write the evaluation report ${path} (${(err as Error).message}); choose a writable --out file.`, {
      cause: err,
    });
  }
}

function checkInteger(flag: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new UserError(`eval: ${flag} must be an integer ≥ ${min} (got ${value}).`);
}
