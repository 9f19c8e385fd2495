import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UserError } from '../util/errors.js';

const COOKIE = 'enfpire_token';
const MIN_LENGTH = 16;

/**
 * The operator's token on the LAN listener (api.lan). A script or Prometheus sends `Authorization: Bearer TOKEN`; a
 * browser opens the page once as /?token=TOKEN, which sets an HttpOnly, SameSite=Strict cookie and redirects to the
 * same address without the token, so it does not stay in the address bar or the history. Comparison is in constant
 * time over digests, so neither the token nor its length leaks through timing.
 */
export class TokenGate {
  private readonly digest: Buffer;

  constructor(token: string, setting = 'api.lan.tokenFile') {
    if (token.length < MIN_LENGTH) {
      throw new UserError(`the token in ${setting} has ${token.length} characters; write at least ${MIN_LENGTH} (e.g. \`openssl rand -hex 16\`).`);
    }
    this.digest = sha256(token);
  }

  /** True when the request may go on; otherwise the reply (401, or the redirect that sets the cookie) is sent. */
  admit(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const offered = url.searchParams.get('token');
    if (offered !== null) {
      if (!this.matches(offered)) return deny(res);
      url.searchParams.delete('token');
      res.writeHead(303, {
        location: `${url.pathname}${url.search}`,
        'set-cookie': `${COOKIE}=${encodeURIComponent(offered)}; Path=/; HttpOnly; SameSite=Strict`,
        'cache-control': 'no-store',
        'content-length': 0,
      });
      res.end();
      return false;
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const cookie = cookieValue(req.headers.cookie, COOKIE);
    if ((bearer !== undefined && this.matches(bearer)) || (cookie !== undefined && this.matches(cookie))) return true;
    return deny(res);
  }

  private matches(candidate: string): boolean {
    return timingSafeEqual(sha256(candidate), this.digest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function deny(res: ServerResponse): false {
  const text = 'This address needs the operator token: open it as /?token=TOKEN once (the token is in api.lan.tokenFile on the device), or send Authorization: Bearer TOKEN.\n';
  res.writeHead(401, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'www-authenticate': 'Bearer realm="enfpire"',
    'cache-control': 'no-store',
  });
  res.end(text);
  return false;
}
