import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ListenAddress } from '../../daemon/util/listen-address.js';
import type { ApiServerOptions } from '../../daemon/api/api-server.js';
import type { PipelineStats } from '../../daemon/api/sources.js';
import type { EdgeResult } from '../../daemon/edge/edge-daemon.js';
import { LatencyTracker } from '../../daemon/health/latency.js';
import type { RecognitionClientCounters } from '../../daemon/transport/recognition-client.js';

/** Stands in for EdgeDaemon: settable stats and a 'result' event, nothing else. */
export class FakePipeline extends EventEmitter {
  counters: PipelineStats = {
    frames: 7,
    gated: 4,
    extracted: 6,
    realQueries: 3,
    dummyQueries: 11,
    results: 5,
    cacheHits: 2,
    unknown: 1,
    errors: 1,
    superseded: 0,
    offGallery: 3,
    heldBack: 4,
    failedQueries: 2,
    retried: 4,
    failedFrames: 1,
    queueDepth: 1,
    source: {
      produced: 9,
      dropped: 2,
      // What the paced source adds to its stats (daemon/health/paced-source.ts).
      camera: { kind: 'libcamera', running: true, deliveredFps: 4.5, droppedFps: 0.5, restarts: 2, stalls: 1, stalled: false, badFrames: 3, lastError: null },
    },
  };

  stats(): PipelineStats {
    return this.counters;
  }

  result(overrides: Partial<EdgeResult> = {}): EdgeResult {
    const r: EdgeResult = { at: Date.now(), label: 'spot-a.jpg', spotId: 'spot-a', score: 0.91, latencyMs: 42, fromCache: false, ...overrides };
    this.emit('result', r);
    return r;
  }
}

export const fakeBroker = {
  counters: (): RecognitionClientCounters => ({
    state: 'connected',
    sent: 14,
    received: 13,
    dropped: 2,
    unauthenticated: 2,
    timeouts: 1,
    pending: 1,
    bytesOut: 5000,
    bytesIn: 90000,
  }),
};

/**
 * Every source the API reads, for tests of all of /status and /metrics: the pipeline with one result in the latency
 * window, the broker, telemetry (throttled now, under-voltage since boot), a thermal governor holding the rate down, privacy.
 */
export function allSources(pipeline: FakePipeline): Pick<ApiServerOptions, 'pipeline' | 'broker' | 'latency' | 'telemetry' | 'thermal' | 'privacy'> {
  const latency = new LatencyTracker(pipeline);
  latency.start();
  pipeline.result({ latencyMs: 30 });
  return {
    pipeline,
    broker: fakeBroker,
    latency,
    telemetry: {
      latest: () => ({
        at: Date.now(),
        cpuTemperatureC: 71.5,
        cpuPercent: 12,
        loadAverage: [0.5, 0.4, 0.3],
        memory: { totalBytes: 8e9, availableBytes: 6e9, usedBytes: 2e9 },
        processRssBytes: 2e8,
        thermalZones: [],
        throttling: {
          source: 'vcgencmd',
          now: { underVoltage: false, frequencyCapped: false, throttled: true, softTemperatureLimit: false },
          sinceBoot: { underVoltage: true, frequencyCapped: false, throttled: true, softTemperatureLimit: false },
          raw: 0x50005,
        },
        unavailable: {},
      }),
    },
    thermal: { state: () => ({ targetFps: 2.5, baseFps: 5, throttled: true, temperatureC: 71.5 }) },
    privacy: { privacy: () => ({ transform: 'kmix', k: 4, identityAgeMs: 5000, identityRotations: 1, region: null }) },
  };
}

/** Socket paths are limited to 108 bytes, which tap's test folders can exceed: a short temp folder instead. */
export function shortTempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'enf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  bytes: Buffer;
}

export function get(
  address: ListenAddress,
  path: string,
  options: { method?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(address.kind === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port }),
        path,
        method: options.method ?? 'GET',
        headers: { ...options.headers, ...(options.host ? { host: options.host } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
