/**
 * The recognizer's own small HTTP listener (metrics.listen; off unless metrics.enabled). Read-only GET endpoints:
 *   /metrics   Prometheus exposition (metrics.ts: aggregate counts only, nothing about a device or a query)
 *   /healthz   200 while connected to the broker and serving, 503 otherwise, with a small JSON body
 * Loopback by default; another address is allowed since nothing here identifies a device or a query.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseListenAddress, type ListenAddress } from '../util/listen-address.js';
import { boundAddress, close, listen, sendJson } from '../api/http.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { RecognizerMetrics } from './metrics.js';

export interface RecognizerHealth {
  /** True while the recognizer can answer: connected and subscribed to the broker. */
  serving: boolean;
  body: Record<string, unknown>;
}

export interface MetricsServerOptions {
  /** metrics.listen: 'host:port'. */
  listen: string;
  metrics: RecognizerMetrics;
  health: () => RecognizerHealth;
  logger: Logger;
}

export class MetricsServer {
  private readonly address: ListenAddress;
  private server: Server | undefined;
  private bound: ListenAddress | undefined;

  /** Throws a UserError naming metrics.listen for a malformed address, before anything is bound. */
  constructor(private readonly options: MetricsServerOptions) {
    this.address = parseListenAddress(options.listen, 'metrics.listen', true);
    if (this.address.kind === 'unix') {
      throw new UserError(`metrics.listen '${options.listen}' must be host:port for Prometheus to scrape; write it like '127.0.0.1:8767'.`);
    }
  }

  /** Where it listens, with the port actually bound (listen '127.0.0.1:0' picks a free one). */
  get listening(): ListenAddress {
    if (!this.bound) throw new Error('the metrics listener is not started');
    return this.bound;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.options.logger.warn({ path: req.url, err: err.message }, 'metrics request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    await listen(server, this.address, {
      listen: this.options.listen,
      setting: 'metrics.listen',
      service: "the recognizer's metrics listener",
      inUseHint: 'another recognizer on this host? give each its own port',
    });
    this.server = server;
    this.bound = boundAddress(server, this.address);
    this.options.logger.info({ listen: this.options.listen }, 'recognizer metrics listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.bound = undefined;
    if (server) await close(server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, { error: `${req.method} is not allowed; the metrics listener is read-only` });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/metrics') {
      const text = await this.options.metrics.scrape();
      res.writeHead(200, { 'content-type': this.options.metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
    } else if (path === '/healthz') {
      const health = this.options.health();
      sendJson(res, health.serving ? 200 : 503, health.body);
    } else {
      sendJson(res, 404, { error: `no endpoint ${path}; try /metrics or /healthz` });
    }
  }
}
