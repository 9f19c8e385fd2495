/**
 * Views of a spot from other camera positions (docs/benchmark.md, "Viewpoint"): the same scene as the spot's
 * enrolment window, seen from a camera that stood elsewhere. Each view is rendered from the full photograph, so a
 * shifted or wider view shows the real neighbouring scene, never padding:
 *
 * - the view's centre is the window's centre moved by 10-20 % of the window's size in a random direction;
 * - the camera stands farther away: the spot appears at 0.75-1.0 of its enrolment size (the view spans 1/scale of
 *   the window per side);
 * - the camera looks at the scene obliquely: the scene plane is tilted by up to 25° about an axis in it (a camera
 *   that walked around a shop front, or looks up at a sign), which makes the view a perspective warp (homography)
 *   of the photo; the view is shrunk about the window's centre as far as needed to stay inside the photo;
 * - another light and colour cast (exposure, per-channel gains, gamma, a brightness gradient);
 * - a partial occluder: a rectangle or ellipse filled with a patch of a photograph that is no spot, off-centre.
 *
 * Pure geometry and pixels, on raw RGB; scripts/build-benchmark.mjs decodes, picks spots and writes the files. The
 * camera's own distortions (daemon/augment/distort.ts) come on top at evaluation time, as for every query.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { seededRandom, type Random } from '../../util/random.js';
import type { PixelWindow } from './windows.js';

export type Point = [number, number];

/** Row-major 3×3 matrix [h0 h1 h2; h3 h4 h5; h6 h7 h8] acting on (x, y, 1). */
export type Homography = number[];

/** Interleaved 8-bit RGB, row-major, no padding. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ViewpointRanges {
  /** How far the view's centre moves from the window's centre, as a share of the window's width and height. */
  shift: [number, number];
  /** Apparent size of the spot in the view relative to the enrolment photo (the view spans 1/scale of the window). */
  scale: [number, number];
  /** Tilt of the scene plane in degrees, about an axis of random direction in the plane. */
  tiltDeg: [number, number];
  /** Horizontal field of view of the camera the perspective is computed for. */
  fovDeg: number;
  /** Overall gain on linear-ish pixel values. */
  exposure: [number, number];
  /** Per-channel gain (colour cast) on top of exposure. */
  channelGain: [number, number];
  /** Tone curve exponent, drawn log-uniformly: v' = v^gamma. */
  gamma: [number, number];
  /** Brightness gradient across the view: ±this at the view's edges (light from one side). */
  lightGradient: [number, number];
  /** Share of the view's area the occluder covers; [0, 0]: none. */
  occluderShare: [number, number];
  /** Width / height of the occluder, drawn log-uniformly. */
  occluderAspect: [number, number];
  /** The occluder's centre lies outside the central box of ± this share of the view around the view's centre. */
  occluderOffCentre: number;
  /** Widest view in pixels (narrower views keep the photo's resolution). */
  maxWidth: number;
}

export const DEFAULT_VIEWPOINT_RANGES: Readonly<ViewpointRanges> = Object.freeze<ViewpointRanges>({
  shift: [0.1, 0.2],
  scale: [0.75, 1],
  tiltDeg: [0, 25],
  fovDeg: 60,
  exposure: [0.6, 1.4],
  channelGain: [0.85, 1.15],
  gamma: [0.8, 1.25],
  lightGradient: [0, 0.2],
  occluderShare: [0.05, 0.2],
  occluderAspect: [1 / 3, 3],
  occluderOffCentre: 0.2,
  maxWidth: 640,
});

export interface ViewLight {
  exposure: number;
  gains: [number, number, number];
  gamma: number;
  /** Brightness is multiplied by 1 + gradient · (position along `gradientAngle`, -1 at one edge, 1 at the other). */
  gradient: number;
  gradientAngle: number;
}

