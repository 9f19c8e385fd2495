import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ListenAddress } from '../../daemon/api/address.js';
import type { PipelineStats } from '../../daemon/api/sources.js';
import type { EdgeResult } from '../../daemon/edge/edge-daemon.js';
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
    failedQueries: 2,
    retried: 4,
    failedFrames: 1,
    queueDepth: 1,
    source: { produced: 9, dropped: 2 },
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
