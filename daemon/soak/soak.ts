/**
 * `enfpire soak`: the shipped edge and two recognizers, each in its own process, driven through a private Mosquitto
 * at a high query rate for N minutes while faults are injected on a schedule (faults.ts). Every few seconds it samples
 * each process's RSS, V8 heap in use and open file descriptors, and the size of the edge's SQLite file; at the end
 * it fits a line through the second half of each (trend.ts) and says whether it stayed flat.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SqliteGallery } from '../gallery/sqlite-gallery.js';
import { defaultModelManifest, sampleSpotsDir } from '../util/paths.js';
import { SoakChild, type AckedResult, type WorkerCounters } from './child.js';
import { faultSchedule, injectFault, type CrashCheck, type FaultRecord, type FaultTarget } from './faults.js';
import { startMosquitto, type Mosquitto } from './mosquitto.js';
import { probeProcess, sqliteBytes } from './probe.js';
import { enrolSampleGallery } from './sample-gallery.js';
import { secondHalfTrend, type Criterion, type Point, type Trend } from './trend.js';

export interface SoakOptions {
  minutes: number;
  /** Query slots per second on the edge (real and dummy together). */
  rate: number;
  /** Default: 5 s, less for short runs (at least 30 samples). */
  sampleSeconds?: number;
  /** Default: a twentieth of the run, from 12 s to 90 s. */
  faultEverySeconds?: number;
  /** How long a broken part stays broken (default 3 s). */
  downSeconds?: number;
  progress?: (line: string) => void;
}

/** The metrics held to "flat", and how flat (trend.ts). Processes restarted by faults in the second half are not. */
export const CRITERIA: Record<string, Criterion> = {
  edge_rss_bytes: { relative: 0.05, absolute: 4 * 2 ** 20 },
  edge_heap_used_bytes: { relative: 0.1, absolute: 4 * 2 ** 20 },
  edge_fds: { relative: 0.05, absolute: 2 },
  recognizer_a_rss_bytes: { relative: 0.05, absolute: 4 * 2 ** 20 },
  recognizer_a_heap_used_bytes: { relative: 0.1, absolute: 4 * 2 ** 20 },
  recognizer_a_fds: { relative: 0.05, absolute: 2 },
  sqlite_total_bytes: { relative: 0.05, absolute: 64 * 1024 },
};

export type Sample = Record<string, number | null> & { t_s: number };

export interface SoakReport {
  command: 'soak';
  minutes: number;
  rate_per_s: number;
  duration_s: number;
  sample_interval_s: number;
  fault_every_s: number;
  down_s: number;
  started_at: string;
  finished_at: string;
  host: { cpus: number; node: string; load_average_start: number[]; load_average_end: number[] };
  criteria: Record<string, Criterion>;
  queries: Record<string, number>;
  recognizers: Record<string, number>;
  faults: FaultRecord[];
  trends: Record<string, Trend>;
  samples: Sample[];
  pass: boolean;
  /** Why it failed, one line each (empty when it passed). */
  problems: string[];
}

/** The edge's results table keeps at most this many rows; acknowledged results are looked for among the latest. */
const HISTORY_LIMIT = 1000;
const ACKED_CHECKED = 200;
const RECOVERY_TIMEOUT_MS = 60_000;

/** The running system: broker, recognizers A (never killed) and B (the one faults kill), and the edge. */
class SoakSystem implements FaultTarget {
  broker: Mosquitto | undefined;
  recognizerA!: SoakChild;
  recognizerB!: SoakChild;
  edge: SoakChild | undefined;
  /** Counters of edge and recognizer processes that have ended. */
  private readonly finishedEdges: WorkerCounters[] = [];
  private readonly finishedRecognizers: WorkerCounters[] = [];
  /** Receive times of results a recognizer answered, all edges together. */
  readonly answeredAt: number[] = [];
  /** The current edge's latest acknowledged results. */
  private acked: AckedResult[] = [];
  private readonly waiters = new Set<(at: number) => void>();

  /** When the measured run began (after everything started), ms since epoch. */
  t0 = Date.now();

  constructor(
    private readonly profiles: { edge: string; recognizer: string },
    private readonly galleryFile: string,
  ) {}

  seconds(ms: number): number {
    return Math.round(ms - this.t0) / 1000;
  }

  /** The first time on a free port; after that on the same port, where every client expects it. */
  async startBroker(): Promise<void> {
    this.broker = await startMosquitto(this.broker ? { port: this.broker.port } : {});
  }

  async stopBroker(): Promise<void> {
    await this.broker?.stop();
  }

  async startRecognizer(): Promise<void> {
    this.recognizerB = await SoakChild.start('recognizer', this.profiles.recognizer);
  }

