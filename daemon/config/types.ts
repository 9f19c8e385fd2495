import type { DecoySpotSource, TransformKind } from '../privacy/transform.js';
import type { RealComponent } from '../privacy/kmix.js';
/**
 * Typed configuration, as returned by the loader: defaults filled in, relative paths made absolute,
 * secrets read. The JSON schemas in firmware-config/ are the source of truth; these interfaces mirror
 * them, and the SHAPE objects below (checked by tsc against the interfaces, and by a test against the
 * schemas) keep the two from drifting apart.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type CameraKind = 'files' | 'libcamera' | 'still' | 'gstreamer' | 'ffmpeg';
export type ExecutionProviderName = 'cpu' | 'cuda' | 'tensorrt';

export interface RegionOfInterest {
  /** Fractions 0..1 of the rotated frame. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface CameraConfig {
  kind: CameraKind;
  /** Absolute folder replayed by the 'files' source (required for it). */
  dir?: string;
  fps: number;
  loop: boolean;
  width: number;
  height: number;
  rotation: 0 | 90 | 180 | 270;
  roi?: RegionOfInterest;
  /** Absent: 'yuv420' for libcamera, 'mjpeg' for gstreamer and ffmpeg. */
  format?: CameraFormat;
  input: 'v4l2' | 'argus';
  device: string;
  sensorId: number;
  /** Expert override of the capture program's whole argument list. */
  pipeline?: string[];
  stallSeconds: number;
  restart: RestartConfig;
  gate: SceneGateConfig;
  still: StillTriggerConfig;
}

export type CameraFormat = 'yuv420' | 'mjpeg';

