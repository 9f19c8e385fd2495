import { resolve } from 'node:path';
import { schemaDefault } from '../config/load.js';
import { parseSettingOverrides } from '../config/overrides.js';
import { EVAL_DEFAULTS, runEval, writeReport } from '../eval/eval-harness.js';
import { writeCurvePng } from '../eval/plot.js';
import { REAL_COMPONENTS } from '../privacy/kmix.js';
import { DECOY_SOURCES, TRANSFORM_KINDS } from '../privacy/transform.js';
import { UserError } from '../util/errors.js';
import { createLogger } from '../util/log.js';
import { defaultModelManifest } from '../util/paths.js';
import { integerOption, parseCommandArgs, required, type CommandOptions } from './args.js';

/** The options `enfpire eval` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const EVAL_OPTIONS = {
  spots: { type: 'string' },
  out: { type: 'string' },
  k: { type: 'string' },
  seed: { type: 'string' },
  'device-seed': { type: 'string' },
  users: { type: 'string' },
  minutes: { type: 'string' },
  rate: { type: 'string' },
  mode: { type: 'string' },
  decoys: { type: 'string' },
  'real-component': { type: 'string' },
  camera: { type: 'string' },
  transform: { type: 'string' },
  noise: { type: 'string' },
  broker: { type: 'string' },
  record: { type: 'string' },
  replay: { type: 'string' },
  truth: { type: 'string' },
  guesses: { type: 'string' },
  results: { type: 'string' },
  plot: { type: 'string' },
  model: { type: 'string' },
  candidates: { type: 'string' },
  'max-candidates': { type: 'string' },
  threshold: { type: 'string' },
  'background-pass': { type: 'string' },
  offgallery: { type: 'string' },
  time: { type: 'string' },
  rotate: { type: 'string' },
  'history-minutes': { type: 'string' },
  'reference-views': { type: 'string' },
  'adversary-views': { type: 'string' },
  'no-cache': { type: 'boolean' },
  set: { type: 'string', multiple: true },
} as const satisfies CommandOptions;

/** Device settings the harness itself reads (baseline resolver, its copy of the gate): only their own flags set them. */
const HARNESS_READ_SETTINGS = [
  ['resolver.threshold', 'threshold'],
  ['privacy.backgroundPass', 'background-pass'],
] as const;

/**
 * `enfpire eval --spots DIR --out FILE.json [--k K] [--seed S] [--device-seed S] [--users U] [--minutes M] [--rate R]
 *   [--mode constant|poisson] [--transform kmix|noise|bucket] [--noise N] [--decoys wearer|phantoms|lockstep|random]
 *   [--real-component stand-in|frame]
 *   [--camera continuous|photos] [--broker mqtt://…] [--record FILE [--truth FILE] [--guesses FILE]] [--replay FILE --truth FILE] [--results FILE] [--plot FILE.png]
 *   [--model MANIFEST] [--candidates C] [--max-candidates N] [--threshold T] [--background-pass S] [--offgallery DIR] [--time virtual|wall] [--rotate MINUTES] [--history-minutes M]
 *   [--reference-views N] [--adversary-views N] [--no-cache] [--set path=value …]`: candidates, decoys, mode, rate and rotation default to the edge profile's defaults, the threshold to the model manifest's. Progress on stderr, the report written atomically to FILE.json, one summary line on stdout.
 */
