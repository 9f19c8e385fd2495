import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { CameraConfig } from '../config/types.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { sensorRoi } from './capture-plans.js';
import { FrameMailbox } from './mailbox.js';
import type { Frame, FrameSource, SourceHealth } from './types.js';
import { findExecutable } from './which.js';

/** node-libcamera's still(): options become `--key value` flags of libcamera-still. */
type StillCapture = (options: Record<string, unknown>) => Promise<unknown>;

export interface StillSourceOptions extends Pick<CameraConfig, 'width' | 'height' | 'rotation' | 'roi'> {
  /** Also capture this often; 0: only on trigger(). */
  intervalSeconds: number;
  /** libcamera-still's --timeout: exposure and white balance settle this long. */
  settleMs: number;
  logger?: Logger;
}

const PROGRAM = 'libcamera-still';

/**
 * Trigger-driven still capture for kiosks (a button press, the local API) through node-libcamera, which
 * runs `libcamera-still` once per picture. One capture at a time: a trigger during a capture shares it.
 *
 * node-libcamera runs its command through a shell (child_process.exec), so only numbers we validated and a
 * temporary path we made (checked to be shell-safe) ever go into it, never configuration text.
 */
export class StillSource implements FrameSource {
  readonly kind = 'still';
  private readonly options: StillSourceOptions;
  private readonly logger: Logger;
  private readonly mailbox = new FrameMailbox();
  private capture: StillCapture | null = null;
  private workDir: string | null = null;
  private inFlight: Promise<Frame> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private seq = 0;
  private failures = 0;
  private lastFrameAt: number | null = null;
  private lastError: string | undefined;
  private state: 'idle' | 'running' | 'stopped' = 'idle';

  constructor(options: StillSourceOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger();
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error('StillSource.start() called twice');
    if (!findExecutable(PROGRAM)) {
      throw new UserError(
        `camera.kind 'still' needs ${PROGRAM} on PATH and it was not found; install rpicam-apps (sudo apt install rpicam-apps), which provides it.`,
      );
    }
    const workDir = await mkdtemp(join(tmpdir(), 'enfpire-still-'));
    if (!/^[A-Za-z0-9_./-]+$/.test(workDir)) {
      await rm(workDir, { recursive: true, force: true });
      throw new UserError(`The temporary folder ${workDir} has characters unsafe for libcamera-still's shell command; set TMPDIR to a plain path such as /tmp.`);
    }
    this.workDir = workDir;
    // node-libcamera picks its build with a runtime require, which ES module named imports cannot see.
    this.capture = (createRequire(import.meta.url)('node-libcamera') as { still: StillCapture }).still;
    this.state = 'running';
    const { intervalSeconds } = this.options;
    if (intervalSeconds > 0) {
      this.timer = setInterval(() => {
        this.trigger().catch(() => undefined); // logged in trigger()
      }, intervalSeconds * 1000);
    }
    this.logger.info({ intervalSeconds }, 'still camera started');
  }

  /** Takes a picture now (or joins the one being taken) and offers it to next(); rejects if the capture fails. */
  trigger(): Promise<Frame> {
    if (this.state !== 'running') return Promise.reject(new Error('the still camera is not running'));
    this.inFlight ??= this.takePicture().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true });
    this.workDir = null;
    this.mailbox.close();
  }

  next(): Promise<Frame | null> {
    return this.mailbox.take();
  }

  stats(): { produced: number; dropped: number } {
    return this.mailbox.stats();
  }

  health(): SourceHealth {
    return {
      kind: this.kind,
      running: this.state === 'running',
      ...this.mailbox.stats(),
      badFrames: this.failures,
      restarts: 0,
      lastFrameAt: this.lastFrameAt,
      stalled: false,
      stalls: 0,
      command: [PROGRAM],
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private async takePicture(): Promise<Frame> {
    const output = join(this.workDir ?? tmpdir(), `still-${this.seq + 1}.jpg`);
    try {
      await this.capture?.(this.stillOptions(output));
      let data = await readFile(output).catch(() => {
        throw new Error(`${PROGRAM} wrote no picture`);
      });
      await rm(output, { force: true });
      const { rotation } = this.options;
      if (rotation === 90 || rotation === 270) data = await sharp(data).rotate(rotation).jpeg({ quality: 90 }).toBuffer();
      const { width, height } = await sharp(data).metadata();
      const frame: Frame = { data, format: 'encoded', width, height, seq: ++this.seq, capturedAt: Date.now() };
      this.lastFrameAt = frame.capturedAt;
      this.lastError = undefined;
      if (this.state === 'running') this.mailbox.put(frame);
      return frame;
    } catch (error) {
      this.failures++;
      this.lastError = (error as Error).message.split('\n')[0];
      this.logger.warn({ err: this.lastError }, 'still camera: capture failed');
      throw error;
    }
  }

  private stillOptions(output: string): Record<string, unknown> {
    const { width, height, rotation, roi, settleMs } = this.options;
    // rotation 90/270 is done after capture; the sensor only flips. false-valued flags must be left out:
    // node-libcamera would pass them as '--flag false'.
    const options: Record<string, unknown> = { output, timeout: settleMs, width, height, nopreview: true, encoding: 'jpg' };
    if (rotation === 180) options.rotation = 180;
    if (roi) {
      const [x, y, w, h] = sensorRoi(roi, rotation);
      options.roi = { x, y, w, h };
    }
    return options;
  }
}
