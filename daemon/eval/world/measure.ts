/**
 * What a simulated stream looks like in numbers, to report beside the evaluation's figures: how many frames, how
 * many lost, the share of frames of no spot, how long people stayed, and — with an extractor — how alike
 * consecutive frames of one visit are against two independent camera views of the same spot.
 */
import type { Extractor } from '../../extractor/types.js';
import { cosine } from '../../util/vector.js';
import { renderQuery } from '../views.js';
import { renderFrame } from './render.js';
import { frameSeed, type DeviceKind, type WorldFrame, type WorldStream } from './stream.js';

export interface StreamCounts {
  devices: number;
  frames: number;
  dropped: number;
  /** Frames lost among frames taken. */
  dropoutShare: number;
  /** Share of delivered frames that show no spot, per device kind (null: no such device). */
  noSpotShare: Record<DeviceKind, number | null>;
  /** Delivered frames per device per minute, per kind. */
  framesPerMinute: Record<DeviceKind, number | null>;
  /** Dwells of the wearers' itineraries (whole dwells only: the first and last are cut by the simulation). */
  dwell: { count: number; medianMs: number | null; p10Ms: number | null; p90Ms: number | null };
}

export interface CosineSummary {
  pairs: number;
  mean: number;
  min: number;
}

export interface StreamStats extends StreamCounts {
  /** Consecutive delivered frames of one dwell, and two independent query views of the same spots. */
  cosine: { consecutiveDwell: CosineSummary; independentViews: CosineSummary };
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Counts and shares of a stream, without rendering anything. */
export function describeStream(stream: WorldStream): StreamCounts {
  const kinds: DeviceKind[] = ['glasses', 'kiosk'];
  const kindOf = new Map(stream.devices.map((d) => [d.index, d.kind]));
  const noSpotShare = {} as Record<DeviceKind, number | null>;
  const framesPerMinute = {} as Record<DeviceKind, number | null>;
  for (const kind of kinds) {
    const frames = stream.frames.filter((f) => kindOf.get(f.device) === kind);
    const devices = stream.devices.filter((d) => d.kind === kind).length;
    noSpotShare[kind] = frames.length > 0 ? frames.filter((f) => f.spot === null).length / frames.length : null;
    framesPerMinute[kind] = devices > 0 ? frames.length / devices / (stream.durationMs / 60_000) : null;
  }
  const dwells = stream.devices
    .flatMap((d) => d.activities ?? [])
    .filter((a) => a.kind === 'dwell' && a.startMs > 0 && a.endMs < stream.durationMs)
    .map((a) => a.endMs - a.startMs)
    .sort((a, b) => a - b);
  const dropped = stream.devices.reduce((s, d) => s + d.dropped, 0);
  return {
    devices: stream.devices.length,
    frames: stream.frames.length,
    dropped,
    dropoutShare: dropped / Math.max(1, dropped + stream.frames.length),
    noSpotShare,
    framesPerMinute,
    dwell: { count: dwells.length, medianMs: quantile(dwells, 0.5), p10Ms: quantile(dwells, 0.1), p90Ms: quantile(dwells, 0.9) },
  };
}

/** Pairs of consecutive delivered frames of one dwell, per device, in time order. */
export function consecutiveDwellPairs(stream: WorldStream): [WorldFrame, WorldFrame][] {
  const last = new Map<number, WorldFrame>();
  const pairs: [WorldFrame, WorldFrame][] = [];
  for (const frame of stream.frames) {
    const previous = last.get(frame.device);
    if (previous && frame.activity === 'dwell' && previous.activity === 'dwell' && previous.visit === frame.visit) pairs.push([previous, frame]);
    last.set(frame.device, frame);
  }
  return pairs;
}

function summary(values: number[]): CosineSummary {
  return {
    pairs: values.length,
    mean: values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN,
    min: values.length > 0 ? Math.min(...values) : Number.NaN,
  };
}

/**
 * The counts, plus feature cosines measured with `extractor` on `pairs` consecutive dwell pairs spread evenly over
 * the stream (default 12), each against two independent query views (views.ts `renderQuery`, seeds of their own) of
 * the same spot photo.
 */
export async function measureStream(stream: WorldStream, extractor: Extractor, options: { pairs?: number } = {}): Promise<StreamStats> {
  const all = consecutiveDwellPairs(stream);
  const wanted = Math.min(all.length, options.pairs ?? 12);
  const chosen = Array.from({ length: wanted }, (_, i) => all[Math.floor(((i + 0.5) * all.length) / wanted)]);
  const extract = async (picture: Promise<Buffer>) => extractor.extract(await picture);
  const consecutive: number[] = [];
  const independent: number[] = [];
  for (const [a, b] of chosen) {
    consecutive.push(cosine(await extract(renderFrame(a.view)), await extract(renderFrame(b.view))));
    // Seeds from the frame stream of a device number no device has: never a frame's own seed.
    const views = [0, 1].map((i) => renderQuery({ file: a.view.file, seed: frameSeed(stream.seed, -1 - a.device, 2 * independent.length + i) }));
    independent.push(cosine(await extract(views[0]), await extract(views[1])));
  }
  return { ...describeStream(stream), cosine: { consecutiveDwell: summary(consecutive), independentViews: summary(independent) } };
}
