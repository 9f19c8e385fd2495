/**
 * Runs simulated devices — each one the shipped edge daemon, assembled by `EdgeRuntime` from a device profile exactly
 * as `enfpire edge` does — against a broker and a recognizer, with a wiretap on the broker (DESIGN §7). Only the world
 * in front of each camera is simulated: the fleet shows each device's `SimulatedCamera` the frames of the world's
 * timeline at their times. In virtual time the devices' slot timers, phantoms, drifting decoys, identity rotation and
 * resolver all read one `VirtualClock`, and time moves on only when every device waits (for a frame or a slot) and
 * every request has its reply, so a run is as fast as the broker round trips and reproducible. In wall-clock time the
 * same devices run on the system clock and the wiretap, on a thread of its own, stamps messages as the broker
 * delivers them, for the timing attacks.
 */
import { setMaxListeners } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadEdgeConfig } from '../config/load.js';
import type { EdgeResult, SentQuery } from '../edge/edge-daemon.js';
import { EdgeRuntime } from '../edge/edge-runtime.js';
import { forEachConcurrently } from '../util/concurrency.js';
import { seededRandom } from '../util/random.js';
import { UserError } from '../util/errors.js';
import type { MqttProtocolVersion } from '../transport/broker.js';
import type { MixWeights } from '../privacy/kmix.js';
import type { WireLimits } from '../transport/messages.js';
import { systemClock, VirtualClock, type Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { SimulatedCamera } from './simulated-camera.js';
import { ThreadedWiretap } from './threaded-wiretap.js';
import { streamSeed } from './views.js';
import { Wiretap, type ServerRecord, type ServerTap } from './wiretap.js';

/** One frame of the simulated world, as one device's camera sees it. Ground truth stays with the evaluation. */
export interface WorldFrame {
  user: number;
  /** ms from the start of the run. */
  t: number;
  /** Unique in the run: the daemon carries it as the frame label to its result and its query. */
  label: string;
  /** The gallery spot in view, or null for a frame of no spot. */
  spot: string | null;
  /** The encoded picture. */
  render(): Promise<Buffer>;
}

/** Ground truth of one query the server saw. */
export interface QueryTruth {
  user: number;
  /** The real spot of a real query of a gallery spot; null for a dummy or a frame of no spot. */
  spot: string | null;
  /** A real query whose frame shows no gallery spot (it got past the region gate). */
  offGallery?: boolean;
  /** The frame behind a real query. */
  label?: string;
}

/**
 * The seed of one device's privacy randomness, independent for every device of a run, as crypto randomness is in the
 * field. `seed × 1,000 + user` was used before: with a 48-bit run seed that sum is past 2^53, where doubles are 32–64
 * apart, so up to 64 neighbouring devices got one seed and drew the same slot phases, decoy tracks, identity changes
 * and pauses until their wearers' frames set them apart (found 2026-12-05: in a world of 36 wearers every device's
 * first session ended at one of two moments).
 */
export function deviceSeed(seed: number, user: number): number {
  return streamSeed('privacy', seed, 'device', user);
}

export interface FleetOptions {
  /** Device profile settings shared by every device (privacy, scheduler, transport…); the fleet adds the rest. */
  profile: Record<string, unknown>;
  users: number;
  durationMs: number;
  /** Every device's frames; any order. */
  frames: readonly WorldFrame[];
  brokerUrl: string;
  protocolVersion: MqttProtocolVersion;
  /** Every spot id of the recognizer's gallery: the wiretap reads replies by spot digest through them, as the server can. */
  galleryIds: readonly string[];
  modelManifest: string;
  /** Where device galleries and profiles go. */
  workDir: string;
  /** Seeds each device's privacy randomness (never a production setting: devices use crypto randomness). */
  seed: number;
  /** 'virtual' (default): simulation speed; 'wall': real time, for the timing attacks. */
  time?: 'virtual' | 'wall';
  limits: WireLimits;
  logger: Logger;
  /** Pictures rendered ahead, at most this many at a time (sharp works off the main thread). Default 4. */
  renderConcurrency?: number;
  /** Called with each frame as its camera shows it (the evaluation's plain-recognition baseline). */
  onShown?: (frame: WorldFrame, picture: Buffer) => void;
  onProgress?: (doneMs: number, totalMs: number) => void;
}

export interface FleetRun {
  /** What the server saw, in arrival order, with the ground truth of each (records no device claimed are left out). */
  records: ServerRecord[];
  truths: QueryTruth[];
  /** Queries the wiretap saw that no device's send matched (0 unless a message was lost). */
  unpaired: number;
  /** Each device's results by frame label. */
  results: Map<string, EdgeResult>;
  /** Payload bytes both ways, every device together. */
  bytes: number;
  /** Per device: the daemon's own counters at the end. */
  counters: ReturnType<EdgeRuntime['edge']['stats']>[];
  rotations: number;
  /** When each device was up, ms after the run's origin (0 in virtual time): its wearer's timeline starts there. */
  startedAt: number[];
  /** Wall clock: how late frames were shown after their time (a machine that kept up: well under a second). */
  worldLag: WorldLag;
  /** The devices' public privacy settings, as their profile loaded them (what the server may assume). */
  deviceSettings: {
    viewDrift?: { fastSeconds: number; slowSeconds: number; slowShare: number };
    rotatePauseSeconds: { min: number; max: number };
    /** privacy.transform.mixWeights (k-mix only): a server that knows the weights are not equal fits free ones. */
    mixWeights?: MixWeights;
  };
}

interface Device {
  runtime: EdgeRuntime;
  camera: SimulatedCamera;
  sent: (SentQuery & { replyTopic: string })[];
}

export async function runFleet(options: FleetOptions): Promise<FleetRun> {
  const virtual = (options.time ?? 'virtual') === 'virtual' ? new VirtualClock(0) : undefined;
  const clock: Clock = virtual ?? systemClock;
  // The run's time counts from when the tap is up (set below): starting the tap's thread must not eat into the traffic.
  let origin = clock.now();
  const broker = { url: options.brokerUrl, protocolVersion: options.protocolVersion, limits: options.limits, logger: options.logger, galleryIds: options.galleryIds };
  // Virtual time: the tap reads the simulated clock on this thread. Wall clock: it stamps on a thread of its own,
  // where the devices' work on this thread cannot delay a stamp (threaded-wiretap.ts).
  const tap: ServerTap = virtual ? new Wiretap({ ...broker, clock: () => clock.now() - origin }) : new ThreadedWiretap({ ...broker, origin: () => origin });
  const devices: Device[] = [];
  let deviceSettings: FleetRun['deviceSettings'] | undefined;
  const results = new Map<string, EdgeResult>();
  let sentTotal = 0;
  const ended: { counters: FleetRun['counters'][number]; transport: ReturnType<EdgeRuntime['transport']['counters']>; rotations: number }[] = [];
  // A device's counters as it goes off (both clocks read them at the end of its wearer's world).
  const readEnd = (user: number) => {
    const { runtime } = devices[user];
    ended[user] = { counters: runtime.edge.stats(), transport: runtime.transport.counters(), rotations: runtime.identityRotations };
  };
  // When each device came up, ms after the origin: its wearer's timeline starts there (always 0 in virtual time).
  const startedAt: number[] = [];
  let worldLag: WorldLag = { p50: 0, p95: 0, max: 0 };
  // Wall clock: every picture is rendered before the tap and the devices start. Rendered beside them, the world's
  // pictures took most of two cores at 24 wearers and the world fell 14-42 s behind the wall clock (world_lag_s,
  // 2026-12-06); rendered ahead, showing a frame costs the run nothing. Virtual time renders a window ahead instead.
  const rendered = virtual ? undefined : new Map<string, Buffer>();
  const shown = options.frames.filter((f) => f.t < options.durationMs);
  if (rendered) await forEachConcurrently(shown, options.renderConcurrency ?? 4, async (f) => rendered.set(f.label, await f.render()));
  // Wall clock: how late each frame was shown after its time. A machine that cannot run every device in real time
  // shows the world slowed down while the devices' clocks run on (a 24-wearer run on two cores fell 190 s behind in
  // 10 minutes, 2026-12-06): such a run does not describe devices in real time, and says so.
  const late: number[] = [];
  // Ends the wall-clock worlds' waits early when the run fails.
  const abort = new AbortController();
  // Every wearer's world waits on it at once: one listener a world is expected, not a leak (Node warns past 10).
  setMaxListeners(options.users + 1, abort.signal);

  // Wall clock: each wearer's world runs on a timer of its own from the moment the wearer's device is up, and the
  // device goes off when that world ends, as glasses do. The devices come up one after another, about a second each;
  // a world shown from the run's origin left the first devices sending with a blank camera and then flooded them with
  // what they had missed (the session group read 0.628 on the wall clock, 0.505 in virtual time), and one loop for
  // every world, begun once the last device was up, still held the first devices' first 20 s of frames back at 24
  // wearers (found 2026-12-06).
  const playOnWallClock = async (user: number, own: readonly WorldFrame[]): Promise<void> => {
    const d = devices[user];
    const until = (t: number) => delay(Math.max(0, origin + startedAt[user] + t - systemClock.now()), undefined, { signal: abort.signal });
    try {
      for (const frame of own) {
        await until(frame.t);
        late.push(systemClock.now() - origin - startedAt[user] - frame.t);
        const picture = rendered!.get(frame.label)!;
        d.camera.show(picture, systemClock.now(), frame.label);
        options.onShown?.(frame, picture);
        options.onProgress?.(systemClock.now() - origin, Math.max(...startedAt) + options.durationMs);
      }
      await until(options.durationMs);
    } catch (err) {
      if (abort.signal.aborted) return;
      throw err;
    }
    readEnd(user);
    d.camera.end();
    await d.runtime.stop().catch((err: Error) => options.logger.warn({ err: err.message }, 'device stop failed'));
  };

  // Virtual time: one loop shows every world's frames in time order, and time moves on only when nothing can happen
  // without it: every device waits and every request is answered. Every device is up at 0 and every world ends at once.
  const playInVirtualTime = async (clockOf: VirtualClock): Promise<void> => {
    // A query the wiretap never sees (lost on the wire) is waited for once, then left out: the run must not hang.
    let lost = 0;
    const settle = async () => {
      for (;;) {
        await Promise.all(devices.map((d) => d.runtime.edge.idle()));
        if (!(await tap.waitFor(sentTotal - lost))) {
          lost = sentTotal - tap.records.length;
          const unanswered = tap.abandonUnanswered();
          options.logger.warn({ sent: sentTotal, seen: tap.records.length, unanswered }, 'the wiretap missed queries or their replies; going on without them');
        }
        await new Promise((resolve) => setImmediate(resolve));
        // An identity change on the network counts as work: its real-time disconnect and connect must not let time pass.
        if (devices.every((d) => !d.runtime.edge.busy && !d.runtime.changingIdentity)) return;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    const inOrder = [...shown].sort((a, b) => a.t - b.t || a.user - b.user);
    const pictures = new RenderAhead(inOrder, options.renderConcurrency ?? 4);
    for (let i = 0; i < inOrder.length; i++) {
      const frame = inOrder[i];
      const picture = await pictures.get(i);
      await clockOf.runUntil(origin + frame.t, settle);
      devices[frame.user].camera.show(picture, clock.now(), frame.label);
      options.onShown?.(frame, picture);
      await settle();
      options.onProgress?.(frame.t, options.durationMs);
    }
    await clockOf.runUntil(origin + options.durationMs, settle);
    for (let user = 0; user < devices.length; user++) {
      await settle();
      readEnd(user);
    }
  };

  try {
    await tap.start();
    origin = clock.now();
    const worlds: Promise<void>[] = [];
    for (let user = 0; user < options.users; user++) {
      const camera = new SimulatedCamera();
      const config = await deviceProfile(options, user);
      deviceSettings ??= publicSettings(config);
      const runtime = new EdgeRuntime({
        config,
        logger: options.logger,
        source: camera,
        clock,
        random: seededRandom(deviceSeed(options.seed, user)),
        health: false,
        protocolVersion: options.protocolVersion,
      });
      const device: Device = { runtime, camera, sent: [] };
      runtime.on('result', (r: EdgeResult) => {
        if (r.label !== undefined) results.set(r.label, r);
      });
      // The reply topic is read as the query leaves: it names the identity the server sees it under.
      runtime.on('query', (q: SentQuery) => {
        sentTotal++;
        device.sent.push({ ...q, replyTopic: runtime.transport.identity().replyTopic });
      });
      devices.push(device);
      await runtime.start();
      startedAt.push(clock.now() - origin);
      if (!virtual) {
        const world = playOnWallClock(user, shown.filter((f) => f.user === user).sort((a, b) => a.t - b.t));
        // Not awaited here: the next device starts while this one's world plays. A failure surfaces below.
        world.catch(() => undefined);
        worlds.push(world);
      }
    }
    if (virtual) await playInVirtualTime(virtual);
    else {
      await Promise.all(worlds);
      await tap.waitFor(sentTotal, 5_000);
    }
    worldLag = lagOf(late);
    if (worldLag.p95 > LAG_WARNING_MS) {
      options.logger.warn(
        { p50Ms: worldLag.p50, p95Ms: worldLag.p95, maxMs: worldLag.max },
        'the world fell behind the wall clock (frames shown late): this machine cannot run so many devices in real time; run fewer --users for wall-clock figures',
      );
    }
  } finally {
    abort.abort();
    for (const d of devices) d.camera.end();
    for (const d of devices) await d.runtime.stop().catch((err: Error) => options.logger.warn({ err: err.message }, 'device stop failed'));
    await tap.stop();
  }
  if (tap.unknownDigests > 0) options.logger.warn({ unknownDigests: tap.unknownDigests }, 'replies named spot digests no gallery id has; the records leave them out');

  const truthOf = new Map(options.frames.map((f) => [f.label, f]));
  const paired = pairWithTruth(tap.records, devices, truthOf);
  return {
    ...paired,
    results,
    bytes: ended.reduce((sum, d) => sum + d.transport.bytesIn + d.transport.bytesOut, 0),
    counters: ended.map((d) => d.counters),
    rotations: ended.reduce((sum, d) => sum + d.rotations, 0),
    deviceSettings: deviceSettings!,
    startedAt,
    worldLag,
  };
}

/** Frames shown later than this (95th percentile) make a wall-clock run a slowed-down world. */
const LAG_WARNING_MS = 1_000;

/** How late frames were shown after their time on the wall clock, ms (all 0 in virtual time). */
export interface WorldLag {
  p50: number;
  p95: number;
  max: number;
}

function lagOf(lateMs: readonly number[]): WorldLag {
  if (lateMs.length === 0) return { p50: 0, p95: 0, max: 0 };
  const sorted = [...lateMs].sort((a, b) => a - b);
  const at = (q: number) => Math.max(0, Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]));
  return { p50: at(0.5), p95: at(0.95), max: at(1) };
}

/**
 * A run recorded earlier (`enfpire eval --record FILE --truth FILE`), read back for the attacks: what the server saw
 * and whose each query was. The devices' public settings come from the profile the run would use, so replay with the
 * same `--set` options as the recording. Nothing is shown to a device: results, bytes and counters are empty.
 */
export async function replayFleet(
  options: Pick<FleetOptions, 'workDir' | 'profile' | 'modelManifest' | 'brokerUrl'>,
  files: { recordPath: string; truthPath: string },
): Promise<FleetRun> {
  const [records, truths] = await Promise.all([readJsonLines<ServerRecord>(files.recordPath), readJsonLines<QueryTruth>(files.truthPath)]);
  if (records.length !== truths.length) {
    throw new UserError(`eval: the record ${files.recordPath} has ${records.length} lines and the truth ${files.truthPath} ${truths.length}; pass the pair one run wrote.`);
  }
  return { records, truths, unpaired: 0, results: new Map(), bytes: 0, counters: [], rotations: 0, startedAt: [], worldLag: { p50: 0, p95: 0, max: 0 }, deviceSettings: publicSettings(await deviceProfile(options, 0)) };
}

async function readJsonLines<T>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new UserError(`eval: cannot read ${path} (${err.message}); pass a file written by --record or --truth.`);
  });
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, n) => {
      try {
        return JSON.parse(line) as T;
      } catch {
        throw new UserError(`eval: line ${n + 1} of ${path} is not JSON; pass a file written by --record or --truth.`);
      }
    });
}

