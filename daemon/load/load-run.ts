/**
 * `enfpire load` (DESIGN §9, issue #12): many simulated devices through a real broker against K recognizers of one
 * shared-subscription group. Each device is its own MQTT connection through the real RecognitionClient (random client
 * id, reply topic named after it), sends at absolute slot times from a random phase, and its queries are built ahead
 * by the real privacy transform (queries.ts). The recognizers are the shipped RecognizerService, each in its own
 * process (soak/child.ts), on a private Mosquitto (soak/mosquitto.ts) unless a broker URL is given. With `roll`, a new
 * gallery edition is rolled through the group half-way: each recognizer in turn is replaced by one serving the new
 * edition, and every reply is checked against the gallery version it names.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { percentile, round } from '../util/stats.js';
import { schemaDefault } from '../config/load.js';
import { seededRandom } from '../util/random.js';
import { HnswIndex, defaultIndexOptions, hnswCacheFile, type SpotIndexKind } from '../recognizer/spot-index.js';
import { SoakChild } from '../soak/child.js';
import { startMosquitto, type Mosquitto } from '../soak/mosquitto.js';
import { probeProcess } from '../soak/probe.js';
import { wireLimitsFor } from '../transport/limits.js';
import type { ReplyMessage } from '../transport/messages.js';
import { RecognitionClient, RecognizerError, RequestTimeoutError } from '../transport/recognition-client.js';
import { digestTable } from '../transport/spot-digest.js';
import { dot, normalize } from '../util/vector.js';
import type { LoadQuery } from './queries.js';
import { componentRecall, type ComponentRecall, type RecallSample } from './recall.js';
import { onWire, prepareWorkload, type Workload, type WorkloadOptions } from './workload.js';

/** The index kinds `enfpire load` runs its recognizers with (the JS scan, 'exact', is too slow to load). */
export const LOAD_INDEX_KINDS = ['hnsw', 'exact-onnx', 'int8-onnx'] as const satisfies readonly SpotIndexKind[];
export type LoadIndexKind = (typeof LOAD_INDEX_KINDS)[number];

/** The schema's index.kind: what a recognizer serves with when its profile names none (one default everywhere). */
export function defaultLoadIndex(): LoadIndexKind {
  const kind = schemaDefault('recognizer', 'index.kind') as SpotIndexKind;
  if (!(LOAD_INDEX_KINDS as readonly string[]).includes(kind)) throw new Error(`load: the schema's index.kind '${kind}' is not one load runs`);
  return kind as LoadIndexKind;
}

export interface LoadOptions extends Omit<WorkloadOptions, 'nextEdition' | 'maxRegions'> {
  devices: number;
  /** Slots per second per device (the device scheduler's rate). */
  rate: number;
  recognizers: number;
  minutes: number;
  /** An existing broker (mqtt://…); default a private Mosquitto started for the run. */
  brokerUrl?: string;
  /**
   * Roll a new gallery edition through the group a third of the way into the measured time; the measured time is
   * extended to 10 s past the roll's end if it would end sooner.
   */
  roll?: boolean;
  /**
   * The recognizers' index.kind (default: the schema's index.kind); 'exact-onnx' is the batched exact scan
   * (docs/decisions.md #31), 'int8-onnx' its int8 product with an exact re-score (#32).
   */
  index?: LoadIndexKind;
  /** exact-onnx, int8-onnx: the recognizers' index.thread and index.threads (default: the schema's). */
  scanThread?: 'worker' | 'main';
  scanThreads?: number;
  /** Untimed seconds before measuring; default min(10, a tenth of the run). */
  warmupSeconds?: number;
  /** A workload prepared already (runLoadSeries measures several group sizes against one). */
  workload?: Workload;
}

export interface RollReport {
  /** Gallery versions of the editions before and after. */
  from: string;
  to: string;
  /** Seconds from the first new recognizer starting to the last old one stopped. */
  seconds: number;
  /** Replies naming each version. */
  replies_by_version: Record<string, number>;
  /** Replies whose candidates are not the gallery edition their version names (must be 0). */
  mixed_version_replies: number;
  /** Replies naming no version or an unknown one (must be 0). */
  unknown_version_replies: number;
  /** Replies of the old version after a device had seen the new one (both serve while the group rolls). */
  version_regressions: number;
}

