/**
 * Device health readings for the local API (DESIGN §4: health never goes to the recognition broker) and the thermal
 * governor. Every reading may be missing on some platform (no sensor in a VM, no firmware interface off a Raspberry
 * Pi): a missing reading is null plus a one-line reason in `unavailable`, never an exception.
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as si from 'systeminformation';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';

/** Raspberry Pi firmware throttling flags (`vcgencmd get_throttled`): what is true now, and what happened since boot. */
export interface ThrottleFlags {
  underVoltage: boolean;
  frequencyCapped: boolean;
  throttled: boolean;
  softTemperatureLimit: boolean;
}

export interface ThrottleState {
  source: 'vcgencmd' | 'sysfs';
  /** The firmware's bit field as reported. */
  raw: number;
  now: ThrottleFlags;
  sinceBoot: ThrottleFlags;
}

/** A Linux thermal zone (/sys/class/thermal): Jetson boards report CPU, GPU and SoC temperatures this way. */
export interface ThermalZone {
  type: string;
  tempC: number;
}

export interface TelemetrySample {
  /** ms since the epoch. */
  at: number;
  cpuTemperatureC: number | null;
  /** Whole-machine CPU use since the previous sample, 0..100. */
  cpuPercent: number | null;
  /** 1, 5 and 15 minute load averages. */
  loadAverage: [number, number, number];
  memory: { totalBytes: number; availableBytes: number; usedBytes: number } | null;
  processRssBytes: number;
  thermalZones: ThermalZone[];
  throttling: ThrottleState | null;
  /** Reading name → why it is null (or empty). */
  unavailable: Record<string, string>;
}

/** Where the readings come from; the defaults are the real platform interfaces, tests point them elsewhere. */
export interface TelemetryOptions {
  /** How often start() samples (default 5 s). */
  intervalMs?: number;
  /** Raspberry Pi firmware throttling file, read when vcgencmd is absent. */
  throttledFile?: string;
  thermalDir?: string;
  /** Command asked for `get_throttled` ('' to skip it). */
  vcgencmd?: string;
  logger?: Logger;
}

const DEFAULTS = {
  intervalMs: 5_000,
  throttledFile: '/sys/devices/platform/soc/soc:firmware/get_throttled',
  thermalDir: '/sys/class/thermal',
  vcgencmd: 'vcgencmd',
};

/** Decodes the firmware's get_throttled bit field (bits 0-3: now, bits 16-19: since boot). */
export function decodeThrottled(raw: number, source: ThrottleState['source']): ThrottleState {
  const flags = (shift: number): ThrottleFlags => ({
    underVoltage: (raw & (1 << shift)) !== 0,
    frequencyCapped: (raw & (1 << (shift + 1))) !== 0,
    throttled: (raw & (1 << (shift + 2))) !== 0,
    softTemperatureLimit: (raw & (1 << (shift + 3))) !== 0,
  });
  return { source, raw, now: flags(0), sinceBoot: flags(16) };
}

/** `throttled=0x50005` (vcgencmd) or `50005` (sysfs, hex without prefix) → number, or null when unparsable. */
export function parseThrottled(text: string): number | null {
  const match = /(?:throttled=)?(?:0x)?([0-9a-f]+)\s*$/i.exec(text.trim());
  return match ? Number.parseInt(match[1], 16) : null;
}

/** Zone types that measure the CPU (Raspberry Pi 'cpu-thermal', Jetson 'CPU-therm', x86 'x86_pkg_temp'). */
const CPU_ZONE = /cpu|x86_pkg|soc/i;

export class SystemTelemetry extends EventEmitter<{ sample: [TelemetrySample] }> {
  private readonly opts: Required<Omit<TelemetryOptions, 'logger'>>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private last: TelemetrySample | null = null;
  private sampling: Promise<TelemetrySample> | undefined;

  constructor(options: TelemetryOptions = {}) {
    super();
    this.opts = {
      intervalMs: options.intervalMs ?? DEFAULTS.intervalMs,
      throttledFile: options.throttledFile ?? DEFAULTS.throttledFile,
      thermalDir: options.thermalDir ?? DEFAULTS.thermalDir,
      vcgencmd: options.vcgencmd ?? DEFAULTS.vcgencmd,
    };
    this.log = options.logger ?? silentLogger();
  }

