/**
 * The thread side of `WorkerExtractor`: one `OnnxExtractor` on a worker thread, answering extract requests from the
 * thread that owns the daemon. It logs nothing itself (a logger cannot cross threads); every failure goes back as a
 * message and is reported where the request came from.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Frame } from '../camera/types.js';
import { OnnxExtractor, type OnnxExtractorOptions } from './onnx-extractor.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';
import { serializeError } from '../util/worker-client.js';

const port = parentPort;
if (!port) throw new Error('extraction-worker.js runs only as a worker thread (WorkerExtractor starts it)');

const extractor = new OnnxExtractor(workerData as OnnxExtractorOptions);
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

port.on('message', (request: WorkerRequest) => {
  void handle(request);
});

async function handle(request: WorkerRequest): Promise<void> {
  try {
    switch (request.type) {
      case 'start': {
        await extractor.start();
        post({ type: 'started', id: request.id, manifest: extractor.manifest, provider: extractor.executionProvider });
        return;
      }
      case 'extract': {
        const image: Buffer | Frame = request.frame
          ? { ...request.frame, data: Buffer.from(request.frame.data.buffer, request.frame.data.byteOffset, request.frame.data.byteLength) }
          : Buffer.from(request.image!.buffer, request.image!.byteOffset, request.image!.byteLength);
        const feature = await extractor.extract(image);
        post({ type: 'feature', id: request.id, feature, timings: extractor.lastTimings! }, [feature.buffer as ArrayBuffer]);
        return;
      }
      case 'stop': {
        await extractor.stop();
        post({ type: 'stopped', id: request.id });
        return;
      }
    }
  } catch (err) {
    post({ type: 'failed', id: request.id, error: serializeError(err) });
  }
}
