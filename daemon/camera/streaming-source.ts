import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { CapturePlan } from './capture-plans.js';
import { JpegSplitter } from './jpeg-splitter.js';
import { FrameMailbox } from './mailbox.js';
import { FixedSizeSplitter, i420Size, rotateI420 } from './raw-splitter.js';
import { ProcessSupervisor, type RestartPolicy } from './supervisor.js';
import type { Frame, FrameSource, SourceHealth } from './types.js';
import { findExecutable } from './which.js';

export interface StreamingSourceOptions {
  plan: CapturePlan;
  restart: RestartPolicy;
  /** No frame for this long: warn and restart the program. */
  stallSeconds: number;
  /** Environment of the capture program (PATH decides which program runs). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Largest JPEG accepted from an MJPEG stream. Default 8 MiB. */
  maxJpegBytes?: number;
  logger?: Logger;
}

/**
 * A camera that is one long-running capture program writing frames to stdout (rpicam-vid, gst-launch-1.0,
 * ffmpeg): the program is spawned once and kept alive by a ProcessSupervisor, its stdout is cut into
 * frames (fixed-size I420 or JPEGs) and the newest frame waits in a mailbox.
 */
export class StreamingSource implements FrameSource {
  readonly kind: string;
  private readonly options: StreamingSourceOptions;
  private readonly logger: Logger;
  private readonly mailbox = new FrameMailbox();
  private readonly split: (chunk: Buffer) => Buffer[];
  private readonly forgetPartial: () => void;
  private supervisor: ProcessSupervisor | null = null;
  private command: string[] | undefined;
  private seq = 0;
  private badFrames = 0;
  private state: 'idle' | 'running' | 'stopped' = 'idle';

  constructor(options: StreamingSourceOptions) {
    this.options = options;
    this.kind = options.plan.kind;
    this.logger = options.logger ?? silentLogger();
    const { plan } = options;
    if (plan.format === 'yuv420') {
      // Raw frames arrive in the program's orientation; a software turn swaps width and height back.
      const turned = plan.softwareRotation === 90 || plan.softwareRotation === 270;
      const splitter = new FixedSizeSplitter(i420Size(turned ? plan.height : plan.width, turned ? plan.width : plan.height));
      this.split = (chunk) => splitter.push(chunk);
      this.forgetPartial = () => {
        const bytes = splitter.reset();
        if (bytes > 0) this.noteBad(`program ended ${bytes} bytes into a frame`);
      };
      const captureWidth = turned ? plan.height : plan.width;
      if (plan.kind === 'libcamera' && captureWidth % 64 !== 0) {
        this.logger.warn({ width: captureWidth }, 'camera: rpicam-vid may pad YUV rows of this width; prefer a width that is a multiple of 64');
      }
    } else {
      const splitter = new JpegSplitter({
        maxFrameBytes: options.maxJpegBytes,
        onDrop: (reason, bytes) => this.noteBad(`dropped a ${reason} JPEG of ${bytes} bytes`),
      });
      this.split = (chunk) => splitter.push(chunk);
      this.forgetPartial = () => splitter.reset();
    }
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`${this.kind} camera: start() called twice`);
    const { plan, env } = this.options;
    const program = plan.programs.map((name) => findExecutable(name, env)).find((path) => path !== null);
    if (!program) {
      throw new UserError(
        `camera.kind '${plan.kind}' needs ${plan.programs.join(' or ')} on PATH and none was found; ${plan.installHint}.`,
      );
    }
    if (!program.endsWith(`/${plan.programs[0]}`)) {
      this.logger.info({ program }, `camera: ${plan.programs[0]} not found, using ${program}`);
    }
    this.command = [program, ...plan.args];
    this.supervisor = new ProcessSupervisor({
      command: program,
      args: plan.args,
      env,
      restart: this.options.restart,
      stallMs: this.options.stallSeconds * 1000,
      onData: (chunk) => this.onData(chunk),
      onExit: () => this.forgetPartial(),
      logger: this.logger,
    });
    this.state = 'running';
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    await this.supervisor?.stop();
    this.mailbox.close();
  }

  async next(): Promise<Frame | null> {
    const frame = await this.mailbox.take();
    // Turned here, not on arrival, so frames the consumer never takes cost no rotation.
    return frame && this.options.plan.softwareRotation ? { ...frame, data: this.turn(frame.data) } : frame;
  }

  stats(): { produced: number; dropped: number } {
    return this.mailbox.stats();
  }

  health(): SourceHealth {
    const supervised = this.supervisor?.stats();
    return {
      kind: this.kind,
      running: supervised?.running ?? false,
      ...this.mailbox.stats(),
      badFrames: this.badFrames,
      restarts: supervised?.restarts ?? 0,
      lastFrameAt: supervised?.lastFrameAt ?? null,
      stalled: supervised?.stalled ?? false,
      stalls: supervised?.stalls ?? 0,
      ...(this.command ? { command: this.command } : {}),
      ...(supervised?.lastError ? { lastError: supervised.lastError } : {}),
    };
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'running') return;
    const { plan } = this.options;
    for (const data of this.split(chunk)) {
      this.supervisor?.frameArrived();
      const frame: Frame =
        plan.format === 'yuv420'
          ? { data, format: 'yuv420', width: plan.width, height: plan.height, seq: ++this.seq, capturedAt: Date.now() }
          : { data, format: 'encoded', seq: ++this.seq, capturedAt: Date.now() };
      this.mailbox.put(frame);
    }
  }

  private turn(data: Buffer): Buffer {
    const { softwareRotation: rotation, width, height } = this.options.plan;
    if (!rotation) return data;
    // Raw frames come in the sensor's orientation: for a quarter turn that is height x width of the output.
    const turned = rotation === 90 || rotation === 270;
    return rotateI420(data, turned ? height : width, turned ? width : height, rotation);
  }

  private noteBad(why: string): void {
    this.badFrames++;
    this.logger.warn({ badFrames: this.badFrames }, `camera: ${why}`);
  }
}