export interface ViewOccluder {
  shape: 'rect' | 'ellipse';
  /** The share of the view's area asked for. */
  share: number;
  /** Centre and size in pixels of the view. */
  cx: number;
  cy: number;
  width: number;
  height: number;
  /** Index of the occluder photo in the caller's pool. */
  source: number;
  /**
   * The patch of it painted in: the largest region of the occluder photo with the shape's aspect, scaled by `zoom`,
   * at `x`, `y` (0..1) of the free margin.
   */
  patch: { zoom: number; x: number; y: number };
}

/** Everything one view is rendered from; all of it drawn from one seed. */
export interface ViewPlan {
  /** Where the view's corners (top-left, top-right, bottom-right, bottom-left) fall in the photo, in pixels. */
  quad: [Point, Point, Point, Point];
  /** Output size in pixels. */
  width: number;
  height: number;
  /** Width of the untilted view in pixels of the photo (its resolution before resampling to `width`). */
  viewWidthPx: number;
  /** The centre's move as shares of the window's width and height, as realised (after fitting into the photo). */
  shift: [number, number];
  /** Apparent size of the spot as realised: the drawn scale divided by the shrink `fit`. */
  scale: number;
  /** Tilt of the scene plane in degrees: about the vertical axis (yaw) and the horizontal one (pitch). */
  yawDeg: number;
  pitchDeg: number;
  /** How far the view was shrunk about the window's centre to stay inside the photo (1: not at all). */
  fit: number;
  light: ViewLight;
  occluder: ViewOccluder | null;
}

/** A seed for view `view` of `spot`: sha256 of the run seed, spot and view number, 48 bits. */
export function viewSeed(seed: number, spot: string, view: number): number {
  return createHash('sha256').update(`benchmark-viewpoint\0${seed}\0${spot}\0${view}`).digest().readUIntBE(0, 6);
}

/** The homography mapping each of four points `from[i]` to `to[i]` (h8 = 1; no three points collinear). */
export function homographyFromPoints(from: readonly Point[], to: readonly Point[]): Homography {
  if (from.length !== 4 || to.length !== 4) throw new RangeError('a homography needs exactly four point pairs');
  // Eight equations in h0..h7: x' (h6 x + h7 y + 1) = h0 x + h1 y + h2, and the same for y'.
  const a: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i];
    const [u, v] = to[i];
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  // Gaussian elimination with partial pivoting on the 8×9 augmented matrix.
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let row = col + 1; row < 8; row++) if (Math.abs(a[row][col]) > Math.abs(a[pivot][col])) pivot = row;
    if (Math.abs(a[pivot][col]) < 1e-12) throw new RangeError('degenerate points: three of them are collinear');
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let row = 0; row < 8; row++) {
      if (row === col) continue;
      const f = a[row][col] / a[col][col];
      if (f === 0) continue;
      for (let k = col; k < 9; k++) a[row][k] -= f * a[col][k];
    }
  }
  const h = a.map((row, i) => row[8] / row[i]);
  return [...h, 1];
}

export function applyHomography(h: Homography, x: number, y: number): Point {
  const w = h[6] * x + h[7] * y + h[8];
  return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w];
}

/** The corners of a `width` × `height` image: top-left, top-right, bottom-right, bottom-left. */
export function corners(width: number, height: number): [Point, Point, Point, Point] {
  return [
    [0, 0],
    [width, 0],
    [width, height],
    [0, height],
  ];
}

/**
 * Where the corners of a view fall on the scene, relative to the view's centre, when the scene plane is tilted by
 * `yawDeg` about the vertical axis and `pitchDeg` about the horizontal one. The camera (horizontal field of view
 * `fovDeg`) looks at the plane's point at the view's centre from the distance at which an untilted plane fills
 * `width` × `height`: no tilt gives the corners ±width/2, ±height/2 themselves. Tilted, the far side of the view
 * reaches farther and wider into the scene than the near side (the keystone of an oblique view).
 */