export interface LoadReport {
  schema: 'enfpire-load/1';
  created_at: string;
  spots: number;
  devices: number;
  recognizers: number;
  /** devices × rate. */
  offered_qps: number;
  /** Replies per second over the measured time (replies that came within the device's timeout). */
  achieved_qps: number;
  /**
   * Queries the group took off the broker per second from the start of the measured time to the end of the run,
   * answered in time or not: its capacity when saturated (when achieved_qps falls short, the rest came too late).
   */
  processed_qps: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Requests that ended in an error reply, a publish failure or a disconnection. */
  errors: number;
  /** The errors by kind: a recognizer's wire error code, or the client's message with its numbers taken out. */
  errors_by_kind: Record<string, number>;
  /** Requests that got no reply within the request timeout. */
  drops: number;
  /** Share of replies holding every component spot that the exact scan returns (recall.ts). */
  component_recall: number;
  recall: ComponentRecall;
  /** Reply payload bytes per real result, dummies' replies included (DESIGN §7). */
  bytes_per_result: number;
  bytes_per_reply: number;
  sent: number;
  replies: number;
  real_replies: number;
  /** Measured seconds (after the warm-up). */
  seconds: number;
  warmup_seconds: number;
  rate_per_device: number;
  top_m: { mean: number; max: number };
  gallery: { version: string; real_spots: number; synthetic_spots: number; region_size: number; photos: number };
  /** The recognizers' index: its kind, the HNSW settings (read only by 'hnsw') and the scan's thread settings (not by 'hnsw'). */
  index: { kind: LoadIndexKind; efSearch: number; efPerCandidate: number; m: number; efConstruction: number; thread: 'worker' | 'main'; threads: number };
  /** Queries taken by each recognizer process (the group's split). */
  per_recognizer_queries: number[];
  /** Each serving recognizer process's resident memory at the end of the run and its peak (VmRSS, VmHWM), MB. */
  recognizer_rss_mb: (number | null)[];
  recognizer_peak_rss_mb: (number | null)[];
  broker: string;
  /** Cores each process used while measuring (CPU seconds / wall seconds); null for an external broker or a rolled-out recognizer. */
  cpu_cores_used: { load_generator: number; broker: number | null; recognizers: (number | null)[] };
  /** How late the load generator's own timers and reply handlers ran while measuring (it is every device at once). */
  load_generator_loop_delay_ms: { p50: number; p99: number; max: number };
  machine: { cpus: number; cpu_model: string; load_average_start: number[]; load_average_end: number[] };
  roll?: RollReport;
  /** runLoadSeries: every group size measured against the same workload, one after another. */
  scale_out?: ScaleOutPoint[];
}

export interface ScaleOutPoint {
  recognizers: number;
  achieved_qps: number;
  processed_qps: number;
  /** achieved_qps over the first point's. */
  speedup: number;
  /** processed_qps over the first point's. */
  processed_speedup: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  errors_by_kind: Record<string, number>;
  drops: number;
  component_recall: number;
  per_recognizer_queries: number[];
  load_average_end: number[];
  cpu_cores_used: LoadReport['cpu_cores_used'];
}

function workloadOptions(options: LoadOptions): WorkloadOptions {
  return { ...options, nextEdition: options.roll, maxRegions: Math.min(options.devices, 20) };
}

/**
 * Several group sizes (e.g. 1, 2, 4 recognizers) against one workload and the same devices' schedule, one after
 * another in one process, so that their ratio is measured under the same conditions. The report is the first size's,
 * with every size in `scale_out`.
 */
export async function runLoadSeries(options: Omit<LoadOptions, 'recognizers'>, sizes: number[]): Promise<LoadReport> {
  const workload = options.workload ?? (await prepareWorkload(workloadOptions({ ...options, recognizers: sizes[0] })));
  const reports: LoadReport[] = [];
  for (const recognizers of sizes) {
    options.progress?.(`series: ${recognizers} recognizer${recognizers === 1 ? '' : 's'}`);
    reports.push(await runLoad({ ...options, recognizers, workload }));
  }
  const first = reports[0];
  return {
    ...first,
    scale_out: reports.map((r) => ({
      recognizers: r.recognizers,
      achieved_qps: r.achieved_qps,
      processed_qps: r.processed_qps,
      speedup: round(r.achieved_qps / first.achieved_qps),
      processed_speedup: round(r.processed_qps / first.processed_qps),
      p50_ms: r.p50_ms,
      p99_ms: r.p99_ms,
      errors: r.errors,
      errors_by_kind: r.errors_by_kind,
      drops: r.drops,
      component_recall: r.component_recall,
      per_recognizer_queries: r.per_recognizer_queries,
      load_average_end: r.machine.load_average_end,
      cpu_cores_used: r.cpu_cores_used,
    })),
  };
}

