import { loadEdgeConfig } from '../config/load.js';
import { EdgeRuntime } from '../edge/edge-runtime.js';
import { createLogger } from '../util/log.js';
import { parseCommandArgs, required, type CommandOptions } from './args.js';
import { runUntilSignalled } from './service-lifetime.js';

/** The options `enfpire edge` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const EDGE_OPTIONS = { config: { type: 'string' } } as const satisfies CommandOptions;

/** `enfpire edge --config FILE`: the device daemon (what systemd runs), until SIGINT/SIGTERM. */
export async function runEdgeCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('edge', args, EDGE_OPTIONS);
  const config = await loadEdgeConfig(required('edge', 'config', values.config));
  const logger = createLogger({ level: config.log.level, name: 'enfpire-edge' });
  const runtime = new EdgeRuntime({ config, logger });
  return runUntilSignalled(runtime, logger, 'edge daemon');
}