export function tiltOffsets(width: number, height: number, yawDeg: number, pitchDeg: number, fovDeg: number): [Point, Point, Point, Point] {
  const f = width / 2 / Math.tan((fovDeg * Math.PI) / 360);
  const [cy, sy] = [Math.cos((yawDeg * Math.PI) / 180), Math.sin((yawDeg * Math.PI) / 180)];
  const [cp, sp] = [Math.cos((pitchDeg * Math.PI) / 180), Math.sin((pitchDeg * Math.PI) / 180)];
  // R = Ry(yaw) · Rx(pitch): its columns are the plane's axes in the camera's frame and the plane's normal.
  const ex = [cy, 0, -sy];
  const ey = [sy * sp, cp, cy * sp];
  const n = [sy * cp, -sp, cy * cp];
  const offsets = corners(width, height).map(([x, y]): Point => {
    const ray = [x - width / 2, y - height / 2, f];
    const t = (n[2] * f) / (n[0] * ray[0] + n[1] * ray[1] + n[2] * ray[2]);
    if (!(t > 0)) throw new RangeError(`tilt ${yawDeg}°/${pitchDeg}° turns the plane away from a ${fovDeg}° camera`);
    const d = [t * ray[0], t * ray[1], t * ray[2] - f];
    return [d[0] * ex[0] + d[1] * ex[1] + d[2] * ex[2], d[0] * ey[0] + d[1] * ey[1] + d[2] * ey[2]];
  });
  return offsets as [Point, Point, Point, Point];
}

/**
 * Draws one view of `window` of a `photo.width` × `photo.height` photo. The draws come in a fixed order (geometry,
 * light, occluder), so a range changed to a fixed value leaves the other draws as they were. `occluderSources` is
 * the size of the caller's occluder pool (0: no occluder).
 */
export function planView(
  photo: { width: number; height: number },
  window: PixelWindow,
  random: Random,
  options: { ranges?: Partial<ViewpointRanges>; occluderSources?: number } = {},
): ViewPlan {
  const r: ViewpointRanges = { ...DEFAULT_VIEWPOINT_RANGES, ...options.ranges };
  const draw = ([lo, hi]: [number, number]): number => lo + (hi - lo) * random.next();
  const logDraw = ([lo, hi]: [number, number]): number => Math.exp(draw([Math.log(lo), Math.log(hi)]));
  const shift = draw(r.shift);
  const shiftAngle = 2 * Math.PI * random.next();
  const scale = draw(r.scale);
  const tilt = draw(r.tiltDeg);
  const tiltAxis = 2 * Math.PI * random.next();
  const yawDeg = tilt * Math.cos(tiltAxis);
  const pitchDeg = tilt * Math.sin(tiltAxis);
  const light: ViewLight = {
    exposure: draw(r.exposure),
    gains: [draw(r.channelGain), draw(r.channelGain), draw(r.channelGain)],
    gamma: logDraw(r.gamma),
    gradient: draw(r.lightGradient),
    gradientAngle: 2 * Math.PI * random.next(),
  };

  // Geometry: the untilted view spans window/scale around the shifted centre; the tilt makes it a quadrilateral.
  const vw = window.width / scale;
  const vh = window.height / scale;
  const offsets = tiltOffsets(vw, vh, yawDeg, pitchDeg, r.fovDeg);
  const c0: Point = [window.left + window.width / 2, window.top + window.height / 2];
  const d: Point = [shift * window.width * Math.cos(shiftAngle), shift * window.height * Math.sin(shiftAngle)];
  // Shrinking by k about the window's centre (centre c0 + k·d, corners k·offsets) keeps the view's shape and its
  // shift relative to its size; c0 lies inside the photo, so some k > 0 always fits. Where the drawn direction runs
  // out of the photo, the mirrored one (the camera stepped the other way) is taken if it needs less shrinking.
  const fitFor = (dx: number, dy: number): number => {
    let k = 1;
    const limit = (c: number, size: number, move: number, lo: number, hi: number): void => {
      if (move + lo < 0) k = Math.min(k, c / -(move + lo));
      if (move + hi > 0) k = Math.min(k, (size - c) / (move + hi));
    };
    const xs = offsets.map((p) => p[0]);
    const ys = offsets.map((p) => p[1]);
    limit(c0[0], photo.width, dx, Math.min(...xs), Math.max(...xs));
    limit(c0[1], photo.height, dy, Math.min(...ys), Math.max(...ys));
    return k;
  };
  let best = { dx: d[0], dy: d[1], k: fitFor(d[0], d[1]) };
  for (const [sx, sy] of [
    [-1, 1],
    [1, -1],
    [-1, -1],
  ]) {
    const k = fitFor(sx * d[0], sy * d[1]);
    if (k > best.k + 1e-9) best = { dx: sx * d[0], dy: sy * d[1], k };
  }
  const k = best.k * (1 - 1e-9); // rounding must not put a corner a hair outside
  const centre: Point = [c0[0] + k * best.dx, c0[1] + k * best.dy];
  const quad = offsets.map(([x, y]): Point => [centre[0] + k * x, centre[1] + k * y]) as ViewPlan['quad'];
  const viewWidthPx = k * vw;
  const width = Math.max(8, Math.min(r.maxWidth, Math.round(viewWidthPx)));
  const height = Math.max(8, Math.round((width * vh) / vw));

  return {
    quad,
    width,
    height,
    viewWidthPx,
    shift: [(k * best.dx) / window.width, (k * best.dy) / window.height],
    scale: scale / k,
    yawDeg,
    pitchDeg,
    fit: k,
    light,
    occluder: planOccluder(width, height, random, r, options.occluderSources ?? 0),
  };
}

