/**
 * The plain node:http pieces shared by the edge's local API (api-server.ts) and the recognizer's metrics listener
 * (daemon/recognizer/metrics-server.ts): binding with one clear sentence on failure, closing with every connection,
 * the port actually bound, JSON answers.
 */
import type { Server, ServerResponse } from 'node:http';
import { UserError } from '../util/errors.js';
import type { ListenAddress } from '../util/listen-address.js';

export interface ListenSetting {
  /** The address as written in the profile, for the message. */
  listen: string;
  /** The setting it came from, e.g. 'api.listen'. */
  setting: string;
  /** Who listens, e.g. 'the local API'. */
  service: string;
  /** The likely cause of EADDRINUSE, e.g. 'another enfpire edge running?'. */
  inUseHint: string;
}

/** Binds `server`; a failure is a UserError naming the setting and the address. */
export function listen(server: Server, address: ListenAddress, where: ListenSetting): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why =
        err.code === 'EADDRINUSE' ? `the address is in use (${where.inUseHint})`
        : err.code === 'EACCES' ? 'permission denied'
        : err.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine'
        : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'the host name does not resolve'
        : err.message;
      reject(new UserError(`${where.service} cannot listen on ${where.setting} '${where.listen}': ${why}; fix it or choose another address.`));
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

/** Stops listening and ends every open connection (keep-alive ones included). */
export function close(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

/** The address with the port actually bound (port 0 picks a free one). */
export function boundAddress(server: Server, address: ListenAddress): ListenAddress {
  if (address.kind === 'unix') return address;
  const info = server.address();
  return { ...address, port: typeof info === 'object' && info ? info.port : address.port };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
