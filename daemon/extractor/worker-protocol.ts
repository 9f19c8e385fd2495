/** The messages between `WorkerExtractor` and its thread (`extraction-worker.ts`). Plain data: they are cloned. */
import type { Frame } from '../camera/types.js';
import { UserError } from '../util/errors.js';
import { plainError, type SerializedError } from '../util/worker-client.js';
import { BadImageError, ModelOutputError } from './errors.js';
import type { LoadedManifest } from './manifest.js';
import type { ExtractTimings } from './onnx-extractor.js';

export type WorkerRequest =
  | { type: 'start'; id: number }
  | { type: 'extract'; id: number; image?: Uint8Array; frame?: Omit<Frame, 'data'> & { data: Uint8Array } }
  | { type: 'stop'; id: number };

export type WorkerReply =
  | { type: 'started'; id: number; manifest: LoadedManifest; provider: string }
  | { type: 'feature'; id: number; feature: Float32Array; timings: ExtractTimings }
  | { type: 'stopped'; id: number }
  | { type: 'failed'; id: number; error: SerializedError };

/**
 * The error class the extractor threw, rebuilt on this side: the daemon tells a bad frame (drop it, go on) from a
 * broken model (stop, with the message for the user) by class, as it does with the extractor on its own thread.
 */
export function deserializeError(e: SerializedError): Error {
  switch (e.name) {
    case 'BadImageError':
      return new BadImageError(e.message);
    case 'ModelOutputError':
      return new ModelOutputError(e.message);
    case 'UserError':
      return new UserError(e.message);
    default:
      return plainError(e);
  }
}
