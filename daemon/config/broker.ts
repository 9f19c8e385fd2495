import { readFile } from 'node:fs/promises';
import type { BrokerOptions } from '../transport/broker.js';
import { PayloadSigner, SignatureError, TrustedKeys } from '../transport/signing.js';
import { UserError } from '../util/errors.js';
import type { BrokerCredentials } from './types.js';

/** Turns the broker section of a loaded profile into connection options, reading TLS material from its files. */
export async function brokerOptionsFrom(
  section: BrokerCredentials & { url: string; certFile?: string; keyFile?: string; keepaliveSeconds?: number },
): Promise<BrokerOptions> {
  return {
    url: section.url,
    ...(section.keepaliveSeconds !== undefined ? { keepaliveSeconds: section.keepaliveSeconds } : {}),
    username: section.username,
    password: section.password,
    ca: await readPem(section.caFile, 'caFile'),
    cert: await readPem(section.certFile, 'certFile'),
    key: await readPem(section.keyFile, 'keyFile'),
  };
}

/** The operator keys a device pins (transport.recognizerKeyFile); an empty set when the profile names none. */
export async function trustedKeysFrom(section: { recognizerKeyFile?: string }): Promise<TrustedKeys> {
  const pem = await readPem(section.recognizerKeyFile, 'recognizerKeyFile');
  return pem ? keyFrom(() => TrustedKeys.fromPem(pem, `recognizerKeyFile '${section.recognizerKeyFile}'`)) : new TrustedKeys();
}

/** The recognizer's signer (signingKeyFile), or undefined when the profile names no key. */
export async function signerFrom(config: { signingKeyFile?: string }): Promise<PayloadSigner | undefined> {
  const pem = await readPem(config.signingKeyFile, 'signingKeyFile');
  return pem ? keyFrom(() => new PayloadSigner(pem, `signingKeyFile '${config.signingKeyFile}'`)) : undefined;
}

function keyFrom<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof SignatureError) throw new UserError(`${err.message}.`);
    throw err;
  }
}

async function readPem(path: string | undefined, field: string): Promise<Buffer | undefined> {
  if (!path) return undefined;
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    throw new UserError(`${field} '${path}' cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path and that the service user may read it.`);
  }
  // install.sh creates every credential file empty so the unit can start; an empty one was never filled in.
  if (pem.toString('utf8').trim() === '') throw new UserError(`${field} '${path}' is empty; write the PEM file there (or remove ${field} from the profile).`);
  return pem;
}
