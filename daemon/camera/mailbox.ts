import type { Frame } from './types.js';

/**
 * A one-slot mailbox between a frame producer (camera) and one consumer (the extractor loop).
 *
 * It holds only the latest frame: a slow consumer makes the producer overwrite frames (counted as drops),
 * never queue them, so memory stays bounded and the consumer always works on what the camera sees now.
 */
export class FrameMailbox {
  private latest: Frame | null = null;
  private readonly waiters: Array<(frame: Frame | null) => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  /** No more frames will come; the one still held may be taken (a finite replay ran out). */
  private ended = false;
  /** Stopped: everything, held frame included, resolves null. */
  private closed = false;
  private producedCount = 0;
  private droppedCount = 0;

  /** Offers a frame; replaces the held one (a drop) if nobody took it. Ignored after end() or close(). */
  put(frame: Frame): void {
    if (this.ended || this.closed) return;
    this.producedCount++;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(frame);
      return;
    }
    if (this.latest) this.droppedCount++;
    this.latest = frame;
  }

  /** The newest frame not yet taken, waiting for one if needed; null once the mailbox is closed or drained. */
  take(): Promise<Frame | null> {
    if (this.closed) return Promise.resolve(null);
    if (this.latest) {
      const frame = this.latest;
      this.latest = null;
      for (const drained of this.drainWaiters.splice(0)) drained();
      return Promise.resolve(frame);
    }
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** No more frames will be put: the held frame can still be taken, then take() resolves null. */
  end(): void {
    this.ended = true;
    if (!this.latest) this.releaseWaiters();
  }

  /** Stops the mailbox: pending and future take() resolve null, a held frame is discarded. */
  close(): void {
    this.closed = true;
    this.latest = null;
    this.releaseWaiters();
    for (const drained of this.drainWaiters.splice(0)) drained();
  }

  stats(): { produced: number; dropped: number } {
    return { produced: this.producedCount, dropped: this.droppedCount };
  }

  /** Resolves once no frame is held (taken, or the mailbox closed): a finite replay waits here instead of dropping. */
  drained(): Promise<void> {
    if (!this.latest || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters.splice(0)) waiter(null);
  }
}
