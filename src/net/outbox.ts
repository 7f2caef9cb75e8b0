/**
 * The ordered send queue of one connection, and its backpressure. A frame is
 * encoded only when the socket can take it (below its high-water mark), so
 * a burst of sends holds the callers' bodies, not megabytes of encoded
 * copies; each send resolves when its frame is handed to the socket.
 */
import { FrameError } from './errors.js';
import { encodeFrame, type Frame } from './frame.js';

/** The part of a socket the queue writes to. */
export interface Sink {
  write(buf: Buffer): boolean;
  readonly writableNeedDrain: boolean;
  on(event: 'drain', fn: () => void): unknown;
}

interface Queued {
  frame: Frame;
  callId: number | undefined;
  resolve(): void;
  reject(err: Error): void;
}

export class Outbox {
  private queue: Queued[] = [];
  private failed: Error | null = null;

  constructor(
    private readonly sink: Sink,
    private readonly maxFrame: number,
  ) {
    sink.on('drain', () => this.flush());
  }

  /** Queues a frame; `callId` lets a request be withdrawn while still queued. */
  push(frame: Frame, callId?: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, callId, resolve, reject });
      this.flush();
    });
  }

  /** Drops a request not yet written; false if it already went out. */
  withdraw(callId: number, reason: Error): boolean {
    const i = this.queue.findIndex((q) => q.callId === callId);
    if (i < 0) return false;
    this.queue.splice(i, 1)[0]!.reject(reason);
    return true;
  }

  /** The connection is gone: every queued send rejects, and so will every later one. */
  fail(err: Error): void {
    this.failed = err;
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.failed && !this.sink.writableNeedDrain) {
      const q = this.queue.shift()!;
      let buf: Buffer;
      try {
        buf = encodeFrame(q.frame, this.maxFrame);
      } catch (err) {
        q.reject(err instanceof Error ? err : new FrameError(String(err)));
        continue;
      }
      this.sink.write(buf);
      q.resolve();
    }
  }
}
