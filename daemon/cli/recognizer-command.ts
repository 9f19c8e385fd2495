import { loadRecognizerConfig } from '../config/load.js';
import { RecognizerService } from '../recognizer/service.js';
import { createLogger } from '../util/log.js';
import { parseCommandArgs, required } from './args.js';
import { runUntilSignalled } from './service-lifetime.js';

/** `enfpire recognizer --config FILE`: the broker-side service, until SIGINT/SIGTERM. */
export async function runRecognizerCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('recognizer', args, { config: { type: 'string' } });
  const config = await loadRecognizerConfig(required('recognizer', 'config', values.config));
  const logger = createLogger({ level: config.log.level, name: 'enfpire-recognizer' });
  return runUntilSignalled(new RecognizerService({ config, logger }), logger, 'recognizer');
}
