/**
 * Windows of a photograph as spots of their own (docs/benchmark.md, "Windows"): a large benchmark cut from few
 * photographs, where neighbouring spots are realistic confusers of each other (the same light, the same camera, the
 * same kind of scene), the way the shops of one street are. A window is a rectangle of the photo; two windows of one
 * photo may overlap, but never by more than `maxIou` (intersection over union), or they would be one scene under
 * two names. Pure geometry and statistics: scripts/build-benchmark.mjs does the decoding and writing.
 */
import { seededRandom } from '../../util/random.js';

/** A rectangle in pixels of the photo it is cut from. */
export interface PixelWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface WindowRules {
  /** Largest intersection over union of two windows of one photo (the whole photo counts as a window too). */
  maxIou: number;
  /** Share of the photo's area a window covers, drawn log-uniformly. */
  areaShare: [number, number];
  /** Width / height of a window (a camera frame's shape). */
  aspect: number;
  /** Narrowest window in pixels of the photo: smaller ones would be upscaled blur by every camera view. */
  minWidthPx: number;
  /** At most this many windows per photo. */
  maxWindows: number;
  /** Candidate windows drawn per photo before giving up. */
  tries: number;
  /** Least detail (DetailMap, on a THUMBNAIL_WIDTH thumbnail) inside a window: plain sky, fog or wall is no spot. */
  minDetail: number;
}

/** Width of the grey thumbnail a DetailMap is built from (minDetail is calibrated at this size). */
export const THUMBNAIL_WIDTH = 256;

export const DEFAULT_WINDOW_RULES: Readonly<WindowRules> = Object.freeze<WindowRules>({
  maxIou: 0.3,
  areaShare: [0.04, 0.25],
  aspect: 4 / 3,
  minWidthPx: 320,
  maxWindows: 50,
  tries: 4000,
  minDetail: 3,
});

/**
 * The extra windows of the 10,000-spot gallery (docs/benchmark.md, "debian-windows-10k"): cut after the
 * DEFAULT_WINDOW_RULES windows of the same photo, which they must respect (`taken` of pickWindows), from a decode
 * of the photo at up to 4096 px. Relaxed only in size and number: windows down to 0.5 % of the photo's area and
 * 160 px of that decode wide (a distant shop sign), as many as fit among 400,000 candidates (the cap is never
 * reached: the photos fill up at 68-457); the overlap rule (IoU ≤ 0.3 against every window of the photo, the
 * whole photo and the DEFAULT_WINDOW_RULES ones included) and the detail threshold are the same.
 */
export const EXTRA_WINDOW_RULES: Readonly<WindowRules> = Object.freeze<WindowRules>({
  ...DEFAULT_WINDOW_RULES,
  areaShare: [0.005, 0.25],
  minWidthPx: 160,
  maxWindows: 1000,
  tries: 400_000,
});

