/**
 * Camera streams like devices' (docs/benchmark.md, "Camera streams"): from a seed, a timeline of frames for
 * simulated glasses wearers and kiosks, each with its ground truth (the spot in view, or none), its time and how to
 * render it. Nothing here touches the privacy layer: people move by daemon/eval/world/people.ts, not by the phantoms'
 * walk model.
 *
 * Glasses: a frame every 0.5-2 s. Standing at a spot, the view drifts slowly (a window of the spot's photo that moves
 * and turns by a percent or so per frame, the camera's exposure and white balance held per visit), now and then
 * blurred by a turn of the head. Walking, the camera sees scenes that are no spot (off-gallery photos, a new one
 * every few seconds, moving fast and often motion-blurred), and spots passed on the way for a few seconds each from
 * an oblique viewpoint. Frames go missing in bursts (dropouts).
 *
 * Kiosks: stills at random times, each a product (a spot) held up to the camera from another viewpoint (the camera
 * ranges of a query view), one to three stills per presentation, or something that is no product.
 */
import { createHash } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { seededRandom, type Random } from '../../util/random.js';
import type { DistortionOptions } from '../../augment/distort.js';
import { DEFAULT_PASS_MS, PERSON_KINDS, PERSON_PROFILES, planItineraries, type Activity, type PersonKind, type PersonProfile } from './people.js';
import type { FrameView, ShareWindow } from './render.js';

/** A spot of the world: where it is, how popular, and the photos frames of it are cut from. */
export interface WorldSpot {
  id: string;
  x: number;
  y: number;
  popularity: number;
  files: readonly string[];
}

export type DeviceKind = 'glasses' | 'kiosk';
export type FrameActivity = 'dwell' | 'pass' | 'walk' | 'browse' | 'still';

/** One frame a device's camera delivered: ground truth and how to render it. */
export interface WorldFrame {
  device: number;
  /** Simulated ms since the start. */
  t: number;
  /** The spot in view, or null for a frame of no spot. */
  spot: string | null;
  activity: FrameActivity;
  /**
   * Frames of one visit share this number (a dwell, a browse, one walking scene, one passed spot, one kiosk
   * presentation); numbers are unique per device and increase with time.
   */
  visit: number;
  view: FrameView;
}

export interface WorldDevice {
  index: number;
  kind: DeviceKind;
  /** Glasses only: who wears them. */
  person?: PersonKind;
  /** Glasses only: the wearer's itinerary (ground truth of the path). */
  activities?: Activity[];
  /** Frames delivered and frames lost to dropouts. */
  frames: number;
  dropped: number;
}

export interface WorldStream {
  seed: number;
  durationMs: number;
  devices: WorldDevice[];
  /** Every device's delivered frames, in time order (ties by device). */
  frames: WorldFrame[];
}

/** Dropouts as a two-state chain per frame: a frame is lost after a delivered one with `start`, after a lost one with `stay`. */
export interface DropoutModel {
  start: number;
  stay: number;
}

export interface WorldOptions {
  spots: readonly WorldSpot[];
  /** Photos of no spot: what glasses see between spots, and what is held up to a kiosk that is no product. */
  offGallery: readonly string[];
  seed: number;
  durationMs: number;
  /** Glasses wearers: a number (kinds in turn: tourist, commuter, shopper) or the kinds. Default 3. */
  people?: number | readonly PersonKind[];
  kiosks?: number;
  /** Share of a wearer's frames that show no spot. Default DEFAULT_WEARER_NO_SPOT_SHARE. */
  noSpotShare?: number;
  /** Share of a kiosk's stills that show no product. Default DEFAULT_KIOSK_NO_SPOT_SHARE. */
  kioskNoSpotShare?: number;
  /** Mean seconds between two kiosk presentations (exponential gaps). Default 45. */
  kioskGapS?: number;
  /** Default DEFAULT_DROPOUT; false for none. */
  dropout?: DropoutModel | false;
  /** Overrides of the people's profiles. */
  profiles?: Partial<Record<PersonKind, Partial<PersonProfile>>>;
}

/** Most of a wearer's day is not spent looking at a spot. */
export const DEFAULT_WEARER_NO_SPOT_SHARE = 0.6;
/** Most of what is held up to a kiosk is a product it knows. */
export const DEFAULT_KIOSK_NO_SPOT_SHARE = 0.2;
/** About 6 % of frames lost, in bursts of about three. */
export const DEFAULT_DROPOUT: Readonly<DropoutModel> = Object.freeze({ start: 0.02, stay: 0.7 });

