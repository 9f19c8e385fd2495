import type { EdgeProfile } from './generated/edge.js';
import type { RecognizerProfile } from './generated/recognizer.js';
/**
 * Typed configuration, as returned by the loader: defaults filled in, relative paths made absolute, secrets read.
 * The JSON schemas in firmware-config/ are the one definition of every setting (type, range, default, description);
 * the types come from them (scripts/gen-config.mjs writes daemon/config/generated/, `npm run gen:config`; a test
 * fails when the checked-in files are stale). The names below are aliases of the generated types, so imports keep
 * working; the only fields written here are the ones the loader derives, which are no settings.
 */
export type { EdgeProfile, RecognizerProfile };

export type CameraConfig = EdgeProfile['camera'];
export type CameraKind = CameraConfig['kind'];
export type CameraFormat = NonNullable<CameraConfig['format']>;
export type RegionOfInterest = NonNullable<CameraConfig['roi']>;
export type RestartConfig = CameraConfig['restart'];
export type SceneGateConfig = CameraConfig['gate'];
export type StillTriggerConfig = CameraConfig['still'];
export type ModelConfig = EdgeProfile['model'];
export type ExecutionProviderName = ModelConfig['executionProviders'][number];
export type PrivacyConfig = EdgeProfile['privacy'];
export type GalleryConfig = EdgeProfile['gallery'];
export type ResolverConfig = EdgeProfile['resolver'];
export type SchedulerConfig = EdgeProfile['scheduler'];
export type ThumbnailConfig = EdgeProfile['api']['thumbnail'];
export type HealthConfig = EdgeProfile['health'];
export type ThermalConfig = HealthConfig['thermal'];
export type LogConfig = EdgeProfile['log'];
export type LogLevel = LogConfig['level'];
export type RecognizerMetricsConfig = RecognizerProfile['metrics'];

/** Derived by the loader (not settings): the trimmed content of usernameFile and passwordFile. */
export interface BrokerSecrets {
  username?: string;
  password?: string;
}

/** Broker credentials: the *File settings as absolute paths, and the secrets the loader read from them. */
export type BrokerCredentials = Pick<EdgeProfile['transport'], 'usernameFile' | 'passwordFile' | 'caFile'> & BrokerSecrets;

export type TransportConfig = EdgeProfile['transport'] & BrokerSecrets;

/** api.lan, and the token the loader read from tokenFile (derived, not a setting). */
export type ApiLanConfig = NonNullable<EdgeProfile['api']['lan']> & { token: string };

export type ApiConfig = Omit<EdgeProfile['api'], 'lan'> & { lan?: ApiLanConfig };

export type EdgeConfig = Omit<EdgeProfile, 'transport' | 'api'> & {
  transport: TransportConfig;
  api: ApiConfig;
  /** Absolute path of the file this was loaded from (derived, not a setting). */
  configFile: string;
};

export type RecognizerConfig = Omit<RecognizerProfile, 'broker'> & {
  broker: RecognizerProfile['broker'] & BrokerSecrets;
  /** Absolute path of the file this was loaded from (derived, not a setting). */
  configFile: string;
};

/** A problem found in a configuration file, for `enfpire config check` and load errors. */
export interface Problem {
  /** Dotted setting path, e.g. 'privacy.transform.k'; '' for the file as a whole. */
  path: string;
  /** What is wrong. */
  message: string;
  /** How to fix it. */
  fix: string;
}