function planOccluder(width: number, height: number, random: Random, r: ViewpointRanges, sources: number): ViewOccluder | null {
  const share = r.occluderShare[0] + (r.occluderShare[1] - r.occluderShare[0]) * random.next();
  const shape = random.next() < 0.5 ? 'rect' : 'ellipse';
  const [la, ha] = r.occluderAspect.map(Math.log);
  const aspect = Math.exp(la + (ha - la) * random.next());
  const source = sources > 0 ? random.int(sources) : 0;
  const zoom = 0.3 + 0.7 * random.next();
  const [px, py] = [random.next(), random.next()];
  if (share <= 0 || sources === 0) return null;
  // Bounding box of the shape: an ellipse covers π/4 of it.
  const boxArea = ((shape === 'ellipse' ? 4 / Math.PI : 1) * share * width * height);
  let w = Math.sqrt(boxArea * aspect);
  let h = boxArea / w;
  if (w > 0.9 * width) [w, h] = [0.9 * width, boxArea / (0.9 * width)];
  if (h > 0.9 * height) [w, h] = [boxArea / (0.9 * height), 0.9 * height];
  w = Math.min(w, width);
  // Off-centre: the centre lies outside the central box; candidates in order, else the most off-centre one.
  let best: { cx: number; cy: number; off: number } | null = null;
  for (let i = 0; i < 64; i++) {
    const cx = w / 2 + random.next() * (width - w);
    const cy = h / 2 + random.next() * (height - h);
    const off = Math.max(Math.abs(cx / width - 0.5), Math.abs(cy / height - 0.5));
    if (!best || off > best.off) best = { cx, cy, off };
    if (off >= r.occluderOffCentre) break;
  }
  return { shape, share, cx: best!.cx, cy: best!.cy, width: w, height: h, source, patch: { zoom, x: px, y: py } };
}

