import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FAKE_BIN = fileURLToPath(new URL('../fixtures/bin/', import.meta.url));

/**
 * An environment whose PATH holds exactly the named fake capture programs, so a test decides which camera
 * programs "are installed" whatever the machine has. Each is a tiny sh script that runs the shared fake with
 * this node by absolute path (nothing else needs to be on PATH).
 */
export function envWithPrograms(programs: string[], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const bin = mkdtempSync(join(tmpdir(), 'enfpire-fake-bin-'));
  for (const program of programs) {
    const script = join(bin, program);
    writeFileSync(script, `#!/bin/sh\nexec '${process.execPath}' '${join(FAKE_BIN, '_fake-capture.mjs')}' ${program} "$@"\n`);
    chmodSync(script, 0o755);
  }
  return { ...process.env, PATH: bin, ...extra };
}
