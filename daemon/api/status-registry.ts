/**
 * Every counter and gauge of the edge daemon, declared once: where `/status` puts it (a section of the report and a
 * key in it), how it is read from the running edge, its Prometheus series on `/metrics` and its place in the summary
 * `enfpire status` prints. status.ts builds the report from this table, metrics.ts and cli/status-command.ts read the
 * report back through it; test/api/status-registry.test.ts holds that every entry shows in all three.
 *
 * Outside the table, because they are neither counters nor gauges: version, model and start time (`enfpire_build_info`),
 * the latency window's percentiles (`latency_ms`, `enfpire_result_latency_ms`), and descriptive fields (the camera's
 * kind and last error, telemetry's load averages, thermal zones and missing readings, the privacy transform and region
 * pack).
 */
import type { CameraHealth } from '../health/paced-source.js';
import type { TelemetrySample } from '../health/telemetry.js';
import type { RecognitionClientCounters } from '../transport/recognition-client.js';
import type { PipelineStats, PrivacyState, ThermalStatus } from './sources.js';

/** What the running edge says at one moment: everything a report is read from. */
export interface EdgeSnapshot {
  pipeline: PipelineStats;
  /** The paced source's health, carried by the pipeline's stats (null for a source that is not paced). */
  camera: CameraHealth | null;
  broker: RecognitionClientCounters | null;
  telemetry: TelemetrySample | null;
  thermal: ReturnType<ThermalStatus['state']> | null;
  privacy: PrivacyState | null;
  events: { clients: number; dropped_clients: number };
  uptimeS: number;
}

export type StatusValue = number | boolean | string | null;

/** The lines of `enfpire status`, in the order cli/status-command.ts lays them out. */
export type SummaryLine =
  | 'header'
  | 'broker'
  | 'requests'
  | 'frames'
  | 'skipped'
  | 'results'
  | 'queries'
  | 'latency'
  | 'camera'
  | 'device'
  | 'memory'
  | 'thermal'
  | 'privacy'
  | 'api';

export interface MetricSpec {
  /** Prometheus name; entries of one family share it and tell their series apart by `labels`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels?: Record<string, string>;
  /** The sample where it is not the status value itself (a state); booleans are 1 or 0, null is "no reading". */
  value?(this: void, v: StatusValue): number | null;
}

export interface SummarySpec {
  line: SummaryLine;
  /** The fragment, '#' standing for the value. */
  text: string;
  /** Writes the value (default: integers as they are, other numbers to 1 decimal, booleans yes/no, null n/a). */
  format?(this: void, v: StatusValue): string;
  /** The path of the entry this one is shown after, in brackets: `frames 7 (dropped 2)`. */
  under?: string;
}

/**
 * One reading: where it comes from, its series and its fragment of the summary; or a key of /status that shows another
 * entry's reading again (`repeats` is that entry's path), whose series and fragment serve both.
 */
export type StatusEntry<In> =
  | { read(this: void, from: In): StatusValue; metric: MetricSpec; summary: SummarySpec }
  | { read(this: void, from: In): StatusValue; repeats: string };

export interface StatusSection<In, E> {
  /** The part of the snapshot the section's entries read; null leaves the section null in /status. */
  from(this: void, snapshot: EdgeSnapshot): In;
  entries: E;
}

/** A section's values as /status sends them. */
export type SectionValues<E> = { [K in keyof E]: E[K] extends { read(from: never): infer V } ? V : never };
type SectionReport<S> = S extends StatusSection<infer In, infer E> ? (null extends In ? SectionValues<E> | null : SectionValues<E>) : never;

function section<In>(from: (snapshot: EdgeSnapshot) => In) {
  return <E extends Record<string, StatusEntry<NonNullable<In>>>>(entries: E): StatusSection<In, E> => ({ from, entries });
}

const counter = (name: string, help: string, labels?: Record<string, string>): MetricSpec => ({ name, help, type: 'counter', ...(labels ? { labels } : {}) });
const gauge = (name: string, help: string, value?: (v: StatusValue) => number | null): MetricSpec => ({ name, help, type: 'gauge', ...(value ? { value } : {}) });
const show = (line: SummaryLine, text: string, more: Omit<SummarySpec, 'line' | 'text'> = {}): SummarySpec => ({ line, text, ...more });

