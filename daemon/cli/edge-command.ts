import { loadEdgeConfig } from '../config/load.js';
import { formatWarning } from '../config/problems.js';
import type { Problem } from '../config/types.js';
import { EdgeRuntime } from '../edge/edge-runtime.js';
import { createLogger } from '../util/log.js';
import { parseCommandArgs, required, type CommandOptions } from './args.js';
import { runUntilSignalled } from './service-lifetime.js';

/** The options `enfpire edge` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const EDGE_OPTIONS = { config: { type: 'string' } } as const satisfies CommandOptions;

/** `enfpire edge --config FILE`: the device daemon (what systemd runs), until SIGINT/SIGTERM. */
export async function runEdgeCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('edge', args, EDGE_OPTIONS);
  // The logger's level is a setting, so a profile read the old way is reported once the logger exists.
  const warnings: Problem[] = [];
  const config = await loadEdgeConfig(required('edge', 'config', values.config), { onWarning: (w) => warnings.push(w) });
  const logger = createLogger({ level: config.log.level, name: 'enfpire-edge' });
  for (const w of warnings) logger.warn({ setting: w.path, configFile: config.configFile }, formatWarning(w));
  const runtime = new EdgeRuntime({ config, logger });
  return runUntilSignalled(runtime, logger, 'edge daemon');
}
