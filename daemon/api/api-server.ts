/**
 * The local API (DESIGN §4: health and results stay on the device, never on the recognition broker). Plain
 * node:http on loopback TCP or a unix socket; read-only GET endpoints:
 *   /status            StatusReport JSON (what `enfpire status` prints)
 *   /events            Server-Sent Events: one 'result' event per recognition result
 *   /metrics           Prometheus exposition
 *   /results?limit=N   recent results from the local history, most recent first
 *   /                  the operator's page (api.page), with /operator.js and /operator.css
 *   /config            the profile in effect, secrets left out
 *   /thumbnail.jpg     a small JPEG of the latest camera frame (only with api.thumbnail.enabled)
 * The same endpoints on an optional LAN listener (api.lan), where every request must carry the operator's token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { schemaDefault } from '../config/load.js';
import type { EdgeResult } from '../domain/result.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { isLoopback, parseListenAddress, type ListenAddress } from '../util/listen-address.js';
import { boundAddress, close, listen, sendJson, type ListenSetting } from './http.js';
import { createApiMetrics, type ApiMetrics } from './metrics.js';
import { OperatorPage } from './page.js';
import type { StatusSources } from './sources.js';
import { SseHub } from './sse.js';
import { buildStatus, resultReport, type StatusReport } from './status.js';
import { Thumbnails, type ThumbnailOptions } from './thumbnail.js';
import { TokenGate } from './token.js';

export interface ApiServerOptions extends StatusSources {
  /** api.listen: 'host:port' (loopback only) or 'unix:/path'. */
  listen: string;
  /** Model id and package version, reported in /status. */
  model: string;
  /** The ONNX Runtime execution provider the extractor actually runs on (after any fallback), reported in /status. */
  executionProvider?: string;
  /** The least cosine at which the device names a spot (the profile's, else the model's), reported in /status. */
  matchThreshold?: number;
  version: string;
  logger: Logger;
  /** Per-client bound of unsent /events bytes before the client is dropped (default 256 KiB). */
  sseMaxBufferedBytes?: number;
  sseHeartbeatMs?: number;
  /** Largest ?limit= of /results (default 1000). */
  maxResults?: number;
  /** Serve the operator's page at / (api.page; absent: the schema's default). */
  page?: boolean;
  /** The profile in effect, secrets already left out (redactedProfile), for GET /config; absent: 404. */
  profile?: Record<string, unknown>;
  /** The camera thumbnail; absent: off. */
  thumbnail?: ThumbnailOptions;
  /** api.lan: a second listener on any address, every request behind the token. */
  lan?: { listen: string; token: string };
}

/** Where a request came in: the loopback/unix listener (Host check) or the LAN one (token check). */
type Listener = 'local' | 'lan';

export class ApiServer {
  private readonly address: ListenAddress;
  private readonly lanAddress: ListenAddress | undefined;
  private readonly gate: TokenGate | undefined;
  private readonly thumbnails: Thumbnails | undefined;
  private page: OperatorPage | undefined;
  private server: Server | undefined;
  private lanServer: Server | undefined;
  private lanBound: ListenAddress | undefined;
  private sse: SseHub | undefined;
  private metrics: ApiMetrics | undefined;
  private bound: ListenAddress | undefined;
  private readonly startedAt = Date.now();
  private readonly onResult = (result: EdgeResult): void => this.sse?.send('result', resultReport(result));

  /** Throws a UserError for a malformed or non-loopback address before anything is bound. */
  constructor(private readonly options: ApiServerOptions) {
    this.address = parseListenAddress(options.listen);
    if (options.lan) {
      this.lanAddress = parseListenAddress(options.lan.listen, 'api.lan.listen', true);
      this.gate = new TokenGate(options.lan.token);
    }
    if (options.thumbnail) this.thumbnails = new Thumbnails(options.thumbnail);
  }

  /** Where it listens, with the port actually bound (listen '127.0.0.1:0' picks a free one). */
  get listening(): ListenAddress {
    if (!this.bound) throw new Error('the API server is not started');
    return this.bound;
  }

  /** Where the LAN listener listens (undefined without api.lan). */
  get lanListening(): ListenAddress | undefined {
    return this.lanBound;
  }

