import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { runSoak } from '../soak/soak.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, type CommandOptions } from './args.js';

/** The options `enfpire soak` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const SOAK_OPTIONS = {
  minutes: { type: 'string' },
  rate: { type: 'string', default: '20' },
  out: { type: 'string' },
  'sample-seconds': { type: 'string' },
  'fault-every': { type: 'string' },
} as const satisfies CommandOptions;

/**
 * `enfpire soak --minutes N [--rate Q] [--out FILE.json] [--sample-seconds S] [--fault-every S]`: edge and recognizers
 * through a private Mosquitto with faults on a schedule (daemon/soak/). Progress on stderr; the last stdout line is a
 * JSON summary. Exit status 1 when a metric grew over the second half, a fault was not recovered from, or a killed
 * edge left a damaged file or lost an acknowledged result.
 */
export async function runSoakCommand(args: string[], write: (text: string) => void = (t) => void process.stdout.write(t)): Promise<number> {
  const { values } = parseCommandArgs('soak', args, SOAK_OPTIONS);
  if (values.minutes === undefined) throw new UserError('soak: --minutes is required.');
  const minutes = number('minutes', values.minutes, 0.5, 24 * 60);
  const report = await runSoak({
    minutes,
    rate: number('rate', values.rate, 0.5, 200),
    sampleSeconds: values['sample-seconds'] === undefined ? undefined : number('sample-seconds', values['sample-seconds'], 0.5, 600),
    faultEverySeconds: values['fault-every'] === undefined ? undefined : number('fault-every', values['fault-every'], 10, 3600),
    progress: (line) => process.stderr.write(`enfpire soak: ${line}\n`),
  });
  if (values.out) {
    const outPath = resolve(values.out);
    await mkdir(dirname(outPath), { recursive: true });
    // Written whole then renamed: a script polling for the file never reads half of it.
    await writeFile(`${outPath}.partial`, `${JSON.stringify(report, null, 1)}\n`);
    await rename(`${outPath}.partial`, outPath);
  }
  const q = report.queries;
  write(`${JSON.stringify({ pass: report.pass, faults: report.faults.length, recovered: report.faults.filter((f) => f.recovered).length, answered: q.answered, failed: q.failed })}\n`);
  if (!report.pass) process.stderr.write(`enfpire soak: failed: ${report.problems.join('; ')}\n`);
  return report.pass ? 0 : 1;
}

function number(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new UserError(`soak: --${name} must be a number from ${min} to ${max}, not '${raw}'.`);
  return n;
}
