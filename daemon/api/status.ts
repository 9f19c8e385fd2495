/**
 * The JSON the local API serves and `enfpire status --json` prints. Keys are snake_case like the other
 * machine-readable output of the CLI (DESIGN §9); this shape is a contract for scripts, extend it, don't rename.
 */
import type { EdgeResult } from '../domain/result.js';
import type { ResultRecord } from '../gallery/types.js';
import type { LatencySummary } from '../health/latency.js';
import type { TelemetrySample } from '../health/telemetry.js';
import type { PackSignature, PrivacyState, StatusSources } from './sources.js';
import { readRegistry, type EdgeSnapshot, type RegistryReport } from './status-registry.js';

/** Frame, query and result counters (daemon/api/status-registry.ts, section `counters`). */
export type StatusCounters = RegistryReport['counters'];

export type BrokerReport = NonNullable<RegistryReport['broker']>;

/** The camera's health: its kind and latest error, with the registry's `camera` section. */
export type CameraReport = { kind: string; last_error: string | null } & NonNullable<RegistryReport['camera']>;

export type TelemetryReport = {
  at: string;
  load_average: [number, number, number];
  thermal_zones: { type: string; temp_c: number }[];
  unavailable: Record<string, string>;
} & NonNullable<RegistryReport['telemetry']>;

export type PrivacyReport = {
  transform: string;
  region_pack: { region: string; gallery_version: string; spots: number; signature: PackSignature } | null;
} & NonNullable<RegistryReport['privacy']>;

/**
 * Counters and gauges come from the registry (status-registry.ts): a new one is declared there and appears here, on
 * /metrics and in `enfpire status`. The rest describes rather than counts.
 */
export type StatusReport = {
  version: string;
  model: string;
  /** The execution provider inference runs on ('cpu', 'cuda', 'tensorrt'); null where the caller did not say. */
  execution_provider: string | null;
  /** The least cosine at which the device names a spot: the profile's resolver.threshold, else the model's own. */
  match_threshold: number | null;
  started_at: string;
  counters: StatusCounters;
  queues: RegistryReport['queues'];
  broker: BrokerReport | null;
  latency_ms: { all: LatencySummary; cached: LatencySummary; queried: LatencySummary } | null;
  telemetry: TelemetryReport | null;
  thermal: RegistryReport['thermal'];
  events: RegistryReport['events'];
  privacy: PrivacyReport | null;
  /** Null where the frame source is not paced (no camera health); absent from daemons older than the registry. */
  camera: CameraReport | null;
} & RegistryReport['root'];

/** One result as /events and /results send it. */
export interface ResultReport {
  at: string;
  label: string | null;
  spot_id: string | null;
  score: number;
  info?: Record<string, unknown>;
  latency_ms?: number;
  from_cache?: boolean;
}

export function buildStatus(
  sources: StatusSources,
  meta: { version: string; model: string; executionProvider?: string; matchThreshold?: number; startedAt: number; now?: number },
  events: { clients: number; dropped_clients: number },
): StatusReport {
  const now = meta.now ?? Date.now();
  const pipeline = sources.pipeline.stats();
  const snapshot: EdgeSnapshot = {
    pipeline,
    camera: pipeline.source.camera ?? null,
    broker: sources.broker?.counters() ?? null,
    telemetry: sources.telemetry?.latest() ?? null,
    thermal: sources.thermal?.state() ?? null,
    privacy: sources.privacy?.privacy() ?? null,
    events,
    uptimeS: Math.round((now - meta.startedAt) / 100) / 10,
  };
  const r = readRegistry(snapshot);
  const { camera, telemetry, privacy } = snapshot;
  return {
    version: meta.version,
    model: meta.model,
    execution_provider: meta.executionProvider ?? null,
    match_threshold: meta.matchThreshold ?? null,
    started_at: new Date(meta.startedAt).toISOString(),
    ...r.root,
    counters: r.counters,
    queues: r.queues,
    broker: r.broker,
    latency_ms: sources.latency?.summary() ?? null,
    telemetry: telemetry && r.telemetry ? telemetryReport(telemetry, r.telemetry) : null,
    thermal: r.thermal,
    events: r.events,
    privacy: privacy && r.privacy ? privacyReport(privacy, r.privacy) : null,
    camera: camera && r.camera ? { kind: camera.kind, ...r.camera, last_error: camera.lastError } : null,
  };
}

function privacyReport(p: PrivacyState, values: NonNullable<RegistryReport['privacy']>): PrivacyReport {
  return {
    transform: p.transform,
    ...values,
    region_pack: p.region
      ? { region: p.region.name, gallery_version: p.region.galleryVersion, spots: p.region.spots, signature: p.region.signature }
      : null,
  };
}

function telemetryReport(t: TelemetrySample, values: NonNullable<RegistryReport['telemetry']>): TelemetryReport {
  return {
    at: new Date(t.at).toISOString(),
    ...values,
    load_average: t.loadAverage,
    thermal_zones: t.thermalZones.map((z) => ({ type: z.type, temp_c: z.tempC })),
    unavailable: t.unavailable,
  };
}

export function resultReport(r: EdgeResult | ResultRecord): ResultReport {
  const report: ResultReport = { at: new Date(r.at).toISOString(), label: r.label ?? null, spot_id: r.spotId, score: r.score };
  if ('latencyMs' in r) {
    if (r.info) report.info = r.info;
    report.latency_ms = r.latencyMs;
    report.from_cache = r.fromCache;
  }
  return report;
}