/** How a held view moves from frame to frame (dwell, browse) or how a walking view does. */
interface DriftParams {
  /** Share of the photo's width (and height) in view at the start of a visit. */
  size: [number, number];
  /** Per-frame standard deviation of the window centre's move, as a share of the photo. */
  centreStep: number;
  /** Per-frame log-sd of the window's size. */
  scaleStep: number;
  /** Per-frame standard deviation of the camera's roll, degrees. */
  rollStepDeg: number;
  /** Pull back towards the visit's base view per frame (0: a free random walk). */
  revert: number;
  /** Chance that a frame is blurred by motion, and the blur it then gets. */
  blurChance: number;
  blurSigma: [number, number];
}

/** Standing at a spot: the head barely moves. */
const DWELL_DRIFT: Readonly<DriftParams> = Object.freeze<DriftParams>({
  size: [0.6, 0.85],
  centreStep: 0.015,
  scaleStep: 0.012,
  rollStepDeg: 0.5,
  revert: 0.1,
  blurChance: 0.08,
  blurSigma: [0.8, 1.8],
});

/** Walking: the view sweeps and is often blurred. */
const WALK_DRIFT: Readonly<DriftParams> = Object.freeze<DriftParams>({
  size: [0.5, 0.85],
  centreStep: 0.05,
  scaleStep: 0.04,
  rollStepDeg: 1.5,
  revert: 0.05,
  blurChance: 0.5,
  blurSigma: [0.8, 2.5],
});

/** Seconds a walking wearer keeps one scene of no spot in view before the next. */
const WALK_SCENE_S: [number, number] = [2, 8];

/** A device's camera: fixed properties (sensor width, noise) and the settings drawn per visit. */
interface Camera {
  outputWidth: number;
  noiseSigma: [number, number];
  jpegQuality: [number, number];
}

function drawCamera(random: Random, widths: [number, number]): Camera {
  const noise = 1 + 3 * random.next();
  return {
    outputWidth: Math.round(widths[0] + (widths[1] - widths[0]) * random.next()),
    noiseSigma: [noise, noise + 1.5],
    jpegQuality: [72, 90],
  };
}

function uniform(random: Random, [lo, hi]: readonly [number, number]): number {
  return lo + (hi - lo) * random.next();
}

/** A seed for rendering frame `n` of `device`: its own hash stream, disjoint from the harness's (views.ts). */
export function frameSeed(seed: number, device: number, n: number): number {
  return createHash('sha256').update(`world-frame\0${seed}\0${device}\0${n}`).digest().readUIntBE(0, 6);
}

function deviceRandom(seed: number, device: number): Random {
  return seededRandom(createHash('sha256').update(`world-device\0${seed}\0${device}`).digest().readUInt32BE(0));
}

/** One held view: a window of a photo that drifts around a base view, with camera settings fixed for the visit. */
class HeldView {
  private cx: number;
  private cy: number;
  private size: number;
  private roll: number;
  private readonly base: { cx: number; cy: number; size: number; roll: number };
  private readonly settings: DistortionOptions;

  constructor(
    readonly file: string,
    private readonly drift: DriftParams,
    camera: Camera,
    private readonly random: Random,
  ) {
    const size = uniform(random, drift.size);
    const cx = size / 2 + (1 - size) * random.next();
    const cy = size / 2 + (1 - size) * random.next();
    const roll = uniform(random, [-6, 6]);
    this.base = { cx, cy, size, roll };
    [this.cx, this.cy, this.size, this.roll] = [cx, cy, size, roll];
    const shear = uniform(random, [-0.05, 0.05]);
    const exposure = uniform(random, [0.75, 1.25]);
    const balance = uniform(random, [0.94, 1.06]);
    this.settings = {
      outputWidth: [camera.outputWidth, camera.outputWidth],
      shear: [shear - 0.004, shear + 0.004],
      exposure: [exposure * 0.98, exposure * 1.02],
      whiteBalance: [balance - 0.01, balance + 0.01],
      noiseSigma: camera.noiseSigma,
      jpegQuality: camera.jpegQuality,
    };
  }

