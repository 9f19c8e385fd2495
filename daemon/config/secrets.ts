import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Problem } from './types.js';

const CREDENTIAL_PREFIX = 'credential:';

/**
 * Where a *File setting points: a path (relative to the config file's folder) or 'credential:NAME', a
 * systemd credential (LoadCredential=/SetCredentialEncrypted=) that systemd exposes as
 * $CREDENTIALS_DIRECTORY/NAME to the unit only, so the secret never sits in a world-readable place.
 */
export function resolveFileReference(
  value: string,
  settingPath: string,
  baseDir: string,
  env: NodeJS.ProcessEnv,
): { file: string } | { problem: Problem } {
  if (!value.startsWith(CREDENTIAL_PREFIX)) return { file: resolve(baseDir, value) };
  const name = value.slice(CREDENTIAL_PREFIX.length);
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir || !isAbsolute(dir)) {
    return {
      problem: {
        path: settingPath,
        message: `'${value}' is a systemd credential but $CREDENTIALS_DIRECTORY is not set`,
        fix: `run the daemon under systemd with LoadCredential=${name}:/path/to/secret in its unit, or give a file path instead`,
      },
    };
  }
  return { file: join(dir, name) };
}

/** The trimmed content of a secret file, or a problem naming the setting. */
export async function readSecret(file: string, settingPath: string): Promise<{ value: string } | { problem: Problem }> {
  try {
    const value = (await readFile(file, 'utf8')).trim();
    if (value) return { value };
    return { problem: { path: settingPath, message: `${file} is empty`, fix: 'write the secret into the file' } };
  } catch (error) {
    return { problem: unreadable(file, settingPath, error) };
  }
}

/** A problem if the file (TLS material, read later by the transport) cannot be read now. */
export async function checkReadable(file: string, settingPath: string): Promise<Problem | null> {
  try {
    await access(file, constants.R_OK);
    return null;
  } catch (error) {
    return unreadable(file, settingPath, error);
  }
}

function unreadable(file: string, settingPath: string, error: unknown): Problem {
  const code = (error as NodeJS.ErrnoException).code;
  return {
    path: settingPath,
    message: code === 'ENOENT' ? `${file} does not exist` : `${file} cannot be read (${code ?? String(error)})`,
    fix: code === 'ENOENT' ? 'create the file or fix the path' : "let the daemon's user read the file, or fix the path",
  };
}
