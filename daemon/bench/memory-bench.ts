import type { Frame } from '../camera/types.js';
import type { Extractor } from '../extractor/types.js';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { round } from '../util/stats.js';

export interface MemoryBenchOptions {
  manifestPath: string;
  /** Frames replayed, cycling through `frames`. */
  replay: number;
  frames: readonly Frame[];
}

export interface MemoryBenchResult {
  frames: number;
  /** After the extractor started, before the first replayed frame. */
  rss_before_mb: number;
  rss_half_mb: number;
  rss_after_mb: number;
  rss_peak_mb: number;
  heap_before_mb: number;
  heap_after_mb: number;
  /** rss_after - rss_half: a bounded pipeline levels off after warm-up, so this stays near 0 however long the replay. */
  rss_growth_second_half_mb: number;
  /** Whether globalThis.gc ran before each sample (node --expose-gc): heap numbers are then live data, not garbage. */
  gc_forced: boolean;
}

/** Replays frames through a real extractor and samples the process's memory at the start, the half and the end. */
export async function runMemoryBench(options: MemoryBenchOptions): Promise<MemoryBenchResult> {
  const extractor = new OnnxExtractor({ manifestPath: options.manifestPath });
  await extractor.start();
  try {
    return await measureReplay(extractor, options.frames, options.replay);
  } finally {
    await extractor.stop();
  }
}

export async function measureReplay(extractor: Extractor, frames: readonly Frame[], replay: number): Promise<MemoryBenchResult> {
  if (frames.length === 0 || replay < 2) throw new RangeError('memory bench needs frames and a replay of at least 2');
  const gc = (globalThis as { gc?: () => void }).gc;
  const sample = (): NodeJS.MemoryUsage => {
    gc?.();
    return process.memoryUsage();
  };
  const before = sample();
  let half = before;
  let peak = before.rss;
  const halfway = Math.floor(replay / 2);
  for (let i = 0; i < replay; i++) {
    await extractor.extract(frames[i % frames.length]);
    // RSS is cheap to read (one syscall), so the peak is tracked every frame.
    peak = Math.max(peak, process.memoryUsage.rss());
    if (i + 1 === halfway) half = sample();
  }
  const after = sample();
  return {
    frames: replay,
    rss_before_mb: mb(before.rss),
    rss_half_mb: mb(half.rss),
    rss_after_mb: mb(after.rss),
    rss_peak_mb: mb(Math.max(peak, after.rss)),
    heap_before_mb: mb(before.heapUsed),
    heap_after_mb: mb(after.heapUsed),
    rss_growth_second_half_mb: mb(after.rss - half.rss),
    gc_forced: gc !== undefined,
  };
}

const mb = (bytes: number): number => round(bytes / (1024 * 1024));