  /** The view of the next frame. */
  next(seed: number): FrameView {
    const { random, drift, base } = this;
    const pull = (v: number, to: number, step: number) => v + drift.revert * (to - v) + step * random.normal();
    this.size = Math.min(1, Math.max(0.3, this.size * Math.exp(drift.scaleStep * random.normal() + drift.revert * Math.log(base.size / this.size))));
    const half = this.size / 2;
    this.cx = Math.min(1 - half, Math.max(half, pull(this.cx, base.cx, drift.centreStep)));
    this.cy = Math.min(1 - half, Math.max(half, pull(this.cy, base.cy, drift.centreStep)));
    this.roll = pull(this.roll, base.roll, drift.rollStepDeg);
    const blur = random.next() < drift.blurChance ? uniform(random, drift.blurSigma) : 0.4 * random.next();
    const window: ShareWindow = { left: this.cx - half, top: this.cy - half, width: this.size, height: this.size };
    return {
      file: this.file,
      window,
      camera: { ...this.settings, rotationDeg: [this.roll, this.roll], blurSigma: [blur, blur] },
      seed,
    };
  }
}

function peopleKinds(people: WorldOptions['people']): PersonKind[] {
  if (typeof people === 'object') return [...people];
  const n = people ?? 3;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`people must be an integer >= 0, got ${n}`);
  return Array.from({ length: n }, (_, i) => PERSON_KINDS[i % PERSON_KINDS.length]);
}

/** Frames lost to dropouts: a two-state chain over a device's frames. */
function dropoutChain(model: DropoutModel | false, random: Random): () => boolean {
  let lost = false;
  return () => {
    if (model === false) return false;
    lost = random.next() < (lost ? model.stay : model.start);
    return lost;
  };
}

/** Each wearer's profile and random source (the source then also drives the wearer's camera). */
function wearers(options: WorldOptions): { kind: PersonKind; profile: PersonProfile; random: Random }[] {
  return peopleKinds(options.people).map((kind, device) => ({
    kind,
    profile: { ...PERSON_PROFILES[kind], ...options.profiles?.[kind] },
    random: deviceRandom(options.seed, device),
  }));
}

/** The frames of one glasses wearer along the wearer's itinerary. */
function glassesFrames(
  device: number,
  wearer: { kind: PersonKind; profile: PersonProfile; random: Random },
  activities: Activity[],
  options: WorldOptions,
  byId: ReadonlyMap<string, WorldSpot>,
): { info: WorldDevice; frames: WorldFrame[] } {
  const { seed, durationMs, offGallery } = options;
  const { kind, profile, random } = wearer;
  const camera = drawCamera(random, [560, 720]);
  const lose = dropoutChain(options.dropout ?? DEFAULT_DROPOUT, random);
  const frames: WorldFrame[] = [];
  let dropped = 0;
  let n = 0;
  let visit = -1;
  // The view in front of the camera: which visit it belongs to, and how it moves.
  let current: { key: string; view: HeldView; spot: string | null; activity: FrameActivity; until: number } | undefined;
  const hold = (key: string, files: readonly string[], drift: DriftParams, spot: string | null, activity: FrameActivity, until = Infinity) => {
    if (current?.key !== key) {
      visit++;
      current = { key, view: new HeldView(random.pick(files), drift, camera, random), spot, activity, until };
    }
    return current;
  };
  let a = 0;
  for (let t = uniform(random, profile.frameGapS) * 1000; t < durationMs; t += uniform(random, profile.frameGapS) * 1000) {
    while (a < activities.length - 1 && activities[a].endMs <= t) a++;
    const act = activities[a];
    let held: NonNullable<typeof current>;
    if (act.kind === 'dwell') {
      held = hold(`dwell ${a}`, byId.get(act.spot)!.files, DWELL_DRIFT, act.spot, 'dwell');
    } else if (act.kind === 'browse') {
      held = hold(`browse ${a}`, offGallery, DWELL_DRIFT, null, 'browse');
    } else {
      const pass = act.passes.find((p) => Math.abs(p.atMs - t) <= DEFAULT_PASS_MS / 2);
      if (pass) {
        held = hold(`pass ${a} ${pass.spot}`, byId.get(pass.spot)!.files, WALK_DRIFT, pass.spot, 'pass');
      } else {
        const scene = current?.activity === 'walk' && t < current.until ? current.key : `walk ${a} ${t}`;
        held = hold(scene, offGallery, WALK_DRIFT, null, 'walk', t + uniform(random, WALK_SCENE_S) * 1000);
      }
    }
    // The view moves whether or not the frame arrives.
    const view = held.view.next(frameSeed(seed, device, n++));
    if (lose()) {
      dropped++;
      continue;
    }
    frames.push({ device, t: Math.round(t), spot: held.spot, activity: held.activity, visit, view });
  }
  return { info: { index: device, kind: 'glasses', person: kind, activities, frames: frames.length, dropped }, frames };
}