  /** The latest sample, null before the first one finished. */
  latest(): TelemetrySample | null {
    return this.last;
  }

  /** Samples now and then every intervalMs; a slow sample is never overlapped by the next one. */
  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sample(), this.opts.intervalMs);
    this.timer.unref();
    await this.sample();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  sample(): Promise<TelemetrySample> {
    this.sampling ??= this.read().then((sample) => {
      this.sampling = undefined;
      this.last = sample;
      this.emit('sample', sample);
      return sample;
    });
    return this.sampling;
  }

  private async read(): Promise<TelemetrySample> {
    const unavailable: Record<string, string> = {};
    const attempt = async <T>(name: string, read: () => Promise<T | null>, missing: string): Promise<T | null> => {
      try {
        const value = await read();
        if (value === null) unavailable[name] = missing;
        return value;
      } catch (err) {
        unavailable[name] = (err as Error).message;
        this.log.debug({ reading: name, err: (err as Error).message }, 'telemetry reading unavailable');
        return null;
      }
    };

    const [zones, siTemperature, cpuPercent, memory, throttling] = await Promise.all([
      attempt('thermalZones', () => this.thermalZones(), `no thermal zones under ${this.opts.thermalDir}`),
      attempt('cpuTemperatureC', async () => finite((await si.cpuTemperature()).main), 'no CPU temperature sensor reported'),
      attempt('cpuPercent', async () => finite((await si.currentLoad()).currentLoad), 'CPU load not reported'),
      attempt('memory', async () => {
        const m = await si.mem();
        return { totalBytes: m.total, availableBytes: m.available, usedBytes: m.total - m.available };
      }, 'memory not reported'),
      attempt('throttling', () => this.throttling(), 'no firmware throttling interface (not a Raspberry Pi)'),
    ]);

    const thermalZones = zones ?? [];
    let cpuTemperatureC = siTemperature;
    if (cpuTemperatureC === null) {
      const cpuZones = thermalZones.filter((z) => CPU_ZONE.test(z.type)).map((z) => z.tempC);
      if (cpuZones.length > 0) {
        cpuTemperatureC = Math.max(...cpuZones);
        delete unavailable.cpuTemperatureC;
      }
    }
    const [l1, l5, l15] = loadavg();
    return {
      at: Date.now(),
      cpuTemperatureC,
      cpuPercent,
      loadAverage: [l1, l5, l15],
      memory,
      processRssBytes: process.memoryUsage.rss(),
      thermalZones,
      throttling,
      unavailable,
    };
  }

  private async thermalZones(): Promise<ThermalZone[] | null> {
    let entries: string[];
    try {
      entries = (await readdir(this.opts.thermalDir)).filter((name) => name.startsWith('thermal_zone'));
    } catch {
      return null;
    }
    const zones = await Promise.all(
      entries.sort().map(async (name) => {
        try {
          const [type, temp] = await Promise.all([
            readFile(join(this.opts.thermalDir, name, 'type'), 'utf8'),
            readFile(join(this.opts.thermalDir, name, 'temp'), 'utf8'),
          ]);
          const milli = Number(temp.trim());
          // Disabled zones read as errors or absurd values; skip them rather than report them.
          return Number.isFinite(milli) && milli > -50_000 && milli < 200_000 ? { type: type.trim(), tempC: milli / 1000 } : null;
        } catch {
          return null;
        }
      }),
    );
    const found = zones.filter((z): z is ThermalZone => z !== null);
    return found.length > 0 ? found : null;
  }

  /** vcgencmd when present (it asks the firmware directly), else the firmware's sysfs file. */
  private async throttling(): Promise<ThrottleState | null> {
    if (this.opts.vcgencmd) {
      const out = await run(this.opts.vcgencmd, ['get_throttled']).catch(() => null);
      const raw = out === null ? null : parseThrottled(out);
      if (raw !== null) return decodeThrottled(raw, 'vcgencmd');
    }
    const text = await readFile(this.opts.throttledFile, 'utf8').catch(() => null);
    const raw = text === null ? null : parseThrottled(text);
    return raw === null ? null : decodeThrottled(raw, 'sysfs');
  }
}

function finite(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 2_000 }, (err: Error | null, stdout: string) => (err ? reject(err) : resolve(stdout)));
  });
}
