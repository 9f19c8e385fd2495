import { loadEdgeConfig } from '../config/load.js';
import { EdgeRuntime } from '../edge/edge-runtime.js';
import { createLogger } from '../util/log.js';
import { parseCommandArgs, required } from './args.js';
import { runUntilSignalled } from './service-lifetime.js';

/** `enfpire edge --config FILE`: the device daemon (what systemd runs), until SIGINT/SIGTERM. */
export async function runEdgeCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('edge', args, { config: { type: 'string' } });
  const config = await loadEdgeConfig(required('edge', 'config', values.config));
  const logger = createLogger({ level: config.log.level, name: 'enfpire-edge' });
  const runtime = new EdgeRuntime({ config, logger });
  return runUntilSignalled(runtime, logger, 'edge daemon');
}
