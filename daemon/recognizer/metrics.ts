/**
 * The recognizer's Prometheus metrics (served by metrics-server.ts): what a serving operator needs — queries answered
 * and rejected by wire error code, region packs served, reply latency and size, the gallery, the broker connection,
 * process basics.
 *
 * PRIVACY: this is a privacy product, and the recognizer is the honest-but-curious party of the threat model. These
 * metrics are aggregate counts and distributions only. Never add a label or value that tells devices or queries
 * apart: no reply topics or client ids (they name a device's current identity), no correlation data, no spot ids or
 * regions asked for, no per-query records. Labels take values from short lists fixed here, never from the network.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { WIRE_ERROR_CODE_LIST } from '../transport/error-codes.js';
import type { AnswerEvent, RecognizerEndpointCounters } from '../transport/recognizer-endpoint.js';
import { snapshotMetrics } from '../util/snapshot-metrics.js';
import type { SpotIndexKind } from './spot-index.js';

/** What the metrics read at scrape time. */
export interface RecognizerSnapshot {
  /** Absent before the endpoint exists (the listener may answer while the gallery is still loading). */
  endpoint: RecognizerEndpointCounters | undefined;
  model: string;
  galleryVersion: string;
  spots: number;
  index: SpotIndexKind;
  version: string;
  uptimeSeconds: number;
}

/** Outcome labels: 'answered' or a wire error code (transport/error-codes.ts, 'other' last), so labels stay a short list. */
const OUTCOMES: readonly string[] = ['answered', ...WIRE_ERROR_CODE_LIST];

export interface RecognizerMetrics {
  contentType: string;
  /** The exposition text for one scrape. */
  scrape: () => Promise<string>;
  /** The endpoint's onAnswer observer (passed unbound): counts one answer the broker accepted. */
  observe: (answer: AnswerEvent) => void;
}

export function createRecognizerMetrics(read: () => RecognizerSnapshot): RecognizerMetrics {
  const metrics = snapshotMetrics(read);
  const { registers, current, counter, gauge } = metrics;

  const answers = {
    query: new Counter({
      name: 'enfpire_recognizer_queries_total',
      help: "Queries answered ('answered': a reply with candidates) or rejected (outcome: the wire error code sent back).",
      labelNames: ['outcome'] as const,
      registers,
    }),
    region: new Counter({
      name: 'enfpire_recognizer_region_requests_total',
      help: "Region requests: packs served ('answered') or rejected (outcome: the wire error code sent back).",
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
  const latency = new Histogram({
    name: 'enfpire_recognizer_reply_seconds',
    help: "From taking a request off the wire (before decoding) to the broker's acknowledgement of the answer, by request kind.",
    labelNames: ['request'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const candidates = new Histogram({
    name: 'enfpire_recognizer_reply_candidates',
    help: 'Candidates per answered query.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers,
  });
  // Every series exists from the first scrape, so rate() and the dashboard see zeros rather than gaps.
  for (const outcome of OUTCOMES) {
    answers.query.inc({ outcome }, 0);
    answers.region.inc({ outcome }, 0);
  }
  latency.zero({ request: 'query' });
  latency.zero({ request: 'region' });

  counter('enfpire_recognizer_dropped_total', 'Messages dropped unanswered (no valid reply address, or on a wrong topic).', (s) => s.endpoint?.dropped ?? 0);
  gauge('enfpire_recognizer_in_flight', 'Requests being answered now.', (s) => s.endpoint?.inFlight ?? 0);
  gauge('enfpire_recognizer_broker_connected', '1 while connected and subscribed to the broker.', (s) => Number(s.endpoint?.state === 'connected'));
  gauge('enfpire_recognizer_gallery_spots', 'Spots in the gallery being served.', (s) => s.spots);
  gauge('enfpire_recognizer_uptime_seconds', 'Seconds since the recognizer started.', (s) => s.uptimeSeconds);
  gauge('enfpire_recognizer_process_resident_bytes', 'Resident memory of the recognizer process.', () => process.memoryUsage.rss());
  gauge('enfpire_recognizer_process_heap_used_bytes', 'V8 heap in use.', () => process.memoryUsage().heapUsed);
  counter('enfpire_recognizer_process_cpu_seconds_total', 'CPU time of the process, user and system.', () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
  new Gauge({
    name: 'enfpire_recognizer_gallery_info',
    help: 'Model, gallery version and index kind being served (always 1).',
    labelNames: ['model', 'gallery_version', 'index'] as const,
    registers,
    collect() {
      this.reset();
      const s = current();
      this.set({ model: s.model, gallery_version: s.galleryVersion, index: s.index }, 1);
    },
  });
  new Gauge({
    name: 'enfpire_recognizer_build_info',
    help: 'Version of the running recognizer (always 1).',
    labelNames: ['version'] as const,
    registers,
    collect() {
      this.reset();
      this.set({ version: current().version }, 1);
    },
  });

  return {
    contentType: metrics.contentType,
    scrape: metrics.scrape,
    observe(answer) {
      const outcome = OUTCOMES.includes(answer.outcome) ? answer.outcome : 'other';
      answers[answer.request].inc({ outcome });
      latency.observe({ request: answer.request }, answer.seconds);
      if (answer.request === 'query' && outcome === 'answered') candidates.observe(answer.items);
    },
  };
}