  status(): StatusReport {
    return buildStatus(
      this.options,
      { version: this.options.version, model: this.options.model, executionProvider: this.options.executionProvider, matchThreshold: this.options.matchThreshold, startedAt: this.startedAt },
      { clients: this.sse?.size ?? 0, dropped_clients: this.sse?.dropped ?? 0 },
    );
  }

  async start(): Promise<void> {
    if (this.server) return;
    const { logger } = this.options;
    this.sse = new SseHub({ maxBufferedBytes: this.options.sseMaxBufferedBytes, heartbeatMs: this.options.sseHeartbeatMs, logger });
    this.metrics = createApiMetrics(() => this.status());
    if (this.options.page ?? (schemaDefault('edge', 'api.page') as boolean)) this.page = await OperatorPage.load();
    const server = this.createListener('local');
    if (this.address.kind === 'unix') await this.prepareSocketPath(this.address.path);
    await listen(server, this.address, localApi(this.options.listen, 'api.listen'));
    this.server = server;
    if (this.lanAddress && this.options.lan) {
      const lan = this.createListener('lan');
      try {
        await listen(lan, this.lanAddress, localApi(this.options.lan.listen, 'api.lan.listen'));
      } catch (err) {
        await this.stop();
        throw err;
      }
      this.lanServer = lan;
      this.lanBound = boundAddress(lan, this.lanAddress);
      logger.info({ listen: this.options.lan.listen }, 'operator page on the LAN, behind the token');
    }
    if (this.address.kind === 'unix') {
      // Results are private: owner and group only, whatever the umask.
      await chmod(this.address.path, 0o660);
      this.bound = this.address;
    } else {
      this.bound = boundAddress(server, this.address);
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
    await Promise.all([close(server), this.lanServer && close(this.lanServer)]);
    this.lanServer = undefined;
    this.lanBound = undefined;
    if (this.address.kind === 'unix') await unlink(this.address.path).catch(() => undefined);
    this.bound = undefined;
  }

  private createListener(listener: Listener): Server {
    const server = createServer((req, res) => {
      this.handle(req, res, listener).catch((err: Error) => {
        this.options.logger.warn({ url: req.url, err: err.message }, 'local API request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    // One bad connection (reset, garbage) must not end the server.
    server.on('clientError', (_err, socket) => socket.destroy());
    return server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, listener: Listener): Promise<void> {
    // A web page on the device could reach a loopback port through DNS rebinding; its Host header gives it away.
    if (listener === 'local' && this.address.kind === 'tcp' && !loopbackHost(req.headers.host)) {
      sendJson(res, 403, { error: 'the local API answers only requests addressed to a loopback host' });
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, { error: `${req.method} is not allowed; the local API is read-only` });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    // On the LAN the token is the only guard: a rebinding page would not have it, and its cookie is SameSite=Strict.
    if (listener === 'lan' && !this.gate?.admit(req, res, url)) return;
    if (this.page?.serve(url.pathname, res)) return;
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
      case '/config':
        if (this.options.profile) sendJson(res, 200, this.options.profile);
        else sendJson(res, 404, { error: 'this daemon has no profile to show' });
        return;
      case '/thumbnail.jpg':
        await this.thumbnail(res);
        return;
      default:
        sendJson(res, 404, { error: `no endpoint ${url.pathname}; try /, /status, /events, /metrics, /results or /config` });
    }
  }

  private async thumbnail(res: ServerResponse): Promise<void> {
    if (!this.thumbnails) {
      sendJson(res, 404, { error: 'the camera thumbnail is off; set api.thumbnail.enabled: true in the profile to show it' });
      return;
    }
    const jpeg = await this.thumbnails.jpeg();
    if (!jpeg) {
      sendJson(res, 503, { error: 'no camera frame yet' });
      return;
    }
    // Never cached by the browser or a proxy: the picture lives in the daemon's memory only.
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, 'cache-control': 'no-store' });
    res.end(jpeg);
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

function localApi(listenAddress: string, setting: string): ListenSetting {
  return { listen: listenAddress, setting, service: 'the local API', inUseHint: 'another enfpire edge running?' };
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
