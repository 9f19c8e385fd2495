/**
 * The evaluation's simulated users and their cover traffic, in simulated time (DESIGN §7). Each user is a `Walker`
 * of the same `WalkModel` the phantoms use (so a phantom is, by construction, a plausible user), takes photos while
 * dwelling at a spot, and owns a slot schedule like the device's QueryScheduler: a slot carries the latest photo
 * taken since the previous slot (older ones are superseded, like the camera mailbox) or, with none waiting, a dummy.
 * Nothing here touches the network or pixels: it only says who sends what when.
 */
import type { Random } from '../util/random.js';
import { Walker, type WalkModel, type WalkSegment } from '../privacy/walk-model.js';

export type SlotMode = 'constant' | 'poisson';

/**
 * How a user's camera sees spots. 'continuous' is smart glasses: a recognisable frame every few seconds wherever the
 * user is, of the spot nearest to them (standing at it, or passing it on the way) — the way a phantom is seen.
 * 'photos' is someone who takes a picture now and then, only while standing at a spot: the user is then never seen
 * between spots, which phantoms walking on their own cannot imitate (docs/privacy.md, "Two cameras").
 */
export type CameraModel = 'continuous' | 'photos';

/** Seconds between two frames (continuous) or photos, drawn uniformly, per camera model. */
export const CAMERA_GAPS_S: Readonly<Record<CameraModel, readonly [number, number]>> = Object.freeze({
  continuous: [1, 4] as const,
  photos: [20, 90] as const,
});

export interface TimelineOptions {
  model: WalkModel;
  users: number;
  /** Simulated duration in ms, the same for every user. */
  durationMs: number;
  /** Slots per second (mean rate for 'poisson'). */
  ratePerSecond: number;
  mode: SlotMode;
  /** Default 'continuous'. */
  camera?: CameraModel;
  /** Seconds between frames or photos, drawn uniformly. Default `CAMERA_GAPS_S[camera]`. */
  photoGapS?: readonly [number, number];
  random: Random;
}

/** A photo a simulated user took: ground truth, never sent. */
export interface Photo {
  user: number;
  spot: string;
  /** Simulated ms. */
  t: number;
  /** Number of the photo in the run, for its render seed. */
  index: number;
}

/** One slot on the wire: the simulated user's query at simulated time t; `photo` null means a dummy. */
export interface Slot {
  user: number;
  t: number;
  photo: Photo | null;
}

export interface Timeline {
  /** Every user's slots, merged in time order (the harness sends them in this order). */
  slots: Slot[];
  /** Every photo taken, including superseded ones. */
  photos: Photo[];
  /** Each user's dwell segments (ground truth of the path). */
  dwells: WalkSegment[][];
}

export function simulateTimeline(options: TimelineOptions): Timeline {
  const { model, users, durationMs, ratePerSecond, mode, random } = options;
  const camera = options.camera ?? 'continuous';
  const [gapMin, gapMax] = options.photoGapS ?? CAMERA_GAPS_S[camera];
  if (!Number.isSafeInteger(users) || users < 1) throw new RangeError(`users must be an integer >= 1, got ${users}`);
  if (!(durationMs > 0)) throw new RangeError(`the simulated duration must be > 0 ms, got ${durationMs}`);
  if (!(ratePerSecond > 0)) throw new RangeError(`the slot rate must be > 0 per second, got ${ratePerSecond}`);
  if (!(gapMin > 0 && gapMax >= gapMin)) throw new RangeError(`photo gaps must satisfy 0 < min <= max, got [${gapMin}, ${gapMax}]`);

  const photos: Photo[] = [];
  const dwells: WalkSegment[][] = [];
  const slots: Slot[] = [];
  for (let user = 0; user < users; user++) {
    const segments: WalkSegment[] = [];
    const walker = new Walker(model, random, { atMs: 0, onSegment: (s) => segments.push(s) });
    const userPhotos: Photo[] = [];
    // Photo times only ever increase, so the walker is asked forward in time and the segment log can be scanned once.
    let segment = 0;
    for (let t = gap(random, gapMin, gapMax); t < durationMs; t += gap(random, gapMin, gapMax)) {
      const nearest = walker.spotAt(t);
      while (segments[segment].endMs <= t) segment++;
      const standing = segments[segment].kind === 'dwell';
      if (camera === 'continuous' || standing) {
        userPhotos.push({ user, spot: standing ? segments[segment].spot : nearest, t, index: photos.length + userPhotos.length });
      }
    }
    walker.advance(durationMs);
    dwells.push(segments.filter((s) => s.kind === 'dwell' && s.startMs < durationMs));
    photos.push(...userPhotos);

    // The slot schedule: only the newest photo since the previous slot goes out.
    const meanMs = 1000 / ratePerSecond;
    let next = 0;
    // A random phase, so that constant-rate users do not all fire at the same instants.
    const first = mode === 'constant' ? random.next() * meanMs : slotGap(mode, meanMs, random);
    for (let t = first; t < durationMs; t += slotGap(mode, meanMs, random)) {
      let latest: Photo | null = null;
      while (next < userPhotos.length && userPhotos[next].t <= t) latest = userPhotos[next++];
      slots.push({ user, t, photo: latest });
    }
  }
  // Stable sort: simultaneous slots keep user order, so a run is reproducible.
  slots.sort((a, b) => a.t - b.t);
  return { slots, photos, dwells };
}

function gap(random: Random, min: number, max: number): number {
  return (min + (max - min) * random.next()) * 1000;
}

/** Like QueryScheduler.gapMs: a constant gap, or an exponential one for a Poisson process. */
function slotGap(mode: SlotMode, meanMs: number, random: Random): number {
  return mode === 'constant' ? meanMs : -Math.log(1 - random.next()) * meanMs;
}