  async killRecognizer(): Promise<void> {
    await this.recognizerB.usage();
    this.recognizerB.kill('SIGKILL');
    await this.recognizerB.exited;
    this.finishedRecognizers.push(this.recognizerB.lastCounters);
  }

  async startEdge(): Promise<void> {
    this.acked = [];
    const edge = await SoakChild.start('edge', this.profiles.edge);
    edge.on('result', (r) => {
      this.acked.push(r);
      if (this.acked.length > 2 * ACKED_CHECKED) this.acked.splice(0, this.acked.length - ACKED_CHECKED);
      if (!r.queried) return;
      this.answeredAt.push(r.receivedAt);
      for (const wake of this.waiters) wake(r.receivedAt);
    });
    this.edge = edge;
  }

  /** SIGKILL while it writes results, then SQLite's integrity check and a look for every acknowledged result. */
  async killEdge(): Promise<CrashCheck> {
    const edge = this.edge!;
    await edge.usage();
    edge.kill('SIGKILL');
    await edge.exited;
    this.finishedEdges.push(edge.lastCounters);
    this.edge = undefined;
    const acked = this.acked.slice(-ACKED_CHECKED);
    const gallery = new SqliteGallery(this.galleryFile, { maxResults: HISTORY_LIMIT });
    try {
      const stored = new Set(gallery.history(HISTORY_LIMIT).map((r) => `${r.at}|${r.label ?? ''}`));
      return {
        integrity_check: gallery.integrityCheck(),
        acknowledged_checked: acked.length,
        acknowledged_missing: acked.filter((r) => !stored.has(`${r.at}|${r.label ?? ''}`)).length,
      };
    } finally {
      gallery.close();
    }
  }