const decimals = (digits: number) => (v: StatusValue) => (typeof v === 'number' ? v.toFixed(digits) : plain(v));
const megabytes = (v: StatusValue): string => (typeof v === 'number' ? `${Math.round(v / 1e6)} MB` : plain(v));

/**
 * The table. Sections and keys are those of /status (a contract for scripts: extend it, don't rename); `root` is the
 * report's top level. Entries keep the order /status has sent them in (but for broker's timeouts, now before
 * unauthenticated as the summary shows them).
 */
export const STATUS_REGISTRY = {
  root: section((s) => s)({
    uptime_s: {
      read: (s) => s.uptimeS,
      metric: gauge('enfpire_uptime_seconds', 'Seconds since the daemon started.'),
      summary: show('header', 'up #', { format: duration }),
    },
  }),
  counters: section((s) => s.pipeline)({
    frames: {
      read: (p) => p.frames,
      metric: counter('enfpire_frames_total', 'Frames taken from the camera.'),
      summary: show('frames', '#'),
    },
    frames_dropped: {
      read: (p) => p.source.dropped,
      metric: counter('enfpire_frames_dropped_total', 'Frames the camera overwrote before the pipeline took them.'),
      summary: show('frames', 'dropped #', { under: 'counters.frames' }),
    },
    frames_gated: {
      read: (p) => p.gated,
      metric: counter('enfpire_frames_gated_total', 'Frames the scene gate skipped as unchanged.'),
      summary: show('skipped', 'gated #'),
    },
    extracted: {
      read: (p) => p.extracted,
      metric: counter('enfpire_extracted_total', 'Features extracted.'),
      summary: show('frames', 'extracted #'),
    },
    real_queries: {
      read: (p) => p.realQueries,
      metric: counter('enfpire_queries_total', 'Queries sent to the recognizer, real and dummy (cover traffic).', { kind: 'real' }),
      summary: show('queries', '# real'),
    },
    dummy_queries: {
      read: (p) => p.dummyQueries,
      metric: counter('enfpire_queries_total', 'Queries sent to the recognizer, real and dummy (cover traffic).', { kind: 'dummy' }),
      summary: show('queries', '# dummy'),
    },
    results: {
      read: (p) => p.results,
      metric: counter('enfpire_results_total', 'Recognition results.'),
      summary: show('results', '#'),
    },
    cache_hits: {
      read: (p) => p.cacheHits,
      metric: counter('enfpire_cache_hits_total', 'Results answered from the on-device gallery without a query.'),
      summary: show('results', 'from cache #', { under: 'counters.results' }),
    },
    unknown: {
      read: (p) => p.unknown,
      metric: counter('enfpire_unknown_results_total', 'Results with no spot above the threshold.'),
      summary: show('results', 'unknown #', { under: 'counters.results' }),
    },
    errors: {
      read: (p) => p.errors,
      metric: counter('enfpire_errors_total', 'Frames that failed in the pipeline.'),
      summary: show('frames', 'errors #'),
    },
    superseded: {
      read: (p) => p.superseded,
      metric: counter('enfpire_superseded_queries_total', 'Real queries replaced by a newer frame while they waited for their slot.'),
      summary: show('requests', 'superseded #'),
    },
    frames_off_gallery: {
      read: (p) => p.offGallery,
      metric: counter('enfpire_frames_off_gallery_total', 'Frames that matched no spot of the region pack and never became a query.'),
      summary: show('skipped', 'off gallery #'),
    },
    frames_held_back: {
      read: (p) => p.heldBack,
      metric: counter('enfpire_frames_held_back_total', 'Frames of a spot not yet on the wire (privacy.transform.arrival deferred): named from the region pack, never sent.'),
      summary: show('skipped', 'held back #'),
    },
    failed_queries: {
      read: (p) => p.failedQueries,
      metric: counter('enfpire_failed_queries_total', 'Queries that failed on the wire (timeout, error reply, broker away).'),
      summary: show('requests', 'failed #'),
    },
    frames_retried: {
      read: (p) => p.retried,
      metric: counter('enfpire_frames_retried_total', 'Real frames sent again, freshly built, in a later slot after their request failed or went unanswered for transport.hedgeAfterMs.'),
      summary: show('frames', 'retried #', { under: 'counters.errors' }),
    },
    frames_failed: {
      read: (p) => p.failedFrames,
      metric: counter('enfpire_frames_failed_total', 'Real frames whose every attempt failed: no result.'),
      summary: show('frames', 'failed #', { under: 'counters.errors' }),
    },
  }),
  queues: section((s) => s)({
    scheduler: {
      read: (s) => s.pipeline.queueDepth,
      metric: gauge('enfpire_scheduler_queue_depth', 'Real queries waiting for a scheduler slot.'),
      summary: show('queries', '# waiting'),
    },
    broker_pending: {
      read: (s) => s.broker?.pending ?? null,
      metric: gauge('enfpire_broker_pending', 'Requests waiting for a reply from the recognizer.'),
      summary: show('requests', 'awaiting reply #'),
    },
  }),
  camera: section((s) => s.camera)({
    running: {
      read: (c) => c.running,
      metric: gauge('enfpire_camera_up', '1 while the camera runs (for the streaming kinds: its capture program).'),
      summary: show('camera', '#', { format: (v) => (v ? 'running' : 'NOT RUNNING') }),
    },
    delivered_fps: {
      read: (c) => c.deliveredFps,
      metric: gauge('enfpire_camera_delivered_fps', 'Frames per second the camera handed to the pipeline, over the last 10 s.'),
      summary: show('camera', '# fps delivered'),
    },
    dropped_fps: {
      read: (c) => c.droppedFps,
      metric: gauge('enfpire_camera_dropped_fps', 'Frames per second the camera overwrote before the pipeline took them, over the last 10 s.'),
      summary: show('camera', '# fps dropped'),
    },
    restarts: {
      read: (c) => c.restarts,
      metric: counter('enfpire_camera_restarts_total', 'Capture program restarts after the first start (it died, could not start or stalled).'),
      summary: show('camera', 'restarts #'),
    },
    stalls: {
      read: (c) => c.stalls,
      metric: counter('enfpire_camera_stalls_total', 'Times the camera sent no frame for camera.stallSeconds (each restarts the capture program).'),
      summary: show('camera', 'stalls #'),
    },
    stalled: {
      read: (c) => c.stalled,
      metric: gauge('enfpire_camera_stalled', '1 while the camera has sent no frame for camera.stallSeconds.'),
      summary: show('camera', 'stalled now #', { under: 'camera.stalls' }),
    },
    bad_frames: {
      read: (c) => c.badFrames,
      metric: counter('enfpire_camera_bad_frames_total', 'Camera output that was not a whole frame (truncated or over-long), or stills that failed.'),
      summary: show('camera', 'bad frames #'),
    },
  }),
  broker: section((s) => s.broker)({
    state: {
      read: (b) => b.state,
      metric: gauge('enfpire_broker_connected', '1 while connected to the recognition broker.', (v) => Number(v === 'connected')),
      summary: show('broker', '#'),
    },
    sent: {
      read: (b) => b.sent,
      metric: counter('enfpire_broker_sent_total', 'Requests sent to the recognizer through the broker.'),
      summary: show('broker', 'sent #', { under: 'broker.state' }),
    },
    received: {
      read: (b) => b.received,
      metric: counter('enfpire_broker_received_total', 'Messages received from the recognizer through the broker.'),
      summary: show('broker', 'received #', { under: 'broker.state' }),
    },
    dropped: {
      read: (b) => b.dropped,
      metric: counter('enfpire_broker_dropped_total', 'Messages from the broker refused (undecodable, unexpected, unauthenticated).'),
      summary: show('requests', 'replies dropped #'),
    },
    timeouts: {
      read: (b) => b.timeouts,
      metric: gauge('enfpire_broker_timeouts', 'Requests that got no reply in time.'),
      summary: show('broker', 'timeouts #', { under: 'broker.state' }),
    },
    unauthenticated: {
      read: (b) => b.unauthenticated,
      metric: gauge('enfpire_broker_unauthenticated', 'Answers and announcements refused for a missing, unknown or invalid operator signature.'),
      summary: show('broker', 'unauthenticated #', { under: 'broker.state' }),
    },
    pending: { read: (b) => b.pending, repeats: 'queues.broker_pending' },
    bytes_out: {
      read: (b) => b.bytesOut,
      metric: counter('enfpire_broker_sent_bytes_total', 'Bytes of the requests sent to the broker.'),
      summary: show('requests', '# B out'),
    },
    bytes_in: {
      read: (b) => b.bytesIn,
      metric: counter('enfpire_broker_received_bytes_total', 'Bytes of the messages received from the broker.'),
      summary: show('requests', '# B in'),
    },
  }),
  telemetry: section((s) => s.telemetry)({
    cpu_temperature_c: {
      read: (t) => t.cpuTemperatureC,
      metric: gauge('enfpire_cpu_temperature_celsius', 'CPU temperature.'),
      summary: show('device', '# °C', { format: decimals(1) }),
    },
    cpu_percent: {
      read: (t) => t.cpuPercent,
      metric: gauge('enfpire_cpu_percent', 'Whole-machine CPU use.'),
      summary: show('device', 'cpu #%', { format: decimals(0) }),
    },
    memory_total_bytes: {
      read: (t) => t.memory?.totalBytes ?? null,
      metric: gauge('enfpire_memory_total_bytes', 'Memory of the machine.'),
      summary: show('memory', '# total', { format: megabytes }),
    },
    memory_available_bytes: {
      read: (t) => t.memory?.availableBytes ?? null,
      metric: gauge('enfpire_memory_available_bytes', 'Memory available to new work.'),
      summary: show('memory', '# available', { format: megabytes }),
    },
    process_rss_bytes: {
      read: (t) => t.processRssBytes,
      metric: gauge('enfpire_process_resident_bytes', 'Resident memory of the daemon.'),
      summary: show('memory', 'daemon #', { format: megabytes }),
    },
    throttled_now: {
      read: (t) => (t.throttling ? t.throttling.now.throttled || t.throttling.now.frequencyCapped : null),
      metric: gauge('enfpire_throttled', '1 while the firmware throttles or caps the CPU.'),
      summary: show('device', 'throttled #'),
    },
    throttled_since_boot: {
      read: (t) => (t.throttling ? t.throttling.sinceBoot.throttled || t.throttling.sinceBoot.frequencyCapped : null),
      metric: gauge('enfpire_throttled_since_boot', '1 if the firmware throttled or capped the CPU since boot.'),
      summary: show('device', 'since boot #', { under: 'telemetry.throttled_now' }),
    },
    under_voltage_now: {
      read: (t) => t.throttling?.now.underVoltage ?? null,
      metric: gauge('enfpire_under_voltage', '1 while the firmware reports under-voltage (a weak power supply).'),
      summary: show('device', 'under-voltage #'),
    },
  }),
  thermal: section((s) => s.thermal)({
    target_fps: {
      read: (t) => t.targetFps,
      metric: gauge('enfpire_target_fps', 'Processing frame rate set by the thermal governor.'),
      summary: show('thermal', 'target # fps', { format: decimals(2) }),
    },
    base_fps: {
      read: (t) => t.baseFps,
      metric: gauge('enfpire_base_fps', 'Frame rate the thermal governor allows when cool (camera.fps).'),
      summary: show('thermal', 'of #', { under: 'thermal.target_fps' }),
    },
    throttled: {
      read: (t) => t.throttled,
      metric: gauge('enfpire_thermal_throttled', '1 while the thermal governor holds the frame rate below camera.fps.'),
      summary: show('thermal', 'frame rate lowered #'),
    },
    temperature_c: {
      read: (t) => t.temperatureC,
      metric: gauge('enfpire_thermal_temperature_celsius', 'Temperature the thermal governor last acted on.'),
      summary: show('thermal', 'at # °C', { format: decimals(1) }),
    },
  }),
  events: section((s) => s.events)({
    clients: {
      read: (e) => e.clients,
      metric: gauge('enfpire_event_clients', 'Clients connected to /events.'),
      summary: show('api', 'events clients #'),
    },
    dropped_clients: {
      read: (e) => e.dropped_clients,
      metric: counter('enfpire_event_clients_dropped_total', '/events clients dropped for reading too slowly.'),
      summary: show('api', 'dropped #', { under: 'events.clients' }),
    },
  }),
  privacy: section((s) => s.privacy)({
    k: {
      read: (p) => p.k,
      metric: gauge('enfpire_privacy_k', 'Anonymity set size k of the privacy transform.'),
      summary: show('privacy', 'k #'),
    },
    identity_age_s: {
      read: (p) => (p.identityAgeMs === null ? null : Math.round(p.identityAgeMs / 1000)),
      metric: gauge('enfpire_identity_age_seconds', 'Age of the current broker identity (random client id and reply topic).'),
      summary: show('privacy', 'identity age #', { format: duration }),
    },
    identity_rotations: {
      read: (p) => p.identityRotations,
      metric: counter('enfpire_identity_rotations_total', 'Broker identity changes since start.'),
      summary: show('privacy', 'rotations #', { under: 'privacy.identity_age_s' }),
    },
  }),
};

