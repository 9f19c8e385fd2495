import type { ServerResponse } from 'node:http';
import type { Logger } from '../util/log.js';

export interface SseHubOptions {
  /** Bytes a client may have waiting in its socket buffer before it is dropped (default 256 KiB). */
  maxBufferedBytes?: number;
  /** A comment line this often keeps proxies and idle timeouts from closing the stream (default 15 s). */
  heartbeatMs?: number;
  logger: Logger;
}

/**
 * Server-Sent Events fan-out. Writes never wait: a client whose unsent bytes pass the bound is disconnected, so a
 * stalled reader costs at most maxBufferedBytes and never slows the pipeline that emits the events.
 */
export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly maxBufferedBytes: number;
  private readonly heartbeat: NodeJS.Timeout;
  private droppedClients = 0;

  constructor(private readonly options: SseHubOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
    this.heartbeat = setInterval(() => this.write(': keepalive\n\n'), options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  get dropped(): number {
    return this.droppedClients;
  }

  add(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Headers and a first comment go out at once, so the client knows the stream is open before any result.
    res.write(': connected\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends every stream (stop()). */
  close(): void {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private write(chunk: string): void {
    for (const res of this.clients) {
      if (res.writableLength + chunk.length > this.maxBufferedBytes) {
        this.clients.delete(res);
        this.droppedClients++;
        this.options.logger.warn({ buffered: res.writableLength }, 'dropping a slow /events client');
        res.destroy();
        continue;
      }
      res.write(chunk);
    }
  }
}
