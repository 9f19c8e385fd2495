import { request } from 'node:http';
import { UserError } from '../util/errors.js';
import { formatListenAddress, type ListenAddress } from '../util/listen-address.js';

/** GET a JSON endpoint of a running daemon's local API; a daemon that does not answer is a UserError in one sentence. */
export function getJson<T>(address: ListenAddress, path: string, timeoutMs = 3_000): Promise<T> {
  const where = formatListenAddress(address);
  const notRunning = (why: string): UserError =>
    new UserError(`no enfpire edge daemon answers on ${where} (${why}); is it running, and is this its api.listen?`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(address.kind === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port }),
        path,
        method: 'GET',
        headers: { accept: 'application/json', host: 'localhost' },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(notRunning(err.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new UserError(`the daemon on ${where} answered ${path} with HTTP ${res.statusCode}: ${text.trim().slice(0, 200)}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            reject(new UserError(`what answers on ${where} is not an enfpire edge daemon (${path} did not return JSON).`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ECONNREFUSED' ? 'connection refused'
        : err.code === 'ENOENT' ? 'no socket there'
        : err.code === 'EACCES' ? 'permission denied on the socket'
        : err.message;
      reject(notRunning(why));
    });
    req.end();
  });
}
