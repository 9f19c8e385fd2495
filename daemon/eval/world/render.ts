/**
 * Turns a frame's description into pixels: the camera looks at a window of a photograph (moving a little from frame
 * to frame while someone stands still), then the lens and sensor of daemon/augment/distort.ts apply (rotation, shear as
 * perspective, exposure, white balance, blur, noise, JPEG). The same view always gives the same bytes.
 */
import { readFile } from 'node:fs/promises';
import { decodeForDistortion, distortPixels, type DistortionOptions, type RawPhoto } from '../../augment/distort.js';

/** A window of a photo as shares of its width and height (0..1). */
export interface ShareWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Everything needed to render one frame. */
export interface FrameView {
  /** The photograph the frame is cut from. */
  file: string;
  /**
   * What of the photo is in view before the lens effects. Absent: the whole photo, with the viewpoint crop of
   * `camera` (distortPhoto's own, drawn from the seed) — a still taken from another viewpoint.
   */
  window?: ShareWindow;
  /** Ranges for distortPhoto; a degenerate range [v, v] fixes a parameter (a camera setting held over a visit). */
  camera: DistortionOptions;
  seed: number;
}

/** Recently decoded photos: the frames of a visit all come from one photo, so a few entries suffice. */
const decodedCache = new Map<string, Promise<RawPhoto>>();
const CACHE_ENTRIES = 8;

function decoded(file: string): Promise<RawPhoto> {
  let entry = decodedCache.get(file);
  if (entry) {
    decodedCache.delete(file); // re-inserted below: most recently used last
  } else {
    entry = readFile(file).then(decodeForDistortion);
    entry.catch(() => decodedCache.delete(file));
  }
  decodedCache.set(file, entry);
  while (decodedCache.size > CACHE_ENTRIES) decodedCache.delete(decodedCache.keys().next().value!);
  return entry;
}

/** The pixel rectangle of a share window, at least 8 px and inside the photo. */
export function windowPixels(window: ShareWindow, width: number, height: number): { left: number; top: number; width: number; height: number } {
  const w = Math.max(8, Math.min(width, Math.round(window.width * width)));
  const h = Math.max(8, Math.min(height, Math.round(window.height * height)));
  return {
    left: Math.min(width - w, Math.max(0, Math.round(window.left * width))),
    top: Math.min(height - h, Math.max(0, Math.round(window.top * height))),
    width: w,
    height: h,
  };
}

/** The frame as JPEG bytes (sharp decodes them; so does every Extractor). */
export async function renderFrame(view: FrameView): Promise<Buffer> {
  const photo = await decoded(view.file);
  if (!view.window) return distortPixels(photo, view.seed, view.camera);
  // distortPixels then keeps the whole window (its viewpoint crop is the window).
  const rect = windowPixels(view.window, photo.info.width, photo.info.height);
  return distortPixels(photo, view.seed, { ...view.camera, cropArea: [1, 1], cropAspect: [1, 1] }, rect);
}
