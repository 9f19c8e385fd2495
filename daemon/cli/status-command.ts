import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { getJson } from '../api/api-client.js';
import { parseListenAddress } from '../util/listen-address.js';
import type { StatusReport } from '../api/status.js';
import { STATUS_ENTRIES, statusValue, summaryText, type RegisteredEntry, type StatusValue, type SummaryLine } from '../api/status-registry.js';
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

/**
 * The summary's lines, in order: each shows the registry entries (api/status-registry.ts) placed on it, after its
 * lead; a line whose entries have no reading is left out, or shows `absent`. Latency is the one line outside the
 * registry (percentiles of a window, not a counter): its lead is the whole line.
 */
const LINES: Record<SummaryLine, { title: string | null; lead?: (r: StatusReport) => string | null; absent?: string }> = {
  header: { title: null, lead: (r) => `enfpire edge ${r.version}, model ${r.model}${r.execution_provider ? ` on ${r.execution_provider}` : ''}` },
  broker: { title: 'broker', absent: 'unknown' },
  requests: { title: 'requests' },
  frames: { title: 'frames' },
  skipped: { title: 'skipped' },
  results: { title: 'results' },
  queries: { title: 'queries' },
  latency: { title: 'latency', lead: latency },
  camera: { title: 'camera', lead: (r) => r.camera?.kind ?? null },
  device: { title: 'device', lead: (r) => (r.telemetry ? `load ${r.telemetry.load_average[0].toFixed(2)}` : null) },
  memory: { title: 'memory' },
  thermal: { title: 'thermal' },
  privacy: { title: 'privacy', lead: (r) => r.privacy?.transform ?? null },
  api: { title: 'api' },
};

/** A few lines for a person; scripts use --json. */
export function summary(r: StatusReport): string {
  const lines: string[] = [];
  for (const [id, layout] of Object.entries(LINES) as [SummaryLine, (typeof LINES)[SummaryLine]][]) {
    const shown = STATUS_ENTRIES.filter((e) => !e.repeats && e.summary.line === id)
      .map((entry) => ({ entry, value: statusValue(r, entry) }))
      .filter((e): e is { entry: RegisteredEntry; value: StatusValue } => e.value !== undefined);
    const parts = shown
      .filter(({ entry }) => entry.summary.under === undefined)
      .map(({ entry, value }) => {
        const inner = shown.filter((e) => e.entry.summary.under === entry.path).map((e) => summaryText(e.entry, e.value));
        return inner.length > 0 ? `${summaryText(entry, value)} (${inner.join(', ')})` : summaryText(entry, value);
      });
    const lead = shown.length > 0 || layout.absent === undefined ? layout.lead?.(r) : null;
    if (lead) parts.unshift(lead);
    if (parts.length === 0 && layout.absent !== undefined) parts.push(layout.absent);
    if (parts.length === 0) continue;
    lines.push(`${layout.title === null ? '' : `${layout.title.padEnd(10)} `}${parts.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function latency(r: StatusReport): string | null {
  const all = r.latency_ms?.all;
  return all && all.count > 0 ? `p50 ${ms(all.p50)}, p95 ${ms(all.p95)}, p99 ${ms(all.p99)} (last ${all.count} results)` : null;
}

function ms(v: number | null): string {
  return v === null ? 'n/a' : `${Math.round(v)} ms`;
}
