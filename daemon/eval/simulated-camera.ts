import type { Frame, FrameSource } from '../camera/types.js';

/**
 * The camera of a simulated device: the evaluation hands it each frame of the simulated world at the frame's time,
 * and the shipped daemon takes it through the same `FrameSource` mailbox a real camera fills (the newest frame
 * waits; an older one not yet taken is dropped and counted). This is the only simulated part of a device.
 */
export class SimulatedCamera implements FrameSource {
  readonly kind = 'simulated';
  private latest: Frame | null = null;
  private waiter: ((frame: Frame | null) => void) | undefined;
  private ended = false;
  private seq = 0;
  private produced = 0;
  private dropped = 0;

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.end();
  }

  /** No more frames: the daemon's `next()` resolves with null once the mailbox is empty. */
  end(): void {
    this.ended = true;
    if (this.waiter && !this.latest) {
      const w = this.waiter;
      this.waiter = undefined;
      w(null);
    }
  }

  /** A frame the camera sees now. */
  show(data: Buffer, capturedAt: number, label: string): void {
    if (this.ended) return;
    const frame: Frame = { data, format: 'encoded', seq: ++this.seq, capturedAt, label };
    this.produced++;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(frame);
      return;
    }
    if (this.latest) this.dropped++;
    this.latest = frame;
  }

  next(): Promise<Frame | null> {
    if (this.latest) {
      const frame = this.latest;
      this.latest = null;
      return Promise.resolve(frame);
    }
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  stats(): { produced: number; dropped: number } {
    return { produced: this.produced, dropped: this.dropped };
  }
}
