/**
 * The local API (DESIGN §4: health and results stay on the device, never on the recognition broker). Plain
 * node:http on loopback TCP or a unix socket; read-only GET endpoints:
 *   /status            StatusReport JSON (what `enfpire status` prints)
 *   /events            Server-Sent Events: one 'result' event per recognition result
 *   /metrics           Prometheus exposition
 *   /results?limit=N   recent results from the local history, most recent first
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EdgeResult } from '../edge/edge-daemon.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { isLoopback, parseListenAddress, type ListenAddress } from './address.js';
import { createApiMetrics, type ApiMetrics } from './metrics.js';
import type { StatusSources } from './sources.js';
import { SseHub } from './sse.js';
import { buildStatus, resultReport, type StatusReport } from './status.js';

export interface ApiServerOptions extends StatusSources {
  /** api.listen: 'host:port' (loopback only) or 'unix:/path'. */
  listen: string;
  /** Model id and package version, reported in /status. */
  model: string;
  version: string;
  logger: Logger;
  /** Per-client bound of unsent /events bytes before the client is dropped (default 256 KiB). */
  sseMaxBufferedBytes?: number;
  sseHeartbeatMs?: number;
  /** Largest ?limit= of /results (default 1000). */
  maxResults?: number;
}

export class ApiServer {
  private readonly address: ListenAddress;
  private server: Server | undefined;
  private sse: SseHub | undefined;
  private metrics: ApiMetrics | undefined;
  private bound: ListenAddress | undefined;
  private readonly startedAt = Date.now();
  private readonly onResult = (result: EdgeResult): void => this.sse?.send('result', resultReport(result));

  /** Throws a UserError for a malformed or non-loopback address before anything is bound. */
  constructor(private readonly options: ApiServerOptions) {
    this.address = parseListenAddress(options.listen);
  }

  /** Where it listens, with the port actually bound (listen '127.0.0.1:0' picks a free one). */
  get listening(): ListenAddress {
    if (!this.bound) throw new Error('the API server is not started');
    return this.bound;
  }

  status(): StatusReport {
    return buildStatus(
      this.options,
      { version: this.options.version, model: this.options.model, startedAt: this.startedAt },
      { clients: this.sse?.size ?? 0, dropped_clients: this.sse?.dropped ?? 0 },
    );
  }

  async start(): Promise<void> {
    if (this.server) return;
    const { logger } = this.options;
    this.sse = new SseHub({ maxBufferedBytes: this.options.sseMaxBufferedBytes, heartbeatMs: this.options.sseHeartbeatMs, logger });
    this.metrics = createApiMetrics(() => this.status());
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        logger.warn({ url: req.url, err: err.message }, 'local API request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    // One bad connection (reset, garbage) must not end the server.
    server.on('clientError', (_err, socket) => socket.destroy());
    if (this.address.kind === 'unix') await this.prepareSocketPath(this.address.path);
    await listen(server, this.address, this.options.listen);
    this.server = server;
    if (this.address.kind === 'unix') {
      // Results are private: owner and group only, whatever the umask.
      await chmod(this.address.path, 0o660);
      this.bound = this.address;
    } else {
      const info = server.address();
      const port = typeof info === 'object' && info ? info.port : this.address.port;
      this.bound = { ...this.address, port };
    }
    this.options.pipeline.on('result', this.onResult);
    logger.info({ listen: this.options.listen }, 'local API listening');
  }

  /** Closes the /events streams and every open connection. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.options.pipeline.off('result', this.onResult);
    this.sse?.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    if (this.address.kind === 'unix') await unlink(this.address.path).catch(() => undefined);
    this.bound = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A web page on the device could reach a loopback port through DNS rebinding; its Host header gives it away.
    if (this.address.kind === 'tcp' && !loopbackHost(req.headers.host)) {
      sendJson(res, 403, { error: 'the local API answers only requests addressed to a loopback host' });
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, { error: `${req.method} is not allowed; the local API is read-only` });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    switch (url.pathname) {
      case '/status':
        sendJson(res, 200, this.status());
        return;
      case '/events':
        this.sse?.add(res);
        return;
      case '/metrics':
        if (!this.metrics) throw new Error('metrics not ready');
        res.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' });
        res.end(await this.metrics.scrape());
        return;
      case '/results':
        this.results(url, res);
        return;
      default:
        sendJson(res, 404, { error: `no endpoint ${url.pathname}; try /status, /events, /metrics or /results` });
    }
  }

  private results(url: URL, res: ServerResponse): void {
    const history = this.options.history;
    if (!history) {
      sendJson(res, 404, { error: 'this daemon keeps no result history' });
      return;
    }
    const max = this.options.maxResults ?? 1000;
    const text = url.searchParams.get('limit');
    const limit = text === null ? 50 : Number(text);
    if (!Number.isInteger(limit) || limit < 1 || limit > max) {
      sendJson(res, 400, { error: `limit must be an integer from 1 to ${max}` });
      return;
    }
    sendJson(res, 200, { results: history.history(limit).map(resultReport) });
  }

  /**
   * A socket file left by a daemon that crashed would make listen() fail with EADDRINUSE: remove it when nothing
   * answers on it, but never take the socket of a daemon that is still running.
   */
  private async prepareSocketPath(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const stat = await lstat(path).catch(() => null);
    if (!stat) return;
    if (!stat.isSocket()) {
      throw new UserError(`api.listen '${this.options.listen}' names an existing file that is not a socket; choose another path.`);
    }
    if (await answers(path)) {
      throw new UserError(`another process already serves ${this.options.listen}; stop it or choose another api.listen.`);
    }
    await unlink(path);
  }
}

function listen(server: Server, address: ListenAddress, listenSetting: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why =
        err.code === 'EADDRINUSE' ? 'the address is in use (another enfpire edge running?)'
        : err.code === 'EACCES' ? 'permission denied'
        : err.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine'
        : err.message;
      reject(new UserError(`the local API cannot listen on api.listen '${listenSetting}': ${why}; fix it or choose another address.`));
    };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (address.kind === 'unix') server.listen(address.path, done);
    else server.listen(address.port, address.host, done);
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The Host header names a loopback host (with or without port); absent means a non-browser client. */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::\d+)?$/.exec(host);
  return match !== null && isLoopback(match[1] ?? match[2]);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
