import type { Logger } from '../util/log.js';
import { createSpotIndex, type HnswOptions, type IndexEntry, type SpotIndex, type SpotIndexKind } from './spot-index.js';

/**
 * Opens an index of any kind; 'exact-onnx' and 'int8-onnx' (onnx-scan-index.ts, float32 and int8 products) open an
 * ONNX Runtime session, so this is asynchronous. A module of its own so that spot-index.ts, which onnx-scan-index.ts
 * builds on, does not import it back.
 */
export async function openSpotIndex(
  entries: readonly IndexEntry[],
  options: { kind: SpotIndexKind } & HnswOptions & {
      maxBatch?: number;
      batchWaitMs?: number;
      threads?: number;
      shortlistMargin?: number;
      thread?: 'worker' | 'main';
      logger?: Logger;
    },
): Promise<SpotIndex> {
  if (options.kind !== 'exact-onnx' && options.kind !== 'int8-onnx') return createSpotIndex(entries, { ...options, kind: options.kind });
  // Loaded only when asked for: ONNX Runtime is not needed by the other kinds.
  const { OnnxScanIndex } = await import('./onnx-scan-index.js');
  return OnnxScanIndex.create(entries, { ...options, precision: options.kind === 'int8-onnx' ? 'int8' : 'float32' });
}
