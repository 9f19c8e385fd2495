import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/** daemon/api/page/ from both daemon/api (sources) and dist/api (build): plain files, no build step. */
const PAGE_DIR = new URL('../../daemon/api/page/', import.meta.url);

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/operator.js': { file: 'operator.js', type: 'text/javascript; charset=utf-8' },
  '/operator.css': { file: 'operator.css', type: 'text/css; charset=utf-8' },
};

/**
 * Nothing but the device itself: no inline script, no other origin, no framing (clickjacking), no referrer. The
 * thumbnail is an <img> from the same origin.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** The operator's page: a few kB read once at start and served from memory. */
export class OperatorPage {
  private constructor(private readonly files: Map<string, { body: Buffer; type: string }>) {}

  static async load(): Promise<OperatorPage> {
    const files = new Map<string, { body: Buffer; type: string }>();
    for (const [path, { file, type }] of Object.entries(FILES)) files.set(path, { body: await readFile(new URL(file, PAGE_DIR)), type });
    return new OperatorPage(files);
  }

  /** Serves `pathname` when it is one of the page's files; false otherwise. */
  serve(pathname: string, res: ServerResponse): boolean {
    const entry = this.files.get(pathname === '/index.html' ? '/' : pathname);
    if (!entry) return false;
    res.writeHead(200, { 'content-type': entry.type, 'content-length': entry.body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(entry.body);
    return true;
  }
}
