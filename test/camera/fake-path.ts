import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FAKE_BIN = fileURLToPath(new URL('../fixtures/bin/', import.meta.url));

/**
 * An environment whose PATH holds exactly the named fake capture programs and `node` (the fakes are node
 * scripts), so a test decides which camera programs "are installed" whatever the machine has.
 */
export function envWithPrograms(programs: string[], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const bin = mkdtempSync(join(tmpdir(), 'enfpire-fake-bin-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  for (const program of programs) symlinkSync(join(FAKE_BIN, program), join(bin, program));
  // tap's NODE_OPTIONS (a process-info loader) must not reach the fakes: it changes how node loads them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !key.startsWith('_TAPJS')));
  return { ...env, PATH: bin, ...extra };
}