/** Intersection over union of two rectangles (0 when disjoint or degenerate). */
export function iou(a: PixelWindow, b: PixelWindow): number {
  const w = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const h = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * How much detail a photo has where, from a small grey thumbnail: the mean absolute difference between neighbouring
 * pixels (|dx| + |dy|, 8-bit levels) by summed-area table, so any window costs four look-ups. Plain sky, fog, a
 * wall or a smooth gradient score low; edges and texture score high. `grey` is one byte per pixel, row-major,
 * `width` × `height`; windows are given in pixels of a photo of `photoWidth` × `photoHeight`.
 */
export class DetailMap {
  private readonly table: Float64Array;

  constructor(
    grey: Uint8Array,
    private readonly width: number,
    private readonly height: number,
    private readonly photoWidth: number,
    private readonly photoHeight: number,
  ) {
    if (grey.length < width * height) throw new RangeError(`thumbnail has ${grey.length} bytes, expected ${width * height}`);
    const stride = width + 1;
    this.table = new Float64Array(stride * (height + 1));
    for (let y = 0; y < height; y++) {
      let row = 0;
      for (let x = 0; x < width; x++) {
        const v = grey[y * width + x];
        const right = x + 1 < width ? grey[y * width + x + 1] : v;
        const below = y + 1 < height ? grey[(y + 1) * width + x] : v;
        row += Math.abs(right - v) + Math.abs(below - v);
        this.table[(y + 1) * stride + x + 1] = this.table[y * stride + x + 1] + row;
      }
    }
  }

  /** Mean neighbour difference inside `window` (pixels of the photo). */
  detail(window: PixelWindow): number {
    const sx = this.width / this.photoWidth;
    const sy = this.height / this.photoHeight;
    const x0 = clamp(Math.floor(window.left * sx), 0, this.width - 1);
    const y0 = clamp(Math.floor(window.top * sy), 0, this.height - 1);
    const x1 = clamp(Math.ceil((window.left + window.width) * sx), x0 + 1, this.width);
    const y1 = clamp(Math.ceil((window.top + window.height) * sy), y0 + 1, this.height);
    const stride = this.width + 1;
    const t = this.table;
    return (t[y1 * stride + x1] - t[y0 * stride + x1] - t[y1 * stride + x0] + t[y0 * stride + x0]) / ((x1 - x0) * (y1 - y0));
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * Windows of a `width` × `height` photo, drawn from `seed`: candidates of log-uniform area share and fixed aspect at
 * uniform positions, each kept when it is wide enough, has detail (when a map is given) and overlaps the whole
 * photo, every window of `taken` and every window kept before by at most `maxIou`. The whole photo is not among the
 * result; it is the caller's to keep as a spot (every window respects the rule against it, since areaShare stays
 * below maxIou). `taken` are windows of the photo that are spots already (pixels of this `size`, fractions
 * allowed): they bound the new ones but are not returned, and they do not change the draw, so with no `taken` the
 * result is what it always was.
 */
export function pickWindows(
  size: { width: number; height: number },
  seed: number,
  rules: WindowRules = DEFAULT_WINDOW_RULES,
  detail?: DetailMap,
  taken: readonly PixelWindow[] = [],
): PixelWindow[] {
  const { width: W, height: H } = size;
  const whole: PixelWindow = { left: 0, top: 0, width: W, height: H };
  const random = seededRandom(seed);
  const [lo, hi] = rules.areaShare.map(Math.log);
  const kept: PixelWindow[] = [];
  for (let i = 0; i < rules.tries && kept.length < rules.maxWindows; i++) {
    const area = Math.exp(lo + (hi - lo) * random.next()) * W * H;
    const width = Math.round(Math.sqrt(area * rules.aspect));
    const height = Math.round(width / rules.aspect);
    // Positions are drawn even for rejected sizes, so the draw order does not depend on the photo's size.
    const fx = random.next();
    const fy = random.next();
    if (width > W || height > H || width < rules.minWidthPx) continue;
    const candidate = { left: Math.round(fx * (W - width)), top: Math.round(fy * (H - height)), width, height };
    if (iou(candidate, whole) > rules.maxIou) continue;
    if (detail && detail.detail(candidate) < rules.minDetail) continue;
    if (taken.some((k) => iou(k, candidate) > rules.maxIou)) continue;
    if (kept.some((k) => iou(k, candidate) > rules.maxIou)) continue;
    kept.push(candidate);
  }
  return kept;
}

/** `window`, in pixels of a photo decoded at size `from`, in pixels of the same photo decoded at size `to`. */
export function scaleWindow(window: PixelWindow, from: { width: number; height: number }, to: { width: number; height: number }): PixelWindow {
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  return { left: window.left * sx, top: window.top * sy, width: window.width * sx, height: window.height * sy };
}

/**
 * Map coordinates (metres) of a window: photo number `photo` sits on a square grid of `photos` photos, `spacingM`
 * apart, and its windows spread over a `streetM` square around it by their centres, so the windows of one photo are
 * neighbours on the map as well as in appearance. The whole photo is the window covering it (its centre).
 */
export function windowCoordinates(
  photo: number,
  photos: number,
  window: PixelWindow,
  size: { width: number; height: number },
  options: { spacingM?: number; streetM?: number } = {},
): { x: number; y: number } {
  const spacing = options.spacingM ?? 400;
  const street = options.streetM ?? 250;
  const side = Math.ceil(Math.sqrt(photos));
  const cx = (window.left + window.width / 2) / size.width - 0.5;
  const cy = (window.top + window.height / 2) / size.height - 0.5;
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    x: round((photo % side) * spacing + cx * street),
    y: round(Math.floor(photo / side) * spacing + cy * street),
  };
}