export type StatusRegistry = typeof STATUS_REGISTRY;
export type SectionName = keyof StatusRegistry;
/** What /status sends for each section of the table (null where its source is absent). */
export type RegistryReport = { [S in SectionName]: SectionReport<StatusRegistry[S]> };

/** One entry of the table with its place, repeats resolved to the entry they repeat. */
export interface RegisteredEntry {
  /** 'counters.frames'; a key of the top level alone: 'uptime_s'. */
  path: string;
  section: SectionName;
  key: string;
  metric: MetricSpec;
  summary: SummarySpec;
  /** The path of the entry whose series and fragment this one shares. */
  repeats?: string;
}

function pathOf(section: SectionName, key: string): string {
  return section === 'root' ? key : `${section}.${key}`;
}

function flatten(): RegisteredEntry[] {
  const raw = (Object.entries(STATUS_REGISTRY) as [SectionName, StatusSection<unknown, Record<string, StatusEntry<never>>>][]).flatMap(
    ([section, { entries }]) => Object.entries(entries).map(([key, entry]) => ({ section, key, path: pathOf(section, key), entry })),
  );
  const byPath = new Map(raw.map((r) => [r.path, r.entry]));
  return raw.map(({ section, key, path, entry }) => {
    const shown = 'repeats' in entry ? byPath.get(entry.repeats) : entry;
    if (!shown || 'repeats' in shown) throw new Error(`status registry: ${path} repeats an entry that is not one of its own`);
    return { path, section, key, metric: shown.metric, summary: shown.summary, ...('repeats' in entry ? { repeats: entry.repeats } : {}) };
  });
}

