import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { getJson } from '../api/api-client.js';
import { parseListenAddress } from '../api/address.js';
import type { StatusReport } from '../api/status.js';
import { configSchema } from '../config/load.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, type CommandOptions } from './args.js';

/** The options `enfpire status` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const STATUS_OPTIONS = {
  json: { type: 'boolean', default: false },
  api: { type: 'string' },
  config: { type: 'string' },
} as const satisfies CommandOptions;

/**
 * `enfpire status [--json] [--api ADDRESS | --config FILE]`: asks a running edge daemon for its state over the local
 * API (DESIGN §9). Returns 1 (with one sentence on stderr, via UserError) when no daemon answers.
 */
export async function runStatusCommand(args: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const { values } = parseCommandArgs('status', args, STATUS_OPTIONS);
  if (values.api && values.config) throw new UserError('status: give either --api or --config, not both.');
  const listen = values.api ?? (values.config ? listenFromProfile(values.config) : defaultListen());
  const address = parseListenAddress(listen, values.api ? '--api' : values.config ? `api.listen in ${values.config}` : 'the default api.listen');
  const report = await getJson<StatusReport>(address, '/status');
  out(values.json ? `${JSON.stringify(report)}\n` : summary(report));
  return 0;
}

function defaultListen(): string {
  const listen: unknown = configSchema('edge').properties?.api?.properties?.listen?.default;
  return typeof listen === 'string' ? listen : '127.0.0.1:8765';
}

/**
 * Only api.listen is read from the profile, without the full loader: that would also read the broker secrets, which
 * the user asking for the status may rightly not be allowed to read.
 */
function listenFromProfile(file: string): string {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code ? `status: cannot read the profile ${file} (${code}); give the edge daemon's --config file.` : `status: ${file} is not valid YAML; run 'enfpire config check ${file}'.`,
    );
  }
  const api = (data as { api?: { listen?: unknown; enabled?: unknown } } | null)?.api;
  if (api?.enabled === false) throw new UserError(`status: the local API is disabled in ${file} (api.enabled: false); enable it to ask the daemon.`);
  return typeof api?.listen === 'string' ? api.listen : defaultListen();
}

/** A few lines for a person; scripts use --json. */
export function summary(r: StatusReport): string {
  const c = r.counters;
  const lines = [
    `enfpire edge ${r.version}, model ${r.model}, up ${duration(r.uptime_s)}`,
    `broker     ${r.broker ? `${r.broker.state} (sent ${r.broker.sent}, received ${r.broker.received}, timeouts ${r.broker.timeouts}, unauthenticated ${r.broker.unauthenticated})` : 'unknown'}`,
    `frames     ${c.frames} (dropped ${c.frames_dropped}), extracted ${c.extracted}, errors ${c.errors} (retried ${c.frames_retried}, failed ${c.frames_failed})`,
    `results    ${c.results} (from cache ${c.cache_hits}, unknown ${c.unknown})`,
    `queries    ${c.real_queries} real, ${c.dummy_queries} dummy, ${r.queues.scheduler} waiting`,
  ];
  const latency = r.latency_ms?.all;
  if (latency && latency.count > 0) {
    lines.push(`latency    p50 ${ms(latency.p50)}, p95 ${ms(latency.p95)}, p99 ${ms(latency.p99)} (last ${latency.count} results)`);
  }
  const t = r.telemetry;
  if (t) {
    const temperature = t.cpu_temperature_c === null ? 'temperature n/a' : `${t.cpu_temperature_c.toFixed(1)} °C`;
    const throttled = t.throttled_now === null ? '' : t.throttled_now ? ', THROTTLED' : ', not throttled';
    lines.push(`device     ${temperature}, load ${t.load_average[0].toFixed(2)}${throttled}`);
  }
  if (r.thermal?.throttled) lines.push(`thermal    frame rate lowered to ${r.thermal.target_fps.toFixed(2)} of ${r.thermal.base_fps} fps`);
  return `${lines.join('\n')}\n`;
}

function ms(v: number | null): string {
  return v === null ? 'n/a' : `${Math.round(v)} ms`;
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