/** Bilinear sample of channel `c` at continuous pixel coordinates (pixel centres at integer + 0.5), edges clamped. */
function sampler(src: RawImage): (x: number, y: number, out: Uint8Array, at: number) => void {
  const { data, width, height } = src;
  const stride = width * 3;
  return (x, y, out, at) => {
    let fx = x - 0.5;
    let fy = y - 0.5;
    fx = fx < 0 ? 0 : fx > width - 1 ? width - 1 : fx;
    fy = fy < 0 ? 0 : fy > height - 1 ? height - 1 : fy;
    const x0 = Math.floor(fx);
    const y0 = Math.floor(fy);
    const x1 = x0 + 1 < width ? x0 + 1 : x0;
    const y1 = y0 + 1 < height ? y0 + 1 : y0;
    const ax = fx - x0;
    const ay = fy - y0;
    const p00 = y0 * stride + x0 * 3;
    const p10 = y0 * stride + x1 * 3;
    const p01 = y1 * stride + x0 * 3;
    const p11 = y1 * stride + x1 * 3;
    for (let c = 0; c < 3; c++) {
      const top = data[p00 + c] + (data[p10 + c] - data[p00 + c]) * ax;
      const bottom = data[p01 + c] + (data[p11 + c] - data[p01 + c]) * ax;
      out[at + c] = Math.round(top + (bottom - top) * ay);
    }
  };
}

/**
 * Inverse-mapping perspective warp: output pixel (i, j) takes the bilinear sample of `src` at h(i + 0.5, j + 0.5),
 * where `h` maps output coordinates to source coordinates (both with pixel edges at integers). Outside the source
 * the edge pixels repeat.
 */
export function warpPerspective(src: RawImage, h: Homography, width: number, height: number): RawImage {
  const out = new Uint8Array(width * height * 3);
  const sample = sampler(src);
  for (let j = 0; j < height; j++) {
    const v = j + 0.5;
    let nx = h[0] * 0.5 + h[1] * v + h[2];
    let ny = h[3] * 0.5 + h[4] * v + h[5];
    let nw = h[6] * 0.5 + h[7] * v + h[8];
    let at = j * width * 3;
    for (let i = 0; i < width; i++) {
      sample(nx / nw, ny / nw, out, at);
      nx += h[0];
      ny += h[3];
      nw += h[6];
      at += 3;
    }
  }
  return { data: out, width, height };
}

/** The pixels an occluder covers in a `width` × `height` view: 1 where covered (pixel centres inside the shape). */
export function occluderMask(occluder: ViewOccluder, width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const { cx, cy } = occluder;
  const rx = occluder.width / 2;
  const ry = occluder.height / 2;
  const y0 = Math.max(0, Math.floor(cy - ry));
  const y1 = Math.min(height, Math.ceil(cy + ry));
  const x0 = Math.max(0, Math.floor(cx - rx));
  const x1 = Math.min(width, Math.ceil(cx + rx));
  for (let y = y0; y < y1; y++) {
    const dy = (y + 0.5 - cy) / ry;
    for (let x = x0; x < x1; x++) {
      const dx = (x + 0.5 - cx) / rx;
      const inside = occluder.shape === 'rect' ? Math.abs(dx) < 1 && Math.abs(dy) < 1 : dx * dx + dy * dy < 1;
      if (inside) mask[y * width + x] = 1;
    }
  }
  return mask;
}

/** Paints the occluder into `view` (in place): its patch of `source`, scaled (not stretched) onto the shape's box. */
export function paintOccluder(view: RawImage, occluder: ViewOccluder, source: RawImage): void {
  const mask = occluderMask(occluder, view.width, view.height);
  const sample = sampler(source);
  const aspect = occluder.width / occluder.height;
  const fitWidth = Math.min(source.width, source.height * aspect);
  const pw = fitWidth * occluder.patch.zoom;
  const ph = (fitWidth / aspect) * occluder.patch.zoom;
  const pl = occluder.patch.x * (source.width - pw);
  const pt = occluder.patch.y * (source.height - ph);
  const left = occluder.cx - occluder.width / 2;
  const top = occluder.cy - occluder.height / 2;
  for (let y = 0; y < view.height; y++) {
    for (let x = 0; x < view.width; x++) {
      if (!mask[y * view.width + x]) continue;
      const u = pl + (pw * (x + 0.5 - left)) / occluder.width;
      const v = pt + (ph * (y + 0.5 - top)) / occluder.height;
      sample(u, v, view.data, (y * view.width + x) * 3);
    }
  }
}