  answeredAfter(since: number, timeoutMs: number): Promise<number | null> {
    const seen = this.answeredAt.find((at) => at > since);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const wake = (at: number) => {
        if (at <= since) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(at);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(null);
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  answeredBetween(from: number, to: number): number {
    return this.answeredAt.filter((at) => at >= from && at < to).length;
  }

  async failedQueries(): Promise<number> {
    return (await this.edgeTotals()).failedQueries ?? 0;
  }

  /** Edge counters summed over every edge process so far (a killed one counts up to its last report). */
  async edgeTotals(): Promise<WorkerCounters> {
    const current = this.edge ? ((await this.edge.usage())?.counters ?? this.edge.lastCounters) : {};
    return sum([...this.finishedEdges, current]);
  }

  recognizerTotals(): WorkerCounters {
    return sum([...this.finishedRecognizers, this.recognizerA.lastCounters, this.recognizerB.lastCounters]);
  }

  async sample(t_s: number): Promise<Sample> {
    const row: Sample = { t_s };
    const measure = async (name: string, child: SoakChild | undefined) => {
      const probe = probeProcess(child?.pid);
      const usage = await child?.usage();
      row[`${name}_rss_bytes`] = probe.rssBytes;
      row[`${name}_heap_used_bytes`] = usage && Number.isFinite(usage.heapUsedBytes) ? usage.heapUsedBytes : null;
      row[`${name}_fds`] = probe.fds;
    };
    await Promise.all([measure('edge', this.edge), measure('recognizer_a', this.recognizerA), measure('recognizer_b', this.recognizerB)]);
    const broker = probeProcess(this.broker?.pid);
    row.broker_rss_bytes = broker.rssBytes;
    row.broker_fds = broker.fds;
    const db = sqliteBytes(this.galleryFile);
    row.sqlite_bytes = db.main;
    row.sqlite_wal_bytes = db.wal;
    row.sqlite_total_bytes = db.main + db.wal;
    return row;
  }

  async stop(): Promise<void> {
    await Promise.all([this.edge?.stop(), this.recognizerA?.stop(), this.recognizerB?.stop()]);
    await this.broker?.stop();
  }
}

function sum(all: WorkerCounters[]): WorkerCounters {
  const total: WorkerCounters = {};
  for (const c of all) for (const [k, v] of Object.entries(c)) total[k] = (total[k] ?? 0) + v;
  return total;
}

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const durationS = options.minutes * 60;
  const sampleS = options.sampleSeconds ?? Math.min(5, durationS / 30);
  const everyS = options.faultEverySeconds ?? Math.max(12, Math.min(90, durationS / 20));
  const downS = options.downSeconds ?? 3;
  const say = options.progress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-soak-'));
  const loadStart = loadavg();
  let system: SoakSystem | undefined;
  try {
    say('enrolling the sample spots');
    const recognizerGallery = await enrolSampleGallery(dir);
    const galleryFile = join(dir, 'edge.db');
    const profiles = { edge: join(dir, 'edge.yaml'), recognizer: join(dir, 'recognizer.yaml') };
    system = new SoakSystem(profiles, galleryFile);
    await system.startBroker();
    const url = system.broker!.url;
    await writeFile(
      profiles.recognizer,
      stringify({ broker: { url }, gallery: recognizerGallery, model: defaultModelManifest, index: { kind: 'exact' }, log: { level: 'warn' } }),
    );
    // The shipped assembly with its health parts and local API on; every frame of the looping sample photos becomes
    // a real query (no scene gate, no local cache), and no identity rotation, whose pauses would blur recoveries.
    await writeFile(
      profiles.edge,
      stringify({
        camera: { kind: 'files', dir: sampleSpotsDir, fps: Math.max(1, Math.min(10, options.rate / 2)), loop: true, gate: { enabled: false } },
        model: { manifest: defaultModelManifest },
        transport: { url, rotateIdentityMinutes: 0 },
        gallery: { path: galleryFile, historyLimit: HISTORY_LIMIT },
        resolver: { cacheThreshold: 1 },
        scheduler: { mode: 'constant', ratePerSecond: options.rate },
        api: { enabled: true, listen: '127.0.0.1:0' },
        log: { level: 'warn' },
      }),
    );
    say(`starting two recognizers and the edge on ${url}`);
    system.recognizerA = await SoakChild.start('recognizer', profiles.recognizer);
    await system.startRecognizer();
    await system.startEdge();
    const running = system;
    const t0 = Date.now();
    running.t0 = t0;
    const seconds = (ms: number) => running.seconds(ms);

    const samples: Sample[] = [];
    const end = t0 + durationS * 1000;
    const sampling = (async () => {
      for (let next = t0; next <= end; next += sampleS * 1000) {
        await sleepUntil(next);
        samples.push(await running.sample(seconds(Date.now())));
      }
    })();
    const faults: FaultRecord[] = [];
    for (const planned of faultSchedule(durationS, everyS, Math.max(10, everyS / 3))) {
      await sleepUntil(t0 + planned.at_s * 1000);
      say(`${planned.at_s} s: ${planned.kind}`);
      const record = await injectFault(planned.kind, running, downS * 1000, RECOVERY_TIMEOUT_MS);
      say(`  ${record.recovered ? `recovered in ${record.recovery_ms} ms` : 'NOT recovered'} (${record.failed_queries} failed queries)`);
      faults.push(record);
    }
    await sampling;
    const queries = await running.edgeTotals();
    const sent = (queries.realQueries ?? 0) + (queries.dummyQueries ?? 0);
    const trends = Object.fromEntries(
      Object.entries(CRITERIA).map(([metric, criterion]) => {
        const points: Point[] = samples.map((s) => ({ t: s.t_s, v: s[metric] ?? NaN }));
        return [metric, secondHalfTrend(points, durationS, criterion)];
      }),
    );
    const finished = Date.now();
    await running.stop();
    const problems = [
      ...Object.entries(trends)
        .filter(([, tr]) => !tr.pass)
        .map(([m, tr]) => `${m} grew by ${tr.change_over_window} over the second half (allowed ${tr.allowed_change})`),
      ...faults.filter((f) => !f.recovered).map((f) => `no answer within ${RECOVERY_TIMEOUT_MS / 1000} s after the ${f.kind} at ${f.injected_at_s} s`),
      ...faults
        .filter((f) => f.crash_check && (f.crash_check.integrity_check.join() !== 'ok' || f.crash_check.acknowledged_missing > 0))
        .map((f) => `after the edge kill at ${f.injected_at_s} s: integrity ${f.crash_check!.integrity_check.join('; ')}, ${f.crash_check!.acknowledged_missing} acknowledged results missing`),
    ];
    if (faults.length === 0) problems.push('no fault was injected: run for longer');
    return {
      command: 'soak',
      minutes: options.minutes,
      rate_per_s: options.rate,
      duration_s: seconds(finished),
      sample_interval_s: sampleS,
      fault_every_s: everyS,
      down_s: downS,
      started_at: new Date(t0).toISOString(),
      finished_at: new Date(finished).toISOString(),
      host: { cpus: cpus().length, node: process.version, load_average_start: loadStart, load_average_end: loadavg() },
      criteria: CRITERIA,
      queries: { sent, answered: sent - (queries.failedQueries ?? 0), failed: queries.failedQueries ?? 0, ...queries },
      recognizers: running.recognizerTotals(),
      faults,
      trends,
      samples,
      pass: problems.length === 0,
      problems,
    };
  } finally {
    await system?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
