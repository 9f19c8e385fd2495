import { EventEmitter } from 'node:events';
import type { HealthConfig } from '../config/types.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';

export interface ThermalPolicy {
  /** The frame rate the profile asks for (camera.fps); never exceeded. */
  baseFps: number;
  /** Never throttled below this. */
  minFps: number;
  /** Above this CPU temperature each reading lowers the rate by one step. */
  throttleAboveC: number;
  /** Below this each reading restores one step; between the two the rate holds (hysteresis). */
  restoreBelowC: number;
  /** Each step multiplies the rate by this (0 < factor < 1). */
  stepFactor: number;
}

/** The policy from a profile; the one rule the schema cannot express is checked here, naming the file. */
export function thermalPolicyFrom(health: HealthConfig, baseFps: number, configFile: string): ThermalPolicy {
  const { throttleAboveC, restoreBelowC, minFps, stepFactor } = health.thermal;
  if (restoreBelowC >= throttleAboveC) {
    throw new UserError(
      `health.thermal.restoreBelowC (${restoreBelowC}) must be below health.thermal.throttleAboveC (${throttleAboveC}) in ${configFile}; lower it by a few degrees.`,
    );
  }
  return { baseFps, minFps, throttleAboveC, restoreBelowC, stepFactor };
}

/**
 * The decision alone, no timers or sensors: one step per reading, so a hot device slows down gradually and a brief
 * spike costs one step, not the whole rate. Multiplicative steps keep the relative change the same at 30 fps and
 * at 2 fps.
 */
export class ThermalGovernor {
  private level = 0;
  private readonly maxLevel: number;

  constructor(private readonly policy: ThermalPolicy) {
    const { baseFps, minFps, throttleAboveC, restoreBelowC, stepFactor } = policy;
    if (!(restoreBelowC < throttleAboveC)) {
      throw new RangeError(`restoreBelowC (${restoreBelowC}) must be below throttleAboveC (${throttleAboveC})`);
    }
    if (!(stepFactor > 0 && stepFactor < 1)) throw new RangeError(`stepFactor must be between 0 and 1, got ${stepFactor}`);
    if (!(minFps > 0 && baseFps > 0)) throw new RangeError('baseFps and minFps must be positive');
    // The level at which the rate reaches minFps; a base rate already at or below it cannot be throttled.
    this.maxLevel = baseFps <= minFps ? 0 : Math.ceil(Math.log(minFps / baseFps) / Math.log(stepFactor));
  }

  /** The frame rate to run at now. */
  get fps(): number {
    const { baseFps, minFps, stepFactor } = this.policy;
    return this.level === 0 ? baseFps : Math.max(minFps, baseFps * stepFactor ** this.level);
  }

  get throttled(): boolean {
    return this.level > 0;
  }

  /** Takes one temperature reading and returns the target rate; an unknown temperature holds the current rate. */
  update(temperatureC: number | null): number {
    if (temperatureC === null || !Number.isFinite(temperatureC)) return this.fps;
    if (temperatureC > this.policy.throttleAboveC) this.level = Math.min(this.level + 1, this.maxLevel);
    else if (temperatureC < this.policy.restoreBelowC) this.level = Math.max(this.level - 1, 0);
    return this.fps;
  }
}

/** Anything that emits temperature samples; SystemTelemetry does. */
export interface TemperatureSamples {
  on(event: 'sample', listener: (sample: { cpuTemperatureC: number | null }) => void): unknown;
  off(event: 'sample', listener: (sample: { cpuTemperatureC: number | null }) => void): unknown;
}

export interface ThermalGovernorServiceOptions {
  policy: ThermalPolicy;
  samples: TemperatureSamples;
  logger?: Logger;
}

/**
 * Feeds the governor from the telemetry samples and emits 'fps' (the new target) only when it changes, so the frame
 * source is retuned once per step, not once per sample.
 */
export class ThermalGovernorService extends EventEmitter<{ fps: [number] }> {
  readonly governor: ThermalGovernor;
  private readonly log: Logger;
  private lastTemperatureC: number | null = null;
  private readonly listener = (sample: { cpuTemperatureC: number | null }): void => {
    const before = this.governor.fps;
    const after = this.governor.update(sample.cpuTemperatureC);
    if (sample.cpuTemperatureC !== null) this.lastTemperatureC = sample.cpuTemperatureC;
    if (after === before) return;
    this.log[after < before ? 'warn' : 'info'](
      { temperatureC: sample.cpuTemperatureC, fps: Number(after.toFixed(2)) },
      after < before ? 'device hot: lowering the processing frame rate' : 'device cooler: raising the processing frame rate',
    );
    this.emit('fps', after);
  };

  constructor(private readonly options: ThermalGovernorServiceOptions) {
    super();
    this.governor = new ThermalGovernor(options.policy);
    this.log = options.logger ?? silentLogger();
  }

  start(): void {
    this.options.samples.on('sample', this.listener);
  }

  stop(): void {
    this.options.samples.off('sample', this.listener);
  }

  /** For the status API. */
  state(): { targetFps: number; baseFps: number; throttled: boolean; temperatureC: number | null } {
    return {
      targetFps: this.governor.fps,
      baseFps: this.options.policy.baseFps,
      throttled: this.governor.throttled,
      temperatureC: this.lastTemperatureC,
    };
  }
}