/** Applies the light and colour cast in place: v' = 255 · exposure · gain · gradient · (v / 255)^gamma. */
export function applyLight(view: RawImage, light: ViewLight): void {
  const curve = new Float64Array(256);
  for (let v = 0; v < 256; v++) curve[v] = 255 * (v / 255) ** light.gamma;
  const gx = Math.cos(light.gradientAngle);
  const gy = Math.sin(light.gradientAngle);
  const { data, width, height } = view;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const along = 2 * (((x + 0.5) / width - 0.5) * gx + ((y + 0.5) / height - 0.5) * gy);
      const gain = light.exposure * (1 + light.gradient * along);
      const at = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = Math.round(curve[data[at + c]] * gain * light.gains[c]);
        data[at + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
}

/**
 * The view's pixels: the photo warped onto the view (a view much smaller than its footprint on the photo is first
 * resampled by sharp to about the view's resolution, so the bilinear warp does not alias), then the occluder, then
 * the light (which falls on the occluder too: it stands in the same scene).
 */
export async function renderViewPixels(photo: RawImage, plan: ViewPlan, occluders: readonly RawImage[] = []): Promise<RawImage> {
  let source = photo;
  let quad: Point[] = plan.quad;
  const ratio = plan.width / plan.viewWidthPx;
  if (ratio < 0.9) {
    const xs = quad.map((p) => p[0]);
    const ys = quad.map((p) => p[1]);
    const left = Math.max(0, Math.floor(Math.min(...xs)) - 2);
    const top = Math.max(0, Math.floor(Math.min(...ys)) - 2);
    const right = Math.min(photo.width, Math.ceil(Math.max(...xs)) + 2);
    const bottom = Math.min(photo.height, Math.ceil(Math.max(...ys)) + 2);
    const width = Math.max(1, Math.round((right - left) * ratio));
    const height = Math.max(1, Math.round((bottom - top) * ratio));
    const data = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
      .extract({ left, top, width: right - left, height: bottom - top })
      .resize({ width, height, fit: 'fill' })
      .raw()
      .toBuffer();
    const sx = width / (right - left);
    const sy = height / (bottom - top);
    quad = quad.map(([x, y]): Point => [(x - left) * sx, (y - top) * sy]);
    source = { data, width, height };
  }
  const view = warpPerspective(source, homographyFromPoints(corners(plan.width, plan.height), quad), plan.width, plan.height);
  if (plan.occluder) {
    const pool = occluders[plan.occluder.source];
    if (!pool) throw new RangeError(`occluder photo ${plan.occluder.source} is not in the pool of ${occluders.length}`);
    paintOccluder(view, plan.occluder, pool);
  }
  applyLight(view, plan.light);
  return view;
}

/** The view as JPEG bytes (quality 92 by default): the same plan and photos always give the same bytes. */
export async function renderView(photo: RawImage, plan: ViewPlan, occluders: readonly RawImage[] = [], quality = 92): Promise<Buffer> {
  const view = await renderViewPixels(photo, plan, occluders);
  return sharp(view.data, { raw: { width: view.width, height: view.height, channels: 3 } }).jpeg({ quality, mozjpeg: false }).toBuffer();
}

/** planView with the generator of viewSeed(seed, spot, view). */
export function planSpotView(
  photo: { width: number; height: number },
  window: PixelWindow,
  seed: number,
  spot: string,
  view: number,
  options: { ranges?: Partial<ViewpointRanges>; occluderSources?: number } = {},
): ViewPlan {
  return planView(photo, window, seededRandom(viewSeed(seed, spot, view)), options);
}
