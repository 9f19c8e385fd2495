import { Counter, Gauge, Registry } from 'prom-client';

/**
 * Prometheus metrics read from one snapshot per scrape, in a registry of their own (never prom-client's global one,
 * so two services in one process or one test file do not mix). Shared by the edge's local API (daemon/api/metrics.ts)
 * and the recognizer's metrics listener (daemon/recognizer/metrics.ts). Its functions use no `this`: they may be
 * passed around unbound.
 */
export interface SnapshotMetrics<S> {
  registry: Registry;
  /** For metrics built by hand (labels, histograms): `registers` of their configuration. */
  registers: Registry[];
  contentType: string;
  /** The snapshot of the scrape in progress: every collect() of one scrape reads the same one. */
  current: () => S;
  /** A counter whose value is read from the snapshot (a running total kept elsewhere). */
  counter: (name: string, help: string, value: (s: S) => number) => void;
  /** A gauge read from the snapshot; null means "no reading". */
  gauge: (name: string, help: string, value: (s: S) => number | null) => void;
  /** The exposition text for one scrape. */
  scrape: () => Promise<string>;
}

export function snapshotMetrics<S>(read: () => S): SnapshotMetrics<S> {
  const registry = new Registry();
  const registers = [registry];
  let snapshot: S | undefined;
  const current = (): S => (snapshot ??= read());
  return {
    registry,
    registers,
    contentType: registry.contentType,
    current,
    counter(name, help, value) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(current()));
        },
      });
    },
    gauge(name, help, value) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          // An unlabelled prom-client gauge cannot be absent; NaN (written "Nan", which Prometheus parses) says "no
          // reading" where 0 would be a false value.
          this.set(value(current()) ?? Number.NaN);
        },
      });
    },
    async scrape() {
      snapshot = undefined;
      try {
        return await registry.metrics();
      } finally {
        snapshot = undefined;
      }
    },
  };
}
