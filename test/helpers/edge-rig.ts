/**
 * A device and a recognizer assembled from profiles exactly as `enfpire edge` and `enfpire recognizer` assemble them
 * (EdgeRuntime, RecognizerService), for integration tests against a real broker: the bundled sample spots enrolled
 * with the real model, and a files camera looping the sample photos.
 */
import mqtt from 'mqtt';
import type { Test } from 'tap';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { loadEdgeConfig, loadRecognizerConfig } from '../../daemon/config/load.js';
import type { EdgeResult } from '../../daemon/edge/edge-daemon.js';
import { EdgeRuntime } from '../../daemon/edge/edge-runtime.js';
import { RecognizerService } from '../../daemon/recognizer/service.js';
import { requestFilter } from '../../daemon/transport/messages.js';
import { silentLogger, type Logger } from '../../daemon/util/log.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { enrolSampleGallery } from '../../daemon/soak/sample-gallery.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { startMosquitto } from './mosquitto.js';

/** Enrols the sample spots (references only): the same gallery the soak serves. */
export { enrolSampleGallery };

/** Starts a recognizer service from a profile written to `dir`; call again with the same arguments to restart it. */
export async function startRecognizer(
  dir: string,
  brokerUrl: string,
  galleryPath: string,
  logger: Logger = silentLogger(),
  /** Top-level recognizer settings on top of the rig's (e.g. signingKeyFile). */
  profile: Record<string, unknown> = {},
): Promise<RecognizerService> {
  const file = join(dir, 'recognizer.yaml');
  await writeFile(file, stringify({ broker: { url: brokerUrl }, gallery: galleryPath, model: defaultModelManifest, index: { kind: 'exact' }, ...profile }));
  const service = new RecognizerService({ config: await loadRecognizerConfig(file), logger });
  await service.start();
  return service;
}

/**
 * The server side most device tests need: the sample gallery enrolled in the test's folder, a Mosquitto of its own
 * and a recognizer on it (with `recognizerProfile` on top of the rig's), all stopped when the test ends.
 */
export async function startBackend(t: Test, recognizerProfile: Record<string, unknown> = {}): Promise<{ dir: string; brokerUrl: string; galleryPath: string }> {
  const dir = t.testdir();
  const galleryPath = await enrolSampleGallery(dir);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, galleryPath, undefined, recognizerProfile);
  t.teardown(() => recognizer.stop());
  return { dir, brokerUrl: broker.url, galleryPath };
}

/** Sections of the device profile to set on top of the rig's defaults (merged section by section). */
export type EdgeProfile = Record<string, Record<string, unknown>>;

export interface RunningEdge {
  edge: EdgeRuntime;
  /** Every result so far, in order. */
  results: EdgeResult[];
}

/**
 * Writes the device profile `startEdge` runs (`dir`/edge.yaml) and returns its path; a test that runs the device as
 * its own process (`enfpire edge --config FILE`) starts it from the same profile.
 */
export async function writeEdgeProfile(dir: string, brokerUrl: string, profile: EdgeProfile = {}): Promise<string> {
  const defaults: EdgeProfile = {
    camera: { kind: 'files', dir: sampleSpotsDir, fps: 4, loop: true, gate: { enabled: false } },
    model: { manifest: defaultModelManifest },
    // Every frame a real query: the looping camera shows another spot four times a second, faster than a decoy track
    // ends a visit, so the default 'deferred' arrival would name most frames from the region pack instead
    // (test/edge/deferred-arrival.test.ts runs both).
    privacy: { transform: { kind: 'kmix', arrival: 'immediate' } },
    transport: { url: brokerUrl, rotateIdentityMinutes: 0 },
    gallery: { path: join(dir, 'edge.db') },
    resolver: { cacheThreshold: 1 },
    scheduler: { mode: 'constant', ratePerSecond: 5 },
    api: { enabled: false },
  };
  const merged: EdgeProfile = { ...defaults };
  for (const [section, values] of Object.entries(profile)) merged[section] = { ...defaults[section], ...values };
  const file = join(dir, 'edge.yaml');
  await writeFile(file, stringify(merged));
  return file;
}

/**
 * Starts the device from a profile written to `dir`: files camera looping the sample photos (no scene gate, so every
 * frame is extracted), 'immediate' arrival and no local cache (every frame becomes a real query), constant cover traffic, no identity
 * rotation, no local API; `profile` overrides any of it. Health parts are off unless `health` is true; `beforeStart`
 * is called with the runtime before it starts.
 */
export async function startEdge(
  dir: string,
  brokerUrl: string,
  profile: EdgeProfile = {},
  options: { health?: boolean; logger?: Logger; beforeStart?: (edge: EdgeRuntime) => void } = {},
): Promise<RunningEdge> {
  const file = await writeEdgeProfile(dir, brokerUrl, profile);
  const edge = new EdgeRuntime({ config: await loadEdgeConfig(file), logger: options.logger ?? silentLogger(), health: options.health ?? false });
  const results: EdgeResult[] = [];
  edge.on('result', (r: EdgeResult) => results.push(r));
  // Listeners that must see everything, e.g. the first slot's 'query' event, which may fire before start() resolves.
  options.beforeStart?.(edge);
  await edge.start();
  return { edge, results };
}

/** One publish the broker delivered to an outside observer. */
export interface Tapped {
  topic: string;
  /** Local receive time, ms. */
  at: number;
  /** The MQTT v5 Response Topic: the sender's identity as the broker sees it. */
  responseTopic: string | undefined;
}

/** An outside observer on the broker: a plain MQTT v5 client subscribed to the request topics. */
export async function wiretap(url: string, topics: string[] = [requestFilter('query'), requestFilter('region')]) {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  const seen: Tapped[] = [];
  client.on('message', (topic, _payload, packet) => seen.push({ topic, at: Date.now(), responseTopic: packet.properties?.responseTopic }));
  await client.subscribeAsync(topics, { qos: 1 });
  return { seen, end: () => client.endAsync(true) };
}

/** Polls `check` every 50 ms until it holds or `ms` pass; whether it held. */
export async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; !check() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  return check();
}

/** Records unhandled rejections until the returned function is called; an unhandled rejection would end the daemon. */
export function recordUnhandledRejections(): { reasons: unknown[]; stop: () => void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', listener);
  return { reasons, stop: () => process.off('unhandledRejection', listener) };
}

/**
 * A test folder with the sample spots enrolled and an empty camera folder for a files camera that plays it once:
 * `show` adds a frame (the picture `file`, showing `spot` or no spot), named in order, and `truth` maps each frame's
 * file name to its spot so a result's label says whether it was right. Unhandled rejections are recorded meanwhile.
 */
export async function sampleCameraRig(t: Test) {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const dir = t.testdir();
  const galleryPath = await enrolSampleGallery(dir);
  const spots = await listSpotPhotos(sampleSpotsDir);
  const camera = join(dir, 'camera');
  await mkdir(camera);
  const truth = new Map<string, string | null>();
  const show = async (file: string, spot: string | null) => {
    const name = `${String(truth.size).padStart(3, '0')}-${basename(file)}`;
    await copyFile(file, join(camera, name));
    truth.set(name, spot);
  };
  return { unhandled, dir, galleryPath, spots, camera, truth, show };
}
