/**
 * What the local API reads, as narrow interfaces: the API depends on these shapes, not on EdgeRuntime, so any part
 * can be left out (a unit without telemetry still serves /status) and each is faked in a test by a plain object.
 */
import type { Frame } from '../camera/types.js';
import type { EdgeResult } from '../domain/result.js';
import type { EdgeCounters } from '../health/pipeline-counters.js';
import type { ResultRecord } from '../gallery/types.js';
import type { CameraHealth } from '../health/paced-source.js';
import type { LatencySummary } from '../health/latency.js';
import type { TelemetrySample } from '../health/telemetry.js';
import type { RecognitionClientCounters } from '../transport/recognition-client.js';

/**
 * The pipeline's counters. `source` is the frame source's stats(); the paced source (health/paced-source.ts) adds the
 * camera's health to them, which /status, /metrics and `enfpire status` show (absent for a source that is not paced).
 */
export type PipelineStats = EdgeCounters & { queueDepth: number; source: { produced: number; dropped: number; camera?: CameraHealth } };

/** EdgeDaemon satisfies it. */
export interface PipelineStatus {
  stats(): PipelineStats;
  on(event: 'result', listener: (result: EdgeResult) => void): unknown;
  off(event: 'result', listener: (result: EdgeResult) => void): unknown;
}

/** RecognitionClient satisfies it. */
export interface BrokerStatus {
  counters(): RecognitionClientCounters;
}

/** SystemTelemetry satisfies it. */
export interface TelemetryStatus {
  latest(): TelemetrySample | null;
}

/** LatencyTracker satisfies it. */
export interface LatencyStatus {
  summary(): { all: LatencySummary; cached: LatencySummary; queried: LatencySummary };
}

/** ThermalGovernorService satisfies it. */
export interface ThermalStatus {
  state(): { targetFps: number; baseFps: number; throttled: boolean; temperatureC: number | null };
}

/** The gallery satisfies it (most recent first). */
export interface HistoryProvider {
  history(limit?: number): ResultRecord[];
}

/** The privacy layer at a glance, for the operator's page (EdgeRuntime builds it from its parts). */
export interface PrivacyState {
  transform: string;
  k: number;
  /** Age of the current broker identity; null before the first one connects. */
  identityAgeMs: number | null;
  identityRotations: number;
  /** The region pack decoys are drawn from. */
  region: { name: string; galleryVersion: string; spots: number; signature: PackSignature } | null;
}

/**
 * 'verified': fetched with a valid operator signature, this run or (the announced gallery's cached copy) before;
 * 'unsigned': accepted without a check (no operator key pinned, or the device's cached copy while the recognizer was
 * away); 'invalid' is never shown, such packs are refused.
 */
export type PackSignature = 'verified' | 'unsigned' | 'invalid';

export interface PrivacyStatus {
  privacy(): PrivacyState;
}

/** PacedFrameSource satisfies it (with keepLatest on). */
export interface LatestFrame {
  latestFrame(): Frame | null;
}

export interface StatusSources {
  pipeline: PipelineStatus;
  privacy?: PrivacyStatus;
  broker?: BrokerStatus;
  telemetry?: TelemetryStatus;
  latency?: LatencyStatus;
  thermal?: ThermalStatus;
  history?: HistoryProvider;
}
