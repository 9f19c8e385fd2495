import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { schemaDefault } from '../config/load.js';
import { LOAD_INDEX_KINDS, defaultLoadIndex, runLoad, runLoadSeries, type LoadIndexKind } from '../load/load-run.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, required, type CommandOptions } from './args.js';

/** The options `enfpire load` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const LOAD_OPTIONS = {
  spots: { type: 'string', default: '10000' },
  devices: { type: 'string', default: '100' },
  rate: { type: 'string' },
  recognizers: { type: 'string', default: '1' },
  minutes: { type: 'string', default: '1' },
  out: { type: 'string' },
  broker: { type: 'string' },
  roll: { type: 'boolean', default: false },
  index: { type: 'string' },
  'scan-thread': { type: 'string' },
  'scan-threads': { type: 'string' },
  warmup: { type: 'string' },
  pool: { type: 'string' },
  seed: { type: 'string', default: '1' },
} as const satisfies CommandOptions;

/**
 * `enfpire load --spots N --devices D --rate R --recognizers K --minutes M --out FILE.json [--broker URL] [--roll] [--index hnsw|exact-onnx|int8-onnx]`
 * `[--scan-thread worker|main] [--scan-threads N]`
 * (DESIGN §9): many simulated devices through a real broker against K recognizers of one shared group. The report's
 * keys are documented in docs/scaling.md; progress goes to stderr, one summary line to stdout.
 */
export async function runLoadCommand(args: string[], write: (text: string) => void = (t) => void process.stdout.write(t)): Promise<number> {
  const { values } = parseCommandArgs('load', args, LOAD_OPTIONS);
  const outPath = resolve(required('load', 'out', values.out));
  if (values.broker !== undefined && !/^mqtts?:\/\/[^\s/]+/.test(values.broker)) {
    throw new UserError(`load: --broker must be an mqtt:// or mqtts:// URL, not '${values.broker}'.`);
  }
  // Without --index, the schema's index.kind, as a recognizer without one in its profile.
  const kind = values.index ?? defaultLoadIndex();
  if (!(LOAD_INDEX_KINDS as readonly string[]).includes(kind)) throw new UserError(`load: --index must be ${LOAD_INDEX_KINDS.join(', ')}, not '${kind}'.`);
  const index = kind as LoadIndexKind;
  const scanThread = scanThreadOf(values['scan-thread']);
  // exact-onnx and int8-onnx only: HNSW answers on the recognizer's thread and has no scan.
  if (index === 'hnsw' && (scanThread !== undefined || values['scan-threads'] !== undefined)) {
    throw new UserError(`load: --scan-thread and --scan-threads apply to --index exact-onnx or int8-onnx, not hnsw.`);
  }
  // --recognizers 1,2,4 measures each group size in turn against one workload (runLoadSeries).
  const sizes = values.recognizers.split(',').map((k) => number('recognizers', k, 1, 64, true));
  const options = {
    spots: number('spots', values.spots, 10, 10_000_000, true),
    devices: number('devices', values.devices, 1, 100_000, true),
    rate: values.rate === undefined ? (schemaDefault('edge', 'scheduler.ratePerSecond') as number) : number('rate', values.rate, 0.01, 1000),
    minutes: number('minutes', values.minutes, 0.05, 24 * 60),
    brokerUrl: values.broker,
    roll: values.roll,
    index,
    scanThread,
    scanThreads: values['scan-threads'] === undefined ? undefined : number('scan-threads', values['scan-threads'], 1, 64, true),
    warmupSeconds: values.warmup === undefined ? undefined : number('warmup', values.warmup, 0, 3600),
    poolSize: values.pool === undefined ? undefined : number('pool', values.pool, 10, 100_000, true),
    seed: number('seed', values.seed, 0, 2 ** 31, true),
    progress: (line: string) => process.stderr.write(`enfpire load: ${line}\n`),
  };
  const report = sizes.length === 1 ? await runLoad({ ...options, recognizers: sizes[0] }) : await runLoadSeries(options, sizes);
  await mkdir(dirname(outPath), { recursive: true });
  const partial = `${outPath}.partial`;
  await writeFile(partial, `${JSON.stringify(report, null, 2)}\n`);
  await rename(partial, outPath);
  write(
    `${report.achieved_qps} q/s of ${report.offered_qps} offered, p50 ${report.p50_ms} ms, p99 ${report.p99_ms} ms, ` +
      `${report.errors} errors, ${report.drops} drops, component recall ${report.component_recall}, ` +
      `${report.bytes_per_result} B/result; wrote ${outPath}\n`,
  );
  for (const p of report.scale_out ?? []) {
    write(`  ${p.recognizers} recognizer(s): ${p.achieved_qps} q/s (${p.speedup}x), ${p.processed_qps} q/s processed (${p.processed_speedup}x), p99 ${p.p99_ms} ms, ${p.drops} drops, ${p.errors} errors\n`);
  }
  return 0;
}

function scanThreadOf(raw: string | undefined): 'worker' | 'main' | undefined {
  if (raw === undefined || raw === 'worker' || raw === 'main') return raw;
  throw new UserError(`load: --scan-thread must be worker or main, not '${raw}'.`);
}

function number(name: string, raw: string, min: number, max: number, integer = false): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UserError(`load: --${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, not '${raw}'.`);
  }
  return n;
}
