/**
 * The simulated world in front of the cameras (docs/benchmark.md, "Camera streams"): people and kiosks, their
 * frames with ground truth, rendering, and the statistics of a stream. `loadWorld` reads a spot folder and an
 * off-gallery folder the way the evaluation does: the photos a spot's frames are cut from are its query photos
 * (views.ts `queryFiles`), and its coordinates and popularity are the ones enrolment gives it (enroll.ts
 * `placeSpots`: spots.json, else the grid), so the world and the gallery share one map.
 */
import { placeSpots } from '../../recognizer/enroll.js';
import { listSpotPhotos, loadSpotMetadata } from '../../util/spots-dir.js';
import { queryFiles } from '../views.js';
import type { WorldSpot } from './stream.js';

export * from './people.js';
export * from './render.js';
export * from './stream.js';
export * from './measure.js';
export { DEFAULT_WINDOW_RULES, DetailMap, EXTRA_WINDOW_RULES, iou, pickWindows, scaleWindow, windowCoordinates, type PixelWindow, type WindowRules } from './windows.js';

/** The spots of a folder (DESIGN §9 layout) as the world sees them. */
export async function loadWorldSpots(spotsDir: string): Promise<WorldSpot[]> {
  const spots = await listSpotPhotos(spotsDir);
  const metadata = await loadSpotMetadata(spotsDir);
  const placed = placeSpots(spots.map((s) => ({ id: s.id, meta: metadata.get(s.id) })));
  return spots.map((s) => {
    const { x, y } = placed.get(s.id)!;
    return { id: s.id, x, y, popularity: metadata.get(s.id)?.popularity ?? 1, files: queryFiles(s) };
  });
}

/** Every photo of an off-gallery folder (any layout listSpotPhotos reads): scenes that are no spot. */
export async function loadOffGallery(dir: string): Promise<string[]> {
  return (await listSpotPhotos(dir)).flatMap((s) => s.files);
}

/** Both at once: the options `simulateWorld` needs besides seed, duration and devices. */
export async function loadWorld(spotsDir: string, offGalleryDir: string): Promise<{ spots: WorldSpot[]; offGallery: string[] }> {
  const [spots, offGallery] = await Promise.all([loadWorldSpots(spotsDir), loadOffGallery(offGalleryDir)]);
  const ids = new Set(spots.map((s) => s.id));
  const shared = (await listSpotPhotos(offGalleryDir)).filter((s) => ids.has(s.id)).map((s) => s.id);
  if (shared.length > 0) throw new RangeError(`${offGalleryDir} holds spots of ${spotsDir} (${shared.slice(0, 3).join(', ')}): off-gallery photos must be no spot`);
  return { spots, offGallery };
}