/** Messages Mosquitto queues for one recognizer beyond the 20 in flight (mosquitto.conf max_queued_messages). */
const BROKER_QUEUE = 50;

interface DeviceState {
  client: RecognitionClient;
  queries: LoadQuery[];
  next: number;
  /** Highest gallery edition seen so far. */
  edition: number;
}

/** Runs the load test; everything it started is stopped before it returns or throws. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const say = options.progress ?? (() => undefined);
  const loadStart = loadavg();
  const w = options.workload ?? (await prepareWorkload(workloadOptions(options)));
  const { manifest, manifestPath, features, regionSize, exact } = w;
  const { spots, version } = w.gallery;
  const nextVersion = w.next?.version;
  const usedRegions = w.regions;
  const used = usedRegions.length;
  const pool = w.queries;
  const referencesOf = new Map<number, Map<string, Float32Array>>();
  if (w.next) {
    referencesOf.set(1, new Map(spots.map((s) => [s.id, s.feature])));
    referencesOf.set(2, new Map(w.next.spots.map((s) => [s.id, s.feature])));
  }
  // Devices ask for replies by spot digest, as the shipped device does; the checks read them through the galleries' ids.
  const idsByDigest = digestTable([...spots, ...(w.next?.spots ?? [])].map((s) => s.id));
  const editionOf = new Map<string, number>([[version, 1]]);
  if (nextVersion) editionOf.set(nextVersion, 2);
  const seed = options.seed ?? 1;

  const dir = await mkdtemp(join(tmpdir(), 'enfpire-load-'));
  let broker: Mosquitto | undefined;
  const recognizers: SoakChild[] = [];
  const retired: SoakChild[] = [];
  const devices: DeviceState[] = [];
  try {
    if (!options.brokerUrl) {
      // Overload must shed, not queue: with unbounded queues a saturated group answers only queries whose devices
      // gave up long ago (every answer late, throughput 0). A short per-recognizer queue bounds the wait, and the
      // broker discards queries whose expiry (the device's timeout) has passed. TCP_NODELAY as in the shipped broker
      // configuration (deploy/mosquitto/enfpire.conf): without it each request waited ~40 ms for a delayed ACK.
      broker = await startMosquitto({ extraConfig: [`max_queued_messages ${BROKER_QUEUE}`, 'set_tcp_nodelay true'] });
    }
    const url = options.brokerUrl ?? broker!.url;
    const indexSettings = {
      kind: options.index ?? defaultLoadIndex(),
      ...defaultIndexOptions(),
      thread: options.scanThread ?? (schemaDefault('recognizer', 'index.thread') as 'worker' | 'main'),
      threads: options.scanThreads ?? (schemaDefault('recognizer', 'index.threads') as number),
    };
    const { kind, thread, threads } = indexSettings;
    const profile = async (name: string, gallery: string) => {
      const path = join(dir, `${name}.yaml`);
      await writeFile(path, stringify({ broker: { url }, group: 'enfpire-load', gallery, model: manifestPath, index: kind === 'hnsw' ? { kind } : { kind, thread, threads }, log: { level: 'error' } }));
      return path;
    };
    // The graphs are built here, before anything is timed, and kept beside the galleries where the recognizers read
    // them: an operator builds the next edition's graph before rolling it out, not while the group serves.
    for (const g of [w.gallery, w.next]) {
      if (!g || indexSettings.kind !== 'hnsw') continue;
      say(`HNSW graph of gallery ${g.version} (once; then read from its file)`);
      new HnswIndex(g.spots, { ...indexSettings, cacheFile: hnswCacheFile(g.path, g.version, indexSettings) });
    }
    const profileV1 = await profile('recognizer-e1', w.gallery.path);
    const what = indexSettings.kind === 'hnsw' ? 'its HNSW graph (built once, then cached beside the gallery)' : 'its ONNX Runtime session';
    say(`recognizer 1 of ${options.recognizers}: loading the gallery and ${what}`);
    recognizers.push(await SoakChild.start('recognizer', profileV1, 60 * 60_000));
    recognizers.push(...(await Promise.all(Array.from({ length: options.recognizers - 1 }, () => SoakChild.start('recognizer', profileV1, 60 * 60_000)))));

    say(`devices: ${options.devices} connections`);
    const limits = wireLimitsFor(manifest.output.dimension, { maxCandidates: 256 });
    const requestTimeoutMs = schemaDefault('edge', 'transport.requestTimeoutMs') as number;
    const random = seededRandom(seed + 99);
    for (let i = 0; i < options.devices; i += 50) {
      const batch = Array.from({ length: Math.min(50, options.devices - i) }, (_, j) => {
        const region = usedRegions[(i + j) % used];
        const queries = pool.get(region)!;
        const client = new RecognitionClient({ url, model: manifest.id, limits, requestTimeoutMs, infoWaitMs: 2_000 });
        return { client, queries, next: random.int(queries.length), edition: 0 } satisfies DeviceState;
      });
      await Promise.all(batch.map((d) => d.client.start()));
      devices.push(...batch);
    }

    // The timed run.
    const durationMs = options.minutes * 60_000;
    const warmupMs = (options.warmupSeconds ?? Math.min(10, (durationMs / 1000) * 0.1)) * 1000;
    const periodMs = 1000 / options.rate;
    const t0 = performance.now() + 500;
    const measureFrom = t0 + warmupMs;
    // Extended when a roll finishes late, so that the new edition serves for a while too.
    let endAt = t0 + warmupMs + durationMs;
    const latencies: number[] = [];
    const samples: RecallSample[] = [];
    const roll: RollReport | undefined = nextVersion ? { from: version, to: nextVersion, seconds: 0, replies_by_version: {}, mixed_version_replies: 0, unknown_version_replies: 0, version_regressions: 0 } : undefined;
    const errorKinds = new Map<string, number>();
    const n = { sent: 0, replies: 0, realReplies: 0, errors: 0, drops: 0, topMSum: 0, topMMax: 0 };
    let bytesAtStart = 0;
    const inFlight = new Set<Promise<void>>();

    let done = false;
    // The device's check of a reply during a roll: it names a known gallery version, and its candidates are ranked
    // as that edition's cosines with the query as sent (int8 on the wire) rank them. Replies carry no scores, so a
    // reply of the other edition is seen only where the two editions order its candidates differently.
    const check = (device: DeviceState, reply: readonly (readonly string[])[], v: string, sentVector: Float32Array): number | undefined => {
      if (!roll) return 1;
      roll.replies_by_version[v || '(none)'] = (roll.replies_by_version[v || '(none)'] ?? 0) + 1;
      const edition = editionOf.get(v);
      if (edition === undefined) {
        roll.unknown_version_replies++;
        return undefined;
      }
      if (!(orderError(reply, sentVector, referencesOf.get(edition)!) < 1e-3)) roll.mixed_version_replies++;
      if (edition < device.edition) roll.version_regressions++;
      device.edition = Math.max(device.edition, edition);
      return edition;
    };

    const send = (device: DeviceState, at: number) => {
      const q = device.queries[device.next++ % device.queries.length];
      const measured = at >= measureFrom && at < endAt;
      const start = performance.now();
      if (measured) {
        n.sent++;
        n.topMSum += q.topM;
        n.topMMax = Math.max(n.topMMax, q.topM);
      }
      const p = device.client
        .query({ type: 'query', model: manifest.id, vector: q.vector, topM: q.topM, digests: true })
        .then(
          (answer) => {
            const reply = candidateIds(answer, idsByDigest);
            const edition = check(device, reply, answer.galleryVersion ?? '', onWire(q.vector));
            if (!measured) return;
            latencies.push(performance.now() - start);
            n.replies++;
            if (q.real) n.realReplies++;
            // The exact answers are edition 1's.
            if (edition === 1) samples.push({ components: q.components, exact: exact.get(q)!, reply: reply.flat() });
          },
          (err: unknown) => {
            if (!measured) return;
            if (err instanceof RequestTimeoutError) n.drops++;
            else {
              n.errors++;
              const kind = err instanceof RecognizerError ? `recognizer: ${err.code}` : err instanceof Error ? err.message.replace(/\d+/g, 'N') : String(err);
              errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
            }
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };

    // One timer per device at absolute slot times: phase + n × period, never catching up on missed slots.
    const timers = new Set<NodeJS.Timeout>();
    devices.forEach((device) => {
      let slot = t0 + random.next() * periodMs;
      const tick = () => {
        // Until the run is over, not until the planned end: a late roll moves the end.
        if (done) return;
        const at = slot;
        const timer = setTimeout(() => {
          timers.delete(timer);
          send(device, at);
          // The next slot, skipping any this device missed while the process was busy (a device does not catch up).
          slot = at + periodMs;
          const now = performance.now();
          if (slot < now) slot += Math.ceil((now - slot) / periodMs) * periodMs;
          tick();
        }, at - performance.now());
        timers.add(timer);
      };
      tick();
    });

    const bytesIn = () => devices.reduce((sum, d) => sum + d.client.counters().bytesIn, 0);
    await sleep(measureFrom - performance.now());
    bytesAtStart = bytesIn();
    const cpu = new CpuShare(broker?.pid, recognizers);
    const loopDelay = monitorEventLoopDelay({ resolution: 2 });
    loopDelay.enable();
    const processedAtStart = await processedBy(recognizers);
    say(`measuring for ${options.minutes * 60} s at ${options.devices * options.rate} q/s offered`);
    if (roll && w.next) {
      await sleep(durationMs / 3);
      const rollStart = performance.now();
      const profileV2 = await profile('recognizer-e2', w.next.path);
      for (let i = 0; i < recognizers.length; i++) {
        say(`roll: recognizer ${i + 1} of ${recognizers.length} → gallery ${nextVersion}`);
        const fresh = await SoakChild.start('recognizer', profileV2, 60 * 60_000);
        const old = recognizers[i];
        recognizers[i] = fresh;
        await old.usage(15_000);
        await old.stop();
        retired.push(old);
      }
      roll.seconds = (performance.now() - rollStart) / 1000;
      endAt = Math.max(endAt, performance.now() + 10_000);
    }
    await sleep(endAt - performance.now());
    const bytesAtEnd = bytesIn();
    loopDelay.disable();
    const cpuShare = cpu.read(recognizers);
    done = true;
    for (const t of timers) clearTimeout(t);
    // Answers still on their way count (they were sent in the measured time); wait up to one request timeout.
    await Promise.race([Promise.allSettled([...inFlight]), sleep(requestTimeoutMs + 500)]);
    const seconds = (endAt - measureFrom) / 1000;

    // Asked once the devices are quiet: a saturated recognizer may not answer its parent in time while serving.
    await Promise.allSettled(devices.map((d) => d.client.stop()));
    const perRecognizer = await Promise.all(recognizers.map(async (r) => (await r.usage(15_000))?.counters.queries ?? r.lastCounters.queries ?? 0));
    const memory = recognizers.map((r) => probeProcess(r.pid));
    const mb = (bytes: number | null) => (bytes === null ? null : round(bytes / 2 ** 20));
    const processed = perRecognizer.reduce((a, b) => a + b, 0) + retired.reduce((a, r) => a + (r.lastCounters.queries ?? 0), 0) - processedAtStart;
    const recall = componentRecall(samples);
    const sorted = latencies.sort((a, b) => a - b);
    const pct = (p: number) => (sorted.length === 0 ? NaN : round(percentile(sorted, p)));
    const replyBytes = bytesAtEnd - bytesAtStart;
    return {
      schema: 'enfpire-load/1',
      created_at: new Date().toISOString(),
      spots: options.spots,
      devices: options.devices,
      recognizers: options.recognizers,
      offered_qps: round(options.devices * options.rate),
      achieved_qps: round(n.replies / seconds),
      processed_qps: round(processed / (seconds + (performance.now() - endAt) / 1000)),
      p50_ms: pct(50),
      p95_ms: pct(95),
      p99_ms: pct(99),
      max_ms: pct(100),
      errors: n.errors,
      errors_by_kind: Object.fromEntries(errorKinds),
      drops: n.drops,
      component_recall: round(recall.component_recall),
      recall: roundAll(recall),
      bytes_per_result: n.realReplies === 0 ? NaN : Math.round(replyBytes / n.realReplies),
      bytes_per_reply: n.replies === 0 ? NaN : Math.round(replyBytes / n.replies),
      sent: n.sent,
      replies: n.replies,
      real_replies: n.realReplies,
      seconds,
      warmup_seconds: warmupMs / 1000,
      rate_per_device: options.rate,
      top_m: { mean: round(n.sent === 0 ? 0 : n.topMSum / n.sent), max: n.topMMax },
      gallery: {
        version,
        real_spots: Math.min(options.spots, features.count),
        synthetic_spots: Math.max(0, options.spots - features.count),
        region_size: regionSize,
        photos: features.photos.length,
      },
      index: indexSettings,
      per_recognizer_queries: [...retired.map((r) => r.lastCounters.queries ?? 0), ...perRecognizer],
      recognizer_rss_mb: memory.map((m) => mb(m.rssBytes)),
      recognizer_peak_rss_mb: memory.map((m) => mb(m.peakRssBytes)),
      broker: options.brokerUrl ? 'external' : 'mosquitto (private, started for the run)',
      cpu_cores_used: cpuShare,
      load_generator_loop_delay_ms: { p50: round(loopDelay.percentile(50) / 1e6), p99: round(loopDelay.percentile(99) / 1e6), max: round(loopDelay.max / 1e6) },
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '', load_average_start: loadStart.map((x) => round(x)), load_average_end: loadavg().map((x) => round(x)) },
      ...(roll ? { roll } : {}),
    };
  } finally {
    await Promise.allSettled(devices.map((d) => d.client.stop()));
    await Promise.allSettled(recognizers.map((r) => r.stop()));
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Cores each process of the run used while measuring (CPU seconds over wall seconds): on a machine where the broker,
 * the load generator and the recognizers share the cores, this says which of them the latency tail waited for.
 * A recognizer replaced by a roll in between reads null.
 */
