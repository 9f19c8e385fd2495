import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateSigningKeys } from '../transport/signing.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, type CommandOptions } from './args.js';

/** The options `enfpire keygen` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const KEYGEN_OPTIONS = {
  out: { type: 'string' },
  name: { type: 'string', default: 'recognizer-signing' },
  force: { type: 'boolean', default: false },
} as const satisfies CommandOptions;

/**
 * `enfpire keygen --out DIR [--name NAME] [--force]`: makes the operator's Ed25519 signing key pair
 * (docs/protocol.md, "Signatures"). NAME.key (mode 0600) goes to the recognizers' signingKeyFile, NAME.pub to every
 * device's transport.recognizerKeyFile. An existing pair is never overwritten without --force: devices pin the old key.
 */
export async function runKeygenCommand(args: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const { values } = parseCommandArgs('keygen', args, KEYGEN_OPTIONS);
  if (!values.out) throw new UserError('keygen: give --out DIR, the folder for the key pair.');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.name)) throw new UserError(`keygen: --name '${values.name}' must be 1-64 letters, digits, '.', '_' or '-'.`);
  const dir = resolve(values.out);
  const privateFile = join(dir, `${values.name}.key`);
  const publicFile = join(dir, `${values.name}.pub`);
  const existing = [privateFile, publicFile].filter((f) => existsSync(f));
  if (existing.length > 0 && !values.force) {
    throw new UserError(`keygen: ${existing.join(' and ')} already exist; devices may pin that key. Use --force to replace it, or another --name for a rollover.`);
  }
  const keys = generateSigningKeys();
  await mkdir(dir, { recursive: true });
  // The private key is written readable by its owner only, before anything else can see the file.
  await writeFile(privateFile, keys.privatePem, { mode: 0o600, flag: values.force ? 'w' : 'wx' });
  await chmod(privateFile, 0o600); // --force over an old file keeps that file's mode otherwise
  await writeFile(publicFile, keys.publicPem, { mode: 0o644, flag: values.force ? 'w' : 'wx' });
  out(
    `key ${keys.keyId}\n` +
      `  private: ${privateFile}  (recognizer: signingKeyFile, or LoadCredential= in its unit)\n` +
      `  public:  ${publicFile}  (devices: transport.recognizerKeyFile)\n`,
  );
  return 0;
}
