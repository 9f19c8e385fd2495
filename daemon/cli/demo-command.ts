import { schemaDefault } from '../config/load.js';
import { runDemo } from '../demo/demo.js';
import type { EdgeResult } from '../edge/edge-daemon.js';
import { createLogger } from '../util/log.js';
import { integerOption, parseCommandArgs, type CommandOptions } from './args.js';

/** The options `enfpire demo` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const DEMO_OPTIONS = {
  once: { type: 'boolean', default: false },
  k: { type: 'string', default: String(schemaDefault('edge', 'privacy.transform.k')) },
  views: { type: 'string', default: '3' },
  seed: { type: 'string', default: '1' },
  api: { type: 'string', default: schemaDefault('edge', 'api.listen') as string },
  thumbnail: { type: 'boolean', default: false },
} as const satisfies CommandOptions;

/**
 * `enfpire demo [--once] [--k K] [--views N] [--seed S] [--api ADDRESS] [--thumbnail]`: one line per result, and with
 * --once a JSON summary last. The operator's page is on the local API; --thumbnail shows the replayed camera on it.
 */
export async function runDemoCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', args, DEMO_OPTIONS);
  const k = integer('k', values.k, 1, 16);
  const views = integer('views', values.views, 1, 50);
  const seed = integer('seed', values.seed, 0, 2 ** 31 - 1);
  const logger = createLogger({ level: process.env.ENFPIRE_LOG_LEVEL ?? 'warn', name: 'enfpire-demo' });

  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());

  process.stdout.write(`enfpire demo: recognising ${views} camera views of each bundled sample spot with privacy on (k = ${k})${values.once ? '' : '; Ctrl-C stops'}\n`);
  const summary = await runDemo({
    once: values.once ?? false,
    k,
    views,
    seed,
    api: values.api,
    apiSettings: { thumbnail: { enabled: values.thumbnail ?? false } },
    logger,
    stopSignal,
    onResult: printResult,
    onReady: (api) => {
      if (!api) return;
      process.stdout.write(`local API on ${api} (try: npx enfpire status --api ${api})\n`);
      if (!api.startsWith('unix:')) process.stdout.write(`operator page: http://${api}/ (open it in a browser on this machine)\n`);
    },
  });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

function printResult(result: EdgeResult, correct: boolean): void {
  const name = result.info?.name ? ` "${String(result.info.name)}"` : '';
  const source = result.fromCache ? 'cache' : 'server';
  process.stdout.write(
    `${correct ? 'ok   ' : 'WRONG'} ${result.label ?? '?'} -> ${result.spotId ?? 'unknown'}${name} score ${result.score.toFixed(3)} ${result.latencyMs} ms (${source})\n`,
  );
}

function integer(name: string, raw: string | undefined, min: number, max: number): number {
  return integerOption('demo', name, raw, min, max);
}