class CpuShare {
  private readonly t0 = performance.now();
  private readonly self = process.cpuUsage();
  private readonly broker: number | null;
  private readonly recognizers: Map<number | undefined, number | null>;

  constructor(
    private readonly brokerPid: number | undefined,
    recognizers: readonly SoakChild[],
  ) {
    this.broker = probeProcess(brokerPid).cpuSeconds;
    this.recognizers = new Map(recognizers.map((r) => [r.pid, probeProcess(r.pid).cpuSeconds]));
  }

  read(recognizers: readonly SoakChild[]): { load_generator: number; broker: number | null; recognizers: (number | null)[] } {
    const seconds = (performance.now() - this.t0) / 1000;
    const share = (before: number | null | undefined, after: number | null) => (before == null || after === null ? null : round((after - before) / seconds));
    const self = process.cpuUsage(this.self);
    return {
      load_generator: round((self.user + self.system) / 1e6 / seconds),
      broker: share(this.broker, probeProcess(this.brokerPid).cpuSeconds),
      recognizers: recognizers.map((r) => share(this.recognizers.get(r.pid), probeProcess(r.pid).cpuSeconds)),
    };
  }
}

/** Queries taken so far by these recognizers (their endpoint counters). */
async function processedBy(recognizers: SoakChild[]): Promise<number> {
  const counts = await Promise.all(recognizers.map(async (r) => (await r.usage(5_000))?.counters.queries ?? r.lastCounters.queries ?? 0));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * A reply's candidates as ids, best first: one id a place for a reply by id; for a reply by spot digest, every
 * gallery id with the place's digest (several where two share it, none for a digest no gallery id has).
 */
function candidateIds(reply: ReplyMessage, idsByDigest: ReadonlyMap<number, readonly string[]>): (readonly string[])[] {
  return reply.digests ? Array.from(reply.digests, (d) => idsByDigest.get(d) ?? []) : reply.candidates.map((c) => [c.id]);
}

/**
 * How far a reply's order is from best-first by the cosines of `query` with these references: the largest rise of
 * the cosine from one candidate to the next (0 when in order; Infinity for a place none of whose ids these references
 * hold). A place two ids share (a digest collision) takes the one that keeps the order best.
 */
function orderError(reply: readonly (readonly string[])[], query: Float32Array, references: Map<string, Float32Array>): number {
  let worst = 0;
  let previous = Infinity;
  for (const ids of reply) {
    const scores = ids.flatMap((id) => {
      const f = references.get(id);
      return f ? [dot(query, normalize(f))] : [];
    });
    if (scores.length === 0) return Infinity;
    // The highest score not above the previous one; failing that, the lowest (the smallest rise).
    const inOrder = scores.filter((s) => s <= previous);
    const score = inOrder.length > 0 ? Math.max(...inOrder) : Math.min(...scores);
    worst = Math.max(worst, score - previous);
    previous = score;
  }
  return worst;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function roundAll<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? round(v) : v])) as T;
}