export interface RestartConfig {
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface SceneGateConfig {
  enabled: boolean;
  /** Hamming distance (bits of a 64-bit dHash) up to which a frame is the same scene. */
  maxDistance: number;
  refreshSeconds: number;
}

export interface StillTriggerConfig {
  /** 0: only on trigger(). */
  intervalSeconds: number;
  settleMs: number;
}

export interface ModelConfig {
  /** Absolute path of the model manifest. */
  manifest: string;
  executionProviders: ExecutionProviderName[];
  /** 0: ONNX Runtime chooses. */
  intraOpThreads: number;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface PrivacyConfig {
  transform: TransformKind;
  /** For transform 'noise'. */
  noise: number;
  k: number;
  decoys: DecoySpotSource;
  candidatesPerComponent: number;
  /** Most candidates one query may ask for (kmix.ts replySizeFor). */
  maxCandidates: number;
  /** What stands for the real spot in a k-mix query (kmix.ts REAL_COMPONENTS). */
  realComponent: RealComponent;
  /** Absent: from the model's view-variation model. */
  decoySigma?: number;
  /** How a decoy's view drifts (privacy/decoys.ts ViewDrift); fastSeconds 0: independent draws. */
  decoyDrift: { fastSeconds: number; slowSeconds: number; slowShare: number };
  /** Absent: the resolver's threshold. */
  minSpotCosine?: number;
}

/** Broker credentials: the *File settings as absolute paths, and the secrets the loader read from them. */
export interface BrokerCredentials {
  usernameFile?: string;
  passwordFile?: string;
  caFile?: string;
  /** Content of usernameFile, trimmed. */
  username?: string;
  /** Content of passwordFile, trimmed. */
  password?: string;
}

export interface TransportConfig extends BrokerCredentials {
  url: string;
  /** mqtt:// (no TLS) to a host that is not this one; refused unless set (config/load.ts brokerUrlProblems). */
  allowInsecure: boolean;
  certFile?: string;
  keyFile?: string;
  /** The operator's public signing key(s); answers must be signed by one (transport/signing.ts). */
  recognizerKeyFile?: string;
  /** Without recognizerKeyFile, accept unsigned answers from a broker on another host (config/load.ts). */
  allowUnsigned: boolean;
  region: string;
  requestTimeoutMs: number;
  hedgeAfterMs: number;
  rotateIdentityMinutes: number;
  rotatePauseSeconds: { min: number; max: number };
}

export interface GalleryConfig {
  /** Absolute path of the SQLite file. */
  path: string;
  historyLimit: number;
  historyMinutes: number;
}

export interface ResolverConfig {
  threshold: number;
  windowSize: number;
  windowMaxAgeMs: number;
  cacheThreshold: number;
  sceneChangeCosine: number;
}

export interface SchedulerConfig {
  mode: 'on-demand' | 'constant' | 'poisson';
  ratePerSecond: number;
}

export interface ApiConfig {
  /** 'host:port' or 'unix:/path'. */
  listen: string;
  enabled: boolean;
  /** Serve the operator's page at /. */
  page: boolean;
  thumbnail: ThumbnailConfig;
  /** A token-guarded listener on the LAN; absent: loopback only. */
  lan?: ApiLanConfig;
}

export interface ThumbnailConfig {
  enabled: boolean;
  width: number;
  fps: number;
}

export interface ApiLanConfig {
  /** 'host:port', any address. */
  listen: string;
  /** Absolute path of the token file. */
  tokenFile: string;
  /** Content of tokenFile, trimmed. */
  token: string;
}

export interface ThermalConfig {
  enabled: boolean;
  throttleAboveC: number;
  restoreBelowC: number;
  minFps: number;
  stepFactor: number;
}

export interface HealthConfig {
  sampleIntervalMs: number;
  latencyWindow: number;
  thermal: ThermalConfig;
}

export interface LogConfig {
  level: LogLevel;
}

export interface EdgeConfig {
  camera: CameraConfig;
  model: ModelConfig;
  privacy: PrivacyConfig;
  transport: TransportConfig;
  gallery: GalleryConfig;
  resolver: ResolverConfig;
  scheduler: SchedulerConfig;
  api: ApiConfig;
  health: HealthConfig;
  log: LogConfig;
  /** Absolute path of the file this was loaded from (not a setting). */
  configFile: string;
}

export interface RecognizerConfig {
  broker: BrokerCredentials & { url: string; allowInsecure: boolean; keepaliveSeconds: number };
  /** The operator's private signing key (transport/signing.ts); without it answers go unsigned. */
  signingKeyFile?: string;
  group: string;
  /** Absolute path of the SQLite gallery. */
  gallery: string;
  /** Absolute path of the model manifest. */
  model: string;
  /** Nearest-neighbour search (recognizer/spot-index.ts); defaults in recognizer.schema.json. */
  index: { kind: 'exact' | 'hnsw'; efSearch: number; efPerCandidate: number; m: number; efConstruction: number; cacheGraph: boolean };
  maxTopM: number;
  metrics: RecognizerMetricsConfig;
  log: LogConfig;
  /** Absolute path of the file this was loaded from (not a setting). */
  configFile: string;
}

/** The recognizer's Prometheus listener (daemon/recognizer/metrics-server.ts). */
export interface RecognizerMetricsConfig {
  enabled: boolean;
  /** 'host:port', loopback by default, any address allowed. */
  listen: string;
}

/** A problem found in a configuration file, for `enfpire config check` and load errors. */
export interface Problem {
  /** Dotted setting path, e.g. 'privacy.k'; '' for the file as a whole. */
  path: string;
  /** What is wrong. */
  message: string;
  /** How to fix it. */
  fix: string;
}

/**
 * Every key of a config interface, recursively: `true` for a setting from the schema, 'derived' for a
 * field the loader adds (secrets read from files, the file path). Object literals typed with it must list
 * exactly the interface's keys, so tsc catches an interface that drifts from these constants (spreads would skip that check).
 */
export type Shape<T> = {
  [K in keyof Required<T>]-?: NonNullable<T[K]> extends unknown[]
    ? true | 'derived'
    : NonNullable<T[K]> extends object
      ? Shape<NonNullable<T[K]>>
      : true | 'derived';
};

export const EDGE_CONFIG_SHAPE: Shape<EdgeConfig> = {
  camera: {
    kind: true,
    dir: true,
    fps: true,
    loop: true,
    width: true,
    height: true,
    rotation: true,
    roi: { x: true, y: true, width: true, height: true },
    format: true,
    input: true,
    device: true,
    sensorId: true,
    pipeline: true,
    stallSeconds: true,
    restart: { initialDelayMs: true, maxDelayMs: true },
    gate: { enabled: true, maxDistance: true, refreshSeconds: true },
    still: { intervalSeconds: true, settleMs: true },
  },
  model: { manifest: true, executionProviders: true, intraOpThreads: true, graphOptimizationLevel: true },
  privacy: { transform: true, noise: true, k: true, decoys: true, candidatesPerComponent: true, maxCandidates: true, realComponent: true, decoySigma: true, decoyDrift: { fastSeconds: true, slowSeconds: true, slowShare: true }, minSpotCosine: true },
  transport: {
    url: true,
    allowInsecure: true,
    usernameFile: true,
    passwordFile: true,
    caFile: true,
    username: 'derived',
    password: 'derived',
    certFile: true,
    keyFile: true,
    recognizerKeyFile: true,
    allowUnsigned: true,
    region: true,
    requestTimeoutMs: true,
    hedgeAfterMs: true,
    rotateIdentityMinutes: true,
    rotatePauseSeconds: { min: true, max: true },
  },
  gallery: { path: true, historyLimit: true, historyMinutes: true },
  resolver: { threshold: true, windowSize: true, windowMaxAgeMs: true, cacheThreshold: true, sceneChangeCosine: true },
  scheduler: { mode: true, ratePerSecond: true },
  api: { listen: true, enabled: true, page: true, thumbnail: { enabled: true, width: true, fps: true }, lan: { listen: true, tokenFile: true, token: 'derived' } },
  health: {
    sampleIntervalMs: true,
    latencyWindow: true,
    thermal: { enabled: true, throttleAboveC: true, restoreBelowC: true, minFps: true, stepFactor: true },
  },
  log: { level: true },
  configFile: 'derived',
};

export const RECOGNIZER_CONFIG_SHAPE: Shape<RecognizerConfig> = {
  broker: {
    url: true,
    allowInsecure: true,
    keepaliveSeconds: true,
    usernameFile: true,
    passwordFile: true,
    caFile: true,
    username: 'derived',
    password: 'derived',
  },
  signingKeyFile: true,
  group: true,
  gallery: true,
  model: true,
  index: { kind: true, efSearch: true, efPerCandidate: true, m: true, efConstruction: true, cacheGraph: true },
  maxTopM: true,
  metrics: { enabled: true, listen: true },
  log: { level: true },
  configFile: 'derived',
};