/** The stills of one kiosk. */
function kioskFrames(device: number, options: WorldOptions): { info: WorldDevice; frames: WorldFrame[] } {
  const { seed, durationMs, spots, offGallery } = options;
  const random = deviceRandom(seed, device);
  const share = options.kioskNoSpotShare ?? DEFAULT_KIOSK_NO_SPOT_SHARE;
  if (!(share >= 0 && share <= 1)) throw new RangeError(`kioskNoSpotShare must be in [0, 1], got ${share}`);
  const meanGapMs = (options.kioskGapS ?? 45) * 1000;
  const camera = drawCamera(random, [800, 1024]);
  const lose = dropoutChain(options.dropout ?? DEFAULT_DROPOUT, random);
  const totalPopularity = spots.reduce((s, spot) => s + spot.popularity, 0);
  const frames: WorldFrame[] = [];
  let dropped = 0;
  let n = 0;
  let visit = 0;
  for (let t = -Math.log(1 - random.next()) * meanGapMs; t < durationMs; t += -Math.log(1 - random.next()) * meanGapMs, visit++) {
    let spot: WorldSpot | null = null;
    if (random.next() >= share) {
      let target = random.next() * totalPopularity;
      spot = spots.find((s) => (target -= s.popularity) < 0) ?? spots[spots.length - 1];
    }
    const file = spot ? random.pick(spot.files) : random.pick(offGallery);
    const stills = 1 + random.int(3);
    for (let i = 0; i < stills; i++) {
      const at = t + i * uniform(random, [1, 2]) * 1000;
      // Each still its own viewpoint: the query camera's ranges, at this kiosk's resolution and noise.
      const view: FrameView = { file, camera: { outputWidth: [camera.outputWidth, camera.outputWidth], noiseSigma: camera.noiseSigma }, seed: frameSeed(seed, device, n++) };
      if (lose()) {
        dropped++;
        continue;
      }
      if (at < durationMs) frames.push({ device, t: Math.round(at), spot: spot?.id ?? null, activity: 'still', visit, view });
    }
  }
  return { info: { index: device, kind: 'kiosk', frames: frames.length, dropped }, frames };
}

/**
 * One frame of a fresh dwell at a photo, from a seed: a view like the wearers' while they stand at a spot (window,
 * camera, lens), for whoever needs "a query of this spot" outside a stream — the recognizer's view models and the
 * adversary's own views in the evaluation, so both learn from views like the ones the devices send. The draw is
 * seeded by `seed` and the file's name with its folder's name, never the whole path: keyed by the path, a run's world
 * depended on where the checkout or the photos lay (found 2026-12-06: the same 3-wearer run on the samples read
 * `server_top1` 0.476 in one checkout and 0.270 in another).
 */
export function dwellViewOf(file: string, seed: number): FrameView {
  const key = `${basename(dirname(file))}/${basename(file)}`;
  const random = seededRandom(createHash('sha256').update(`world-dwell-view\0${seed}\0${key}`).digest().readUInt32BE(0));
  return new HeldView(file, DWELL_DRIFT, drawCamera(random, [560, 720]), random).next(seed);
}

/** The world's devices and their frames for `durationMs` from `seed`; the same options always give the same stream. */
export function simulateWorld(options: WorldOptions): WorldStream {
  const { spots, offGallery, durationMs, seed } = options;
  if (spots.length === 0) throw new RangeError('the world needs at least one spot');
  if (offGallery.length === 0) throw new RangeError('the world needs at least one off-gallery photo for frames of no spot');
  if (!(durationMs > 0)) throw new RangeError(`durationMs must be > 0, got ${durationMs}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  for (const s of spots) if (s.files.length === 0) throw new RangeError(`spot ${s.id} has no photo`);
  const byId = new Map(spots.map((s) => [s.id, s]));
  const kiosks = options.kiosks ?? 0;
  if (!Number.isSafeInteger(kiosks) || kiosks < 0) throw new RangeError(`kiosks must be an integer >= 0, got ${kiosks}`);

  const people = wearers(options);
  const itineraries = planItineraries({
    people,
    spots,
    durationMs,
    noSpotShare: options.noSpotShare ?? DEFAULT_WEARER_NO_SPOT_SHARE,
  });
  const parts = people.map((wearer, i) => glassesFrames(i, wearer, itineraries[i], options, byId));
  for (let k = 0; k < kiosks; k++) parts.push(kioskFrames(parts.length, options));
  const frames = parts.flatMap((p) => p.frames).sort((a, b) => a.t - b.t || a.device - b.device);
  return { seed, durationMs, devices: parts.map((p) => p.info), frames };
}