/** The table as a list, in its order. */
export const STATUS_ENTRIES: readonly RegisteredEntry[] = flatten();

/** Reads every section of the table from one snapshot. */
export function readRegistry(snapshot: EdgeSnapshot): RegistryReport {
  const report: Record<string, Record<string, StatusValue> | null> = {};
  for (const [name, { from, entries }] of Object.entries(STATUS_REGISTRY) as [string, StatusSection<unknown, Record<string, StatusEntry<unknown>>>][]) {
    const input = from(snapshot);
    report[name] = input === null || input === undefined ? null : Object.fromEntries(Object.entries(entries).map(([key, e]) => [key, e.read(input)]));
  }
  return report as RegistryReport;
}

/** An entry's value in a /status report (as built, or as parsed from JSON); undefined where its section is null. */
export function statusValue(report: object, entry: RegisteredEntry): StatusValue | undefined {
  const container = entry.section === 'root' ? report : (report as Record<string, unknown>)[entry.section];
  if (container === null || typeof container !== 'object') return undefined;
  return (container as Record<string, StatusValue>)[entry.key];
}

/** The Prometheus sample of a status value; null is "no reading". */
export function metricValue(entry: RegisteredEntry, value: StatusValue | undefined): number | null {
  if (value === undefined || value === null) return null;
  if (entry.metric.value) return entry.metric.value(value);
  return typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : null;
}

/** An entry's fragment of the `enfpire status` summary. */
export function summaryText(entry: RegisteredEntry, value: StatusValue): string {
  const { text, format = plain } = entry.summary;
  return text.replace('#', format(value));
}

function plain(v: StatusValue): string {
  if (v === null) return 'n/a';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(1);
  return v;
}

/** 3725 → '1h 02m'; 75 → '1m 15s'; 9 → '9s'. */
export function duration(value: StatusValue): string {
  if (typeof value !== 'number') return plain(value);
  const s = Math.floor(value);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
