import { loadRecognizerConfig } from '../config/load.js';
import { RecognizerService } from '../recognizer/service.js';
import { createLogger } from '../util/log.js';
import { parseCommandArgs, required, type CommandOptions } from './args.js';
import { runUntilSignalled } from './service-lifetime.js';

/** The options `enfpire recognizer` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const RECOGNIZER_OPTIONS = { config: { type: 'string' } } as const satisfies CommandOptions;

/** `enfpire recognizer --config FILE`: the broker-side service, until SIGINT/SIGTERM. */
export async function runRecognizerCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('recognizer', args, RECOGNIZER_OPTIONS);
  const config = await loadRecognizerConfig(required('recognizer', 'config', values.config));
  const logger = createLogger({ level: config.log.level, name: 'enfpire-recognizer' });
  return runUntilSignalled(new RecognizerService({ config, logger }), logger, 'recognizer');
}
