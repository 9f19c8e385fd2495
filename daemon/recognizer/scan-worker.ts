/**
 * The thread side of `WorkerScanSession`: one `InProcessScanSession` on a worker thread, running the batches the
 * recognizer's thread sends. It logs nothing itself; a failure goes back as a message.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../util/worker-client.js';
import { InProcessScanSession } from './scan-session.js';
import type { ScanReply, ScanRequest } from './scan-worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('scan-worker.js runs only as a worker thread (WorkerScanSession starts it)');

let session: InProcessScanSession | undefined;
const post = (reply: ScanReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

port.on('message', (request: ScanRequest) => {
  void handle(request);
});

async function handle(request: ScanRequest): Promise<void> {
  try {
    switch (request.type) {
      case 'open':
        session = await InProcessScanSession.create(request.model, request.threads);
        post({ type: 'opened', id: request.id });
        return;
      case 'run': {
        if (!session) throw new Error('scan worker: no session open');
        const out = await session.run(request.batch);
        post({ type: 'scanned', id: request.id, ...out }, [out.scores.buffer as ArrayBuffer, out.indices.buffer as ArrayBuffer]);
        return;
      }
      case 'release':
        await session?.release();
        session = undefined;
        post({ type: 'released', id: request.id });
        return;
    }
  } catch (err) {
    post({ type: 'failed', id: request.id, error: serializeError(err) });
  }
}
