import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { checkConfig, type ConfigKind } from '../config/load.js';
import { formatProblem, formatWarning } from '../config/problems.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, type CommandOptions } from './args.js';

/** The options `enfpire config` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const CONFIG_OPTIONS = { kind: { type: 'string' } } as const satisfies CommandOptions;

/**
 * `enfpire config check FILE [--kind edge|recognizer]`: exit 0, or one line per problem and exit 1. A profile of an
 * older shape is valid when it reads the current way; one 'warning:' line per setting that moved says where it went.
 */
export async function runConfigCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('config', args, CONFIG_OPTIONS, true);
  const [action, file] = positionals;
  if (action !== 'check' || !file || positionals.length > 2) {
    throw new UserError("config: usage is 'enfpire config check FILE [--kind edge|recognizer]'.");
  }
  const kind = (values.kind ?? guessKind(file)) as ConfigKind;
  if (kind !== 'edge' && kind !== 'recognizer') {
    throw new UserError(`config: --kind must be 'edge' or 'recognizer', not '${values.kind}'.`);
  }
  const { problems, warnings } = checkConfig(file, kind);
  for (const w of warnings) process.stderr.write(`${file}: warning: ${formatWarning(w)}\n`);
  if (problems.length === 0) {
    const old = warnings.length > 0 ? ` (read the old way: ${warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`} above)` : '';
    process.stdout.write(`${file}: valid ${kind} configuration${old}\n`);
    return 0;
  }
  for (const p of problems) process.stderr.write(`${file}: ${formatProblem(p)}\n`);
  return 1;
}

/** A recognizer profile is recognisable by its top-level `broker` section; everything else is an edge profile. */
function guessKind(file: string): ConfigKind {
  try {
    const doc: unknown = parse(readFileSync(file, 'utf8'));
    return doc && typeof doc === 'object' && 'broker' in doc ? 'recognizer' : 'edge';
  } catch {
    return 'edge'; // checkConfigFile reports the unreadable file or the YAML error itself
  }
}
