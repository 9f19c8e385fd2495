import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../util/errors.js';

/** A command's options table, as node:util parseArgs takes it. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with errors turned into one clear sentence for the user. */
export function parseCommandArgs<T extends CommandOptions>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UserError(`${command}: ${(err as Error).message}; run 'enfpire ${command} --help' for its options.`);
  }
}

/** Every flag a parser table takes, one a line, for `enfpire <command> --help`: the table is the single source. */
export function optionsHelp(options: CommandOptions): string {
  const lines = Object.entries(options).map(([name, o]) => {
    const value = o.type === 'string' ? ' VALUE' : '';
    return `  --${name}${value}${o.multiple ? ' (repeatable)' : ''}`;
  });
  return lines.length > 0 ? `options:\n${lines.join('\n')}\n` : 'options: none\n';
}

/** A required option, or a UserError naming it. */
export function required(command: string, name: string, value: string | undefined): string {
  if (!value) throw new UserError(`${command}: --${name} is required.`);
  return value;
}

/** An integer option within [min, max], or a UserError naming the command, the option and the range. */
export function integerOption(command: string, name: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UserError(`${command}: --${name} must be an integer from ${min} to ${max}, not '${raw}'.`);
  return n;
}