/** What the server may assume of every device: the public privacy settings of its profile. */
function publicSettings(config: Awaited<ReturnType<typeof loadEdgeConfig>>): FleetRun['deviceSettings'] {
  const transform = config.privacy.transform;
  // A bucket transform draws no decoy views, so its devices have no drift to make public.
  return {
    viewDrift: transform.kind === 'bucket' ? undefined : transform.decoyDrift,
    rotatePauseSeconds: config.transport.rotatePauseSeconds,
    mixWeights: transform.kind === 'kmix' ? transform.mixWeights : undefined,
  };
}

/** The device's profile, through the same loader and schema defaults as `enfpire edge --config`. */
async function deviceProfile(options: Pick<FleetOptions, 'workDir' | 'profile' | 'modelManifest' | 'brokerUrl'>, user: number) {
  const file = join(options.workDir, `device-${user}.yaml`);
  const profile = options.profile;
  await writeFile(
    file,
    stringify({
      ...profile,
      camera: { kind: 'files', dir: options.workDir, gate: { enabled: false }, ...(profile.camera as object | undefined) },
      model: { manifest: options.modelManifest, intraOpThreads: 1, ...(profile.model as object | undefined) },
      transport: { region: '*', ...(profile.transport as object | undefined), url: options.brokerUrl },
      gallery: { ...(profile.gallery as object | undefined), path: join(options.workDir, `device-${user}.db`) },
      api: { enabled: false },
      log: { level: 'warn' },
    }),
  );
  return loadEdgeConfig(file);
}

