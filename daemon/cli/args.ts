import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../util/errors.js';

/** parseArgs with errors turned into one clear sentence for the user. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UserError(`${command}: ${(err as Error).message}; run 'enfpire --help' for usage.`);
  }
}

/** A required option, or a UserError naming it. */
export function required(command: string, name: string, value: string | undefined): string {
  if (!value) throw new UserError(`${command}: --${name} is required.`);
  return value;
}
