import { isIP } from 'node:net';
import { UserError } from './errors.js';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * Parses `api.listen` ('127.0.0.1:8765', '[::1]:8765', 'localhost:8765' or 'unix:/run/enfpire/api.sock'). Only
 * loopback TCP is accepted: the API serves recognition results, which must never leave the device (DESIGN §4).
 * `setting` names where the address came from, for the error message. `network` admits any address: only for
 * api.lan.listen, whose every request must carry the operator's token.
 */
export function parseListenAddress(listen: string, setting = 'api.listen', network = false): ListenAddress {
  if (listen.startsWith('unix:')) {
    const path = listen.slice('unix:'.length);
    if (!path.startsWith('/')) {
      throw new UserError(`${setting} '${listen}' needs an absolute socket path; write it like 'unix:/run/enfpire/api.sock'.`);
    }
    return { kind: 'unix', path };
  }
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new UserError(`${setting} '${listen}' is not an address; write it like '127.0.0.1:8765' or 'unix:/run/enfpire/api.sock'.`);
  }
  const host = match[1] ?? match[2];
  if (!network && !isLoopback(host)) {
    throw new UserError(
      `${setting} '${listen}' is not a loopback address and the local API must never be reachable from the network; use 127.0.0.1, [::1] or a unix: socket.`,
    );
  }
  return { kind: 'tcp', host, port };
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and 'localhost'; resolving other names could reach the network. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const version = isIP(host);
  if (version === 4) return host.split('.')[0] === '127';
  if (version === 6) {
    const lower = host.toLowerCase();
    if (/^(0{0,4}:){2,7}0{0,3}1$/.test(lower) || lower === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && isLoopback(mapped[1]);
  }
  return false;
}

/** The address as a client would write it (port 0 replaced by the port actually bound). */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
