import { readFile } from 'node:fs/promises';
import type { BrokerOptions } from '../transport/broker.js';
import { UserError } from '../util/errors.js';
import type { BrokerCredentials } from './types.js';

/** Turns the broker section of a loaded profile into connection options, reading TLS material from its files. */
export async function brokerOptionsFrom(
  section: BrokerCredentials & { url: string; certFile?: string; keyFile?: string },
): Promise<BrokerOptions> {
  return {
    url: section.url,
    username: section.username,
    password: section.password,
    ca: await readPem(section.caFile, 'caFile'),
    cert: await readPem(section.certFile, 'certFile'),
    key: await readPem(section.keyFile, 'keyFile'),
  };
}

async function readPem(path: string | undefined, field: string): Promise<Buffer | undefined> {
  if (!path) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new UserError(`${field} '${path}' cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path and that the service user may read it.`);
  }
}
