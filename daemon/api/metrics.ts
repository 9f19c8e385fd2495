import { Counter, Gauge, type Registry } from 'prom-client';
import { snapshotMetrics } from '../util/snapshot-metrics.js';
import type { StatusReport } from './status.js';

/**
 * Prometheus metrics built from the same status report as /status (one report per scrape), in a registry of this API
 * instance (daemon/util/snapshot-metrics.ts). Values are read at scrape time.
 */
export interface ApiMetrics {
  registry: Registry;
  contentType: string;
  /** The exposition text for one scrape. */
  scrape(): Promise<string>;
}

export function createApiMetrics(status: () => StatusReport): ApiMetrics {
  const metrics = snapshotMetrics(status);
  const { registers, current, counter, gauge } = metrics;

  counter('enfpire_frames_total', 'Frames taken from the camera.', (r) => r.counters.frames);
  counter('enfpire_frames_dropped_total', 'Frames the camera overwrote before the pipeline took them.', (r) => r.counters.frames_dropped);
  counter('enfpire_frames_gated_total', 'Frames the scene gate skipped as unchanged.', (r) => r.counters.frames_gated);
  counter('enfpire_extracted_total', 'Features extracted.', (r) => r.counters.extracted);
  counter('enfpire_results_total', 'Recognition results.', (r) => r.counters.results);
  counter('enfpire_cache_hits_total', 'Results answered from the on-device gallery without a query.', (r) => r.counters.cache_hits);
  counter('enfpire_unknown_results_total', 'Results with no spot above the threshold.', (r) => r.counters.unknown);
  counter('enfpire_errors_total', 'Frames that failed in the pipeline.', (r) => r.counters.errors);
  counter('enfpire_frames_off_gallery_total', 'Frames that matched no spot of the region pack and never became a query.', (r) => r.counters.frames_off_gallery);
  counter('enfpire_failed_queries_total', 'Queries that failed on the wire (timeout, error reply, broker away).', (r) => r.counters.failed_queries);
  counter('enfpire_frames_retried_total', 'Real frames sent again, freshly built, in a later slot after their request failed.', (r) => r.counters.frames_retried);
  counter('enfpire_frames_failed_total', 'Real frames whose every attempt failed: no result.', (r) => r.counters.frames_failed);
  new Counter({
    name: 'enfpire_queries_total',
    help: 'Queries sent to the recognizer, real and dummy (cover traffic).',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ kind: 'real' }, current().counters.real_queries);
      this.inc({ kind: 'dummy' }, current().counters.dummy_queries);
    },
  });
  gauge('enfpire_scheduler_queue_depth', 'Real queries waiting for a scheduler slot.', (r) => r.queues.scheduler);
  gauge('enfpire_broker_pending', 'Requests waiting for a reply from the recognizer.', (r) => r.queues.broker_pending);
  gauge('enfpire_broker_connected', '1 while connected to the recognition broker.', (r) =>
    r.broker ? Number(r.broker.state === 'connected') : null,
  );
  gauge('enfpire_broker_timeouts', 'Requests that got no reply in time.', (r) => r.broker?.timeouts ?? null);
  gauge(
    'enfpire_broker_unauthenticated',
    'Answers and announcements refused for a missing, unknown or invalid operator signature.',
    (r) => r.broker?.unauthenticated ?? null,
  );
  new Gauge({
    name: 'enfpire_result_latency_ms',
    help: 'Frame capture to result latency over the recent window, by path (cache or query).',
    labelNames: ['path', 'quantile'] as const,
    registers,
    collect() {
      this.reset();
      const latency = current().latency_ms;
      if (!latency) return;
      for (const path of ['all', 'cached', 'queried'] as const) {
        for (const [quantile, key] of [['0.5', 'p50'], ['0.95', 'p95'], ['0.99', 'p99']] as const) {
          const v = latency[path][key];
          if (v !== null) this.set({ path, quantile }, v);
        }
      }
    },
  });
  gauge('enfpire_cpu_temperature_celsius', 'CPU temperature.', (r) => r.telemetry?.cpu_temperature_c ?? null);
  gauge('enfpire_cpu_percent', 'Whole-machine CPU use.', (r) => r.telemetry?.cpu_percent ?? null);
  gauge('enfpire_memory_available_bytes', 'Memory available to new work.', (r) => r.telemetry?.memory_available_bytes ?? null);
  gauge('enfpire_process_resident_bytes', 'Resident memory of the daemon.', (r) => r.telemetry?.process_rss_bytes ?? null);
  gauge('enfpire_throttled', '1 while the firmware throttles or caps the CPU.', (r) => {
    const now = r.telemetry?.throttled_now;
    return now === undefined || now === null ? null : Number(now);
  });
  gauge('enfpire_target_fps', 'Processing frame rate set by the thermal governor.', (r) => r.thermal?.target_fps ?? null);
  gauge('enfpire_privacy_k', 'Anonymity set size k of the privacy transform.', (r) => r.privacy?.k ?? null);
  gauge('enfpire_identity_age_seconds', 'Age of the current broker identity (random client id and reply topic).', (r) => r.privacy?.identity_age_s ?? null);
  counter('enfpire_identity_rotations_total', 'Broker identity changes since start.', (r) => r.privacy?.identity_rotations ?? 0);
  gauge('enfpire_uptime_seconds', 'Seconds since the daemon started.', (r) => r.uptime_s);
  gauge('enfpire_event_clients', 'Clients connected to /events.', (r) => r.events.clients);
  new Gauge({
    name: 'enfpire_build_info',
    help: 'Version and model of the running daemon (always 1).',
    labelNames: ['version', 'model'] as const,
    registers,
    collect() {
      this.reset();
      this.set({ version: current().version, model: current().model }, 1);
    },
  });

  return { registry: metrics.registry, contentType: metrics.contentType, scrape: metrics.scrape };
}