export async function runEvalCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('eval', args, EVAL_OPTIONS);
  const spotsDir = resolve(required('eval', 'spots', values.spots));
  const outPath = resolve(required('eval', 'out', values.out));
  const logger = createLogger({ name: 'enfpire-eval', level: 'warn' });
  const progress = process.stderr.isTTY ? progressLine : progressEvery10Percent();
  const mode = choice('mode', values.mode, ['constant', 'poisson'] as const, schemaDefault('edge', 'scheduler.mode') as string);
  const decoys = choice('decoys', values.decoys, DECOY_SOURCES, schemaDefault('edge', 'privacy.transform.decoys') as string);
  const realComponent = choice('real-component', values['real-component'], REAL_COMPONENTS, schemaDefault('edge', 'privacy.transform.realComponent') as string);
  const transform = choice('transform', values.transform, TRANSFORM_KINDS, (schemaDefault('edge', 'privacy.transform') as { kind: string }).kind);
  const camera = choice('camera', values.camera, ['continuous', 'photos'] as const, EVAL_DEFAULTS.camera);
  const deviceSettings = parseSettingOverrides('eval', 'edge', values.set ?? []);
  for (const [path, flag] of HARNESS_READ_SETTINGS) {
    const [section, key] = path.split('.');
    if ((deviceSettings[section] as Record<string, unknown> | undefined)?.[key] !== undefined) {
      throw new UserError(`eval: set ${path} with --${flag}, not --set: the harness's baseline and gate read it too.`);
    }
  }

  const report = await runEval({
    spotsDir,
    modelManifest: resolve(values.model ?? defaultModelManifest),
    k: integer('k', values.k, EVAL_DEFAULTS.k),
    seed: integer('seed', values.seed, EVAL_DEFAULTS.seed),
    deviceSeed: values['device-seed'] === undefined ? undefined : integer('device-seed', values['device-seed'], 0),
    users: integer('users', values.users, EVAL_DEFAULTS.users),
    minutes: positive('minutes', values.minutes, EVAL_DEFAULTS.minutes),
    // The device's own defaults, from the profile schema, so eval measures what users run.
    ratePerSecond: positive('rate', values.rate, schemaDefault('edge', 'scheduler.ratePerSecond') as number),
    mode,
    decoys,
    realComponent,
    camera,
    transform,
    noise: values.noise === undefined ? undefined : positiveOrZero('noise', values.noise),
    candidatesPerComponent: integer('candidates', values.candidates, schemaDefault('edge', 'privacy.transform.candidatesPerComponent') as number),
    maxCandidates: values['max-candidates'] === undefined ? undefined : integer('max-candidates', values['max-candidates'], 0),
    // Absent, the devices take the model manifest's threshold, as a profile that sets none does.
    resolverThreshold: cosine('threshold', values.threshold),
    // Absent, the profile's privacy.backgroundPass.
    backgroundPass: values['background-pass'] === undefined ? undefined : share('background-pass', values['background-pass']),
    brokerUrl: values.broker,
    offGalleryDir: values.offgallery === undefined ? undefined : resolve(values.offgallery),
    time: choice('time', values.time, ['virtual', 'wall'] as const, 'virtual'),
    rotateIdentityMinutes: values.rotate === undefined ? undefined : positiveOrZero('rotate', values.rotate),
    historyMinutes: values['history-minutes'] === undefined ? undefined : positiveOrZero('history-minutes', values['history-minutes']),
    // Enrolment as `enfpire enroll --reference-views N` builds it (decision 51).
    referenceViews: values['reference-views'] === undefined ? undefined : integerOption('eval', 'reference-views', values['reference-views'], 0, 64),
    // 0 leaves the component test without views of its own (it then guesses blindly) and saves 6 renders a spot:
    // for runs that measure the user at a size where the attacks are measured elsewhere.
    adversaryViews: values['adversary-views'] === undefined ? undefined : integerOption('eval', 'adversary-views', values['adversary-views'], 0, 64),
    deviceSettings,
    cacheDir: values['no-cache'] ? null : undefined,
    // --replay reads the pair a --record/--truth run wrote, and attacks it again without running devices.
    replay: values.replay === undefined ? undefined : { recordPath: resolve(values.replay), truthPath: resolve(required('eval', 'truth', values.truth)) },
    recordPath: values.record === undefined ? undefined : resolve(values.record),
    truthPath: values.truth === undefined || values.replay !== undefined ? undefined : resolve(values.truth),
    guessesPath: values.guesses === undefined ? undefined : resolve(values.guesses),
    resultsPath: values.results === undefined ? undefined : resolve(values.results),
    sweep: values.plot !== undefined,
    logger,
    onProgress: progress,
  });
  await writeReport(outPath, report);
  if (values.plot !== undefined && report.curve) {
    const plotPath = resolve(values.plot);
    await writeCurvePng(plotPath, report.curve, `enfpire eval: ${report.spots} spots, ${report.users} users, ${report.decoys} decoys`).catch(
      (err: Error) => {
        throw new UserError(`Cannot write the plot ${plotPath} (${err.message}); choose a writable --plot file.`);
      },
    );
  }
  process.stdout.write(
    `eval: ${report.spots} spots, ${report.queries} queries (${report.real_queries} real), k=${report.k}: ` +
      `baseline_top1 ${report.baseline_top1}, user_top1 ${report.user_top1}, server_top1 ${report.server_top1}, ` +
      `trajectory_acc ${report.trajectory_acc}, dummy_auc ${report.dummy_auc}, ${report.bytes_per_result} B/result, ` +
      `${report.timing.wall_s} s -> ${outPath}\n`,
  );
  return 0;
}

function choice<T extends string>(name: string, text: string | undefined, allowed: readonly T[], fallback: string): T {
  const value = text ?? fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UserError(`eval: --${name} must be one of ${allowed.join(', ')} (got '${value}').`);
  }
  return value as T;
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const x = Number(text);
  if (!Number.isFinite(x) || x <= 0) throw new UserError(`eval: --${name} must be a number > 0 (got '${text}').`);
  return x;
}

function positiveOrZero(name: string, text: string): number {
  const x = Number(text);
  if (!Number.isFinite(x) || x < 0) throw new UserError(`eval: --${name} must be a number >= 0 (got '${text}').`);
  return x;
}

function cosine(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const x = Number(text);
  if (!Number.isFinite(x) || x < -1 || x > 1) throw new UserError(`eval: --${name} must be a cosine between -1 and 1 (got '${text}').`);
  return x;
}

function share(name: string, text: string): number {
  const x = Number(text);
  if (!Number.isFinite(x) || x <= 0 || x > 1) throw new UserError(`eval: --${name} must be a share in (0, 1] (got '${text}').`);
  return x;
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text.trim())) throw new UserError(`eval: --${name} must be an integer (got '${text}').`);
  return Number(text);
}

function progressLine(done: number, total: number): void {
  process.stderr.write(`\reval: ${Math.round(done / 1000)}/${Math.round(total / 1000)} simulated s${done === total ? '\n' : ''}`);
}

/** Without a terminal (logs, CI) a line per 10 % instead of carriage returns. */
function progressEvery10Percent(): (done: number, total: number) => void {
  let shown = -1;
  return (done, total) => {
    const tenth = Math.floor((done * 10) / total);
    if (tenth !== shown) {
      shown = tenth;
      process.stderr.write(`eval: ${tenth * 10} % of the simulated time\n`);
    }
  };
}
