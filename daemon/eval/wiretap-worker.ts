/**
 * The thread side of `ThreadedWiretap`: an MQTT client that reads the broker and stamps each message the moment it
 * arrives. This thread's event loop does nothing else, so a stamp is not held back by the simulated devices that keep
 * the eval's main thread busy — as a real server stamps on its own machine. Records go back in batches: when they
 * reach the main thread no longer matters, the stamp is already taken.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MqttClient } from 'mqtt';
import { endClient } from '../transport/broker.js';
import { connectTap, type TappedMessage } from './tap-connection.js';
import type { TapThreadOptions, TapThreadReply, TapThreadRequest } from './wiretap-protocol.js';

const port = parentPort;
if (!port) throw new Error('wiretap-worker.js runs only as a worker thread (ThreadedWiretap starts it)');

const options = workerData as TapThreadOptions;
const post = (reply: TapThreadReply) => port.postMessage(reply);
/**
 * Wall-clock ms since the epoch, on the same clock as the main thread's Date.now() (the run's origin). Not
 * performance.timeOrigin + performance.now(): a worker's time origin is its own start, converted once, and in a CI
 * run it read 44-73 ms before the main thread's clock, which put stamps before the publish they recorded.
 */
const now = () => Date.now();

let batch: { message: TappedMessage; t: number }[] = [];

/** Sends what was read; scheduled once per burst, so a burst of messages crosses as one. */
function flush(): void {
  if (batch.length === 0) return;
  post({ type: 'tapped', batch });
  batch = [];
}

let client: MqttClient | undefined;
const connected = connectTap(
  // TLS material crosses as plain Uint8Arrays; the TLS options want Buffers.
  { ...options, ca: buf(options.ca), cert: buf(options.cert), key: buf(options.key) },
  now,
  {
    onTapped: (message, t) => {
      if (batch.length === 0) setImmediate(flush);
      batch.push({ message, t });
    },
    onWarning: (what, err) => post({ type: 'warning', what, message: err.message }),
  },
).then(
  (c) => {
    client = c;
    post({ type: 'ready' });
  },
  (err: Error) => post({ type: 'failed', error: { name: err.name, message: err.message } }),
);

port.on('message', (request: TapThreadRequest) => {
  if (request.type === 'stop') void stop();
});

async function stop(): Promise<void> {
  await connected;
  if (client) await endClient(client);
  flush();
  post({ type: 'stopped' });
}

function buf(bytes: Uint8Array | undefined): Buffer | undefined {
  return bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
