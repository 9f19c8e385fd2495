/** The messages between `WorkerScanSession` and its thread (`scan-worker.ts`). Plain data: they are cloned or moved. */
import type { FailedReply } from '../util/worker-client.js';
import type { ScanBatch, ScanOutputs } from './scan-session.js';

export type ScanRequest =
  | { type: 'open'; id: number; model: Uint8Array; threads: number }
  | { type: 'run'; id: number; batch: ScanBatch }
  | { type: 'release'; id: number };

export type ScanReply =
  | { type: 'opened'; id: number }
  | ({ type: 'scanned'; id: number } & ScanOutputs)
  | { type: 'released'; id: number }
  | FailedReply;