/**
 * Pairs what the server saw with what each device knows it sent: per reply topic (one identity of one device), the
 * n-th query seen is the n-th that identity sent.
 */
function pairWithTruth(
  records: readonly ServerRecord[],
  devices: readonly Device[],
  frames: ReadonlyMap<string, WorldFrame>,
): { records: ServerRecord[]; truths: QueryTruth[]; unpaired: number } {
  const queues = new Map<string, { user: number; sent: SentQuery }[]>();
  devices.forEach((d, user) => {
    for (const s of d.sent) {
      const q = queues.get(s.replyTopic) ?? [];
      q.push({ user, sent: s });
      queues.set(s.replyTopic, q);
    }
  });
  const out: { records: ServerRecord[]; truths: QueryTruth[]; unpaired: number } = { records: [], truths: [], unpaired: 0 };
  for (const r of records) {
    const next = queues.get(r.reply_topic)?.shift();
    if (!next) {
      out.unpaired++;
      continue;
    }
    const { user, sent } = next;
    const frame = sent.kind === 'real' && sent.label !== undefined ? frames.get(sent.label) : undefined;
    out.records.push(r);
    out.truths.push(
      sent.kind === 'dummy'
        ? { user, spot: null }
        : frame?.spot
          ? { user, spot: frame.spot, label: sent.label }
          : { user, spot: null, offGallery: true, label: sent.label },
    );
  }
  return out;
}

/** Renders the frames ahead of the simulation, a few at a time, keeping only a window of them in memory. */
class RenderAhead {
  private readonly started = new Map<number, Promise<Buffer>>();
  private next = 0;

  constructor(
    private readonly frames: readonly WorldFrame[],
    private readonly window: number,
  ) {}

  get(i: number): Promise<Buffer> {
    while (this.next < this.frames.length && this.next < i + this.window * 4) {
      const n = this.next++;
      this.started.set(n, this.frames[n].render());
    }
    const picture = this.started.get(i) ?? this.frames[i].render();
    this.started.delete(i);
    return picture;
  }
}
