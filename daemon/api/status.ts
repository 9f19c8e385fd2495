/**
 * The JSON the local API serves and `enfpire status --json` prints. Keys are snake_case like the other
 * machine-readable output of the CLI (DESIGN §9); this shape is a contract for scripts, extend it, don't rename.
 */
import type { EdgeResult } from '../edge/edge-daemon.js';
import type { ResultRecord } from '../gallery/types.js';
import type { LatencySummary } from '../health/latency.js';
import type { TelemetrySample } from '../health/telemetry.js';
import type { ClientState } from '../transport/recognition-client.js';
import type { PackSignature, PrivacyState, StatusSources } from './sources.js';

export interface StatusCounters {
  frames: number;
  frames_dropped: number;
  /** Frames the scene gate skipped as unchanged. */
  frames_gated: number;
  extracted: number;
  real_queries: number;
  dummy_queries: number;
  results: number;
  cache_hits: number;
  unknown: number;
  errors: number;
  superseded: number;
  /** Frames that matched no spot of the region pack: answered "unknown" on the device, never sent. */
  frames_off_gallery: number;
  /** Queries that failed on the wire (timeout, error reply, broker away). */
  failed_queries: number;
  /** Real frames sent again, freshly built, in a later slot after their request failed. */
  frames_retried: number;
  /** Real frames whose every attempt failed: no result (also counted in errors). */
  frames_failed: number;
}

export interface BrokerReport {
  state: ClientState;
  sent: number;
  received: number;
  dropped: number;
  /** Of dropped: answers refused for a missing, unknown or invalid operator signature. */
  unauthenticated: number;
  timeouts: number;
  pending: number;
  bytes_out: number;
  bytes_in: number;
}

export interface TelemetryReport {
  at: string;
  cpu_temperature_c: number | null;
  cpu_percent: number | null;
  load_average: [number, number, number];
  memory_total_bytes: number | null;
  memory_available_bytes: number | null;
  process_rss_bytes: number;
  thermal_zones: { type: string; temp_c: number }[];
  throttled_now: boolean | null;
  throttled_since_boot: boolean | null;
  under_voltage_now: boolean | null;
  unavailable: Record<string, string>;
}

export interface StatusReport {
  version: string;
  model: string;
  started_at: string;
  uptime_s: number;
  counters: StatusCounters;
  queues: { scheduler: number; broker_pending: number | null };
  broker: BrokerReport | null;
  latency_ms: { all: LatencySummary; cached: LatencySummary; queried: LatencySummary } | null;
  telemetry: TelemetryReport | null;
  thermal: { target_fps: number; base_fps: number; throttled: boolean; temperature_c: number | null } | null;
  events: { clients: number; dropped_clients: number };
  privacy: PrivacyReport | null;
}

export interface PrivacyReport {
  transform: string;
  k: number;
  identity_age_s: number | null;
  identity_rotations: number;
  region_pack: { region: string; gallery_version: string; spots: number; signature: PackSignature } | null;
}

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
  meta: { version: string; model: string; startedAt: number; now?: number },
  events: { clients: number; dropped_clients: number },
): StatusReport {
  const now = meta.now ?? Date.now();
  const s = sources.pipeline.stats();
  const broker = sources.broker?.counters();
  const telemetry = sources.telemetry?.latest() ?? null;
  const thermal = sources.thermal?.state();
  return {
    version: meta.version,
    model: meta.model,
    started_at: new Date(meta.startedAt).toISOString(),
    uptime_s: Math.round((now - meta.startedAt) / 100) / 10,
    counters: {
      frames: s.frames,
      frames_dropped: s.source.dropped,
      frames_gated: s.gated,
      extracted: s.extracted,
      real_queries: s.realQueries,
      dummy_queries: s.dummyQueries,
      results: s.results,
      cache_hits: s.cacheHits,
      unknown: s.unknown,
      errors: s.errors,
      superseded: s.superseded,
      frames_off_gallery: s.offGallery,
      failed_queries: s.failedQueries,
      frames_retried: s.retried,
      frames_failed: s.failedFrames,
    },
    queues: { scheduler: s.queueDepth, broker_pending: broker?.pending ?? null },
    broker: broker
      ? {
          state: broker.state,
          sent: broker.sent,
          received: broker.received,
          dropped: broker.dropped,
          unauthenticated: broker.unauthenticated,
          timeouts: broker.timeouts,
          pending: broker.pending,
          bytes_out: broker.bytesOut,
          bytes_in: broker.bytesIn,
        }
      : null,
    latency_ms: sources.latency?.summary() ?? null,
    telemetry: telemetry ? telemetryReport(telemetry) : null,
    thermal: thermal
      ? { target_fps: thermal.targetFps, base_fps: thermal.baseFps, throttled: thermal.throttled, temperature_c: thermal.temperatureC }
      : null,
    events,
    privacy: sources.privacy ? privacyReport(sources.privacy.privacy()) : null,
  };
}

function privacyReport(p: PrivacyState): PrivacyReport {
  return {
    transform: p.transform,
    k: p.k,
    identity_age_s: p.identityAgeMs === null ? null : Math.round(p.identityAgeMs / 1000),
    identity_rotations: p.identityRotations,
    region_pack: p.region
      ? { region: p.region.name, gallery_version: p.region.galleryVersion, spots: p.region.spots, signature: p.region.signature }
      : null,
  };
}

function telemetryReport(t: TelemetrySample): TelemetryReport {
  return {
    at: new Date(t.at).toISOString(),
    cpu_temperature_c: t.cpuTemperatureC,
    cpu_percent: t.cpuPercent,
    load_average: t.loadAverage,
    memory_total_bytes: t.memory?.totalBytes ?? null,
    memory_available_bytes: t.memory?.availableBytes ?? null,
    process_rss_bytes: t.processRssBytes,
    thermal_zones: t.thermalZones.map((z) => ({ type: z.type, temp_c: z.tempC })),
    throttled_now: t.throttling ? t.throttling.now.throttled || t.throttling.now.frequencyCapped : null,
    throttled_since_boot: t.throttling ? t.throttling.sinceBoot.throttled || t.throttling.sinceBoot.frequencyCapped : null,
    under_voltage_now: t.throttling?.now.underVoltage ?? null,
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
