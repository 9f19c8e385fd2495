import { Counter, Gauge, type Registry } from 'prom-client';
import { snapshotMetrics } from '../util/snapshot-metrics.js';
import type { StatusReport } from './status.js';
import { metricValue, STATUS_ENTRIES, statusValue, type RegisteredEntry } from './status-registry.js';

/**
 * Prometheus metrics built from the same status report as /status (one report per scrape), in a registry of this API
 * instance (daemon/util/snapshot-metrics.ts). Values are read at scrape time. The series are those of the status
 * registry (status-registry.ts): nothing is listed here but the two families outside it.
 */
export interface ApiMetrics {
  registry: Registry;
  contentType: string;
  /** The exposition text for one scrape. */
  scrape(): Promise<string>;
}

export function createApiMetrics(status: () => StatusReport): ApiMetrics {
  const metrics = snapshotMetrics(status);
  const { registers, current } = metrics;

  // The registry's series, one family per name (entries that repeat another's reading have none of their own).
  const families = new Map<string, RegisteredEntry[]>();
  for (const entry of STATUS_ENTRIES) {
    if (entry.repeats) continue;
    families.set(entry.metric.name, [...(families.get(entry.metric.name) ?? []), entry]);
  }
  for (const [name, entries] of families) {
    const { help, type } = entries[0].metric;
    const read = (entry: RegisteredEntry): number | null => metricValue(entry, statusValue(current(), entry));
    if (!entries[0].metric.labels) {
      if (type === 'counter') metrics.counter(name, help, () => read(entries[0]) ?? 0);
      else metrics.gauge(name, help, () => read(entries[0]));
      continue;
    }
    const labelNames = [...new Set(entries.flatMap((e) => Object.keys(e.metric.labels ?? {})))];
    /** Sets each entry's labelled series; an entry with no reading has none. */
    const fill = (set: (labels: Record<string, string>, value: number) => void): void => {
      for (const entry of entries) {
        const value = read(entry);
        if (value !== null) set(entry.metric.labels ?? {}, value);
      }
    };
    const options = { name, help, labelNames, registers };
    if (type === 'counter') new Counter({ ...options, collect() { this.reset(); fill((labels, value) => this.inc(labels, value)); } });
    else new Gauge({ ...options, collect() { this.reset(); fill((labels, value) => this.set(labels, value)); } });
  }

  // Outside the registry (status-registry.ts says why): the latency window and the build.
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
  new Gauge({
    name: 'enfpire_build_info',
    help: 'Version, model and execution provider of the running daemon (always 1).',
    labelNames: ['version', 'model', 'provider'] as const,
    registers,
    collect() {
      this.reset();
      const r = current();
      this.set({ version: r.version, model: r.model, provider: r.execution_provider ?? 'unknown' }, 1);
    },
  });

  return { registry: metrics.registry, contentType: metrics.contentType, scrape: metrics.scrape };
}
