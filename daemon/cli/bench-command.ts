import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { runBench } from '../bench/run-bench.js';
import { formatBenchTable } from '../bench/table.js';
import { defaultModelManifest, sampleSpotsDir } from '../util/paths.js';
import { integerOption, parseCommandArgs, required, type CommandOptions } from './args.js';

/** The options `enfpire bench` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const BENCH_OPTIONS = {
  out: { type: 'string' },
  frames: { type: 'string' },
  quick: { type: 'boolean', default: false },
  model: { type: 'string' },
  spots: { type: 'string' },
} as const satisfies CommandOptions;

/**
 * `enfpire bench --out FILE.json [--frames N] [--quick] [--model MANIFEST] [--spots DIR]`: stage-by-stage speed and
 * recognizer load (keys in docs/benchmarks.md); a table on stdout, progress on stderr.
 */
export async function runBenchCommand(args: string[], write: (text: string) => void = (t) => void process.stdout.write(t)): Promise<number> {
  const { values } = parseCommandArgs('bench', args, BENCH_OPTIONS);
  const outPath = resolve(required('bench', 'out', values.out));
  const frames = values.frames === undefined ? undefined : integer('frames', values.frames, 2, 100_000);
  const report = await runBench({
    manifestPath: resolve(values.model ?? defaultModelManifest),
    spotsDir: resolve(values.spots ?? sampleSpotsDir),
    frames,
    quick: values.quick,
    onStage: (stage) => process.stderr.write(`enfpire bench: ${stage}…\n`),
  });
  await mkdir(dirname(outPath), { recursive: true });
  // Written whole then renamed: a script polling for the file never reads half of it.
  const partial = `${outPath}.partial`;
  await writeFile(partial, `${JSON.stringify(report, null, 2)}\n`);
  await rename(partial, outPath);
  write(formatBenchTable(report));
  write(`wrote ${outPath} (${report.seconds} s${report.quick ? ', quick: sizes too small for numbers to quote' : ''})\n`);
  return 0;
}

function integer(name: string, raw: string | undefined, min: number, max: number): number {
  return integerOption('bench', name, raw, min, max);
}
