import { resolve } from 'node:path';
import { schemaDefault } from '../config/load.js';
import { EVAL_DEFAULTS, runEval, writeReport } from '../eval/eval-harness.js';
import { UserError } from '../util/errors.js';
import { createLogger } from '../util/log.js';
import { defaultModelManifest } from '../util/paths.js';
import { parseCommandArgs, required } from './args.js';

/**
 * `enfpire eval --spots DIR --out FILE.json [--k K] [--seed S] [--queries-per-spot N] [--model MANIFEST]
 *   [--candidates C] [--threshold T]` (the last two default to the edge profile's defaults):
 * progress on stderr, the report written atomically to FILE.json, one summary line on stdout.
 */
export async function runEvalCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('eval', args, {
    spots: { type: 'string' },
    out: { type: 'string' },
    k: { type: 'string' },
    seed: { type: 'string' },
    'queries-per-spot': { type: 'string' },
    model: { type: 'string' },
    candidates: { type: 'string' },
    threshold: { type: 'string' },
  });
  const spotsDir = resolve(required('eval', 'spots', values.spots));
  const outPath = resolve(required('eval', 'out', values.out));
  const logger = createLogger({ name: 'enfpire-eval', level: 'warn' });
  const progress = process.stderr.isTTY ? progressLine : progressEvery10Percent();

  const report = await runEval({
    spotsDir,
    modelManifest: resolve(values.model ?? defaultModelManifest),
    k: integer('k', values.k, EVAL_DEFAULTS.k),
    seed: integer('seed', values.seed, EVAL_DEFAULTS.seed),
    queriesPerSpot: integer('queries-per-spot', values['queries-per-spot'], EVAL_DEFAULTS.queriesPerSpot),
    // The device's own defaults, from the profile schema, so eval measures what users run.
    candidatesPerComponent: integer('candidates', values.candidates, schemaDefault('edge', 'privacy.candidatesPerComponent') as number),
    resolverThreshold: fraction('threshold', values.threshold, schemaDefault('edge', 'resolver.threshold') as number),
    logger,
    onProgress: progress,
  });
  await writeReport(outPath, report);
  process.stdout.write(
    `eval: ${report.spots} spots, ${report.queries} queries, k=${report.k}: baseline_top1 ${report.baseline_top1}, ` +
      `user_top1 ${report.user_top1}, server_top1 ${report.server_top1}, ${report.bytes_per_result} B/result, ` +
      `${report.timing.wall_s} s -> ${outPath}\n`,
  );
  return 0;
}

function fraction(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const x = Number(text);
  if (!Number.isFinite(x) || x < -1 || x > 1) throw new UserError(`eval: --${name} must be a cosine between -1 and 1 (got '${text}').`);
  return x;
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text.trim())) throw new UserError(`eval: --${name} must be an integer (got '${text}').`);
  return Number(text);
}

function progressLine(done: number, total: number): void {
  process.stderr.write(`\reval: query ${done}/${total}${done === total ? '\n' : ''}`);
}

/** Without a terminal (logs, CI) a line per 10 % instead of carriage returns. */
function progressEvery10Percent(): (done: number, total: number) => void {
  let shown = -1;
  return (done, total) => {
    const tenth = Math.floor((done * 10) / total);
    if (tenth !== shown) {
      shown = tenth;
      process.stderr.write(`eval: query ${done}/${total}\n`);
    }
  };
}
