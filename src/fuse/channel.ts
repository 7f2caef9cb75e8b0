/**
 * The /dev/fuse descriptor. Reads block until the kernel has a request, so
 * they run in dedicated reader threads (worker_threads), each looping on a
 * blocking read into slots of shared memory and posting the slot to the
 * event loop. Unlike reads queued in libuv's pool, nothing is re-queued per
 * request: on virtual machines whose idle CPUs halt, each queued job costs a
 * cross-CPU wake-up of ~100 us. Replies are written synchronously (the kernel
 * only copies them); notifications asynchronously (they may wait on kernel
 * locks held by a request this process has yet to answer).
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';

export type RequestHandler = (buf: Buffer, n: number, done: () => void) => void;

export interface ChannelOptions {
  /** Bytes per read buffer: at least max_write + one page. */
  bufferSize: number;
  /** Reader threads. */
  readers?: number;
  /** Request slots per reader: requests one reader can have in flight. */
  slotsPerReader?: number;
  /**
   * Milliseconds the event loop keeps polling after a request instead of
   * sleeping (0: never). Waking a sleeping thread costs ~100-200 us on
   * virtual machines whose idle CPUs halt; a sequential application's next
   * request usually comes within this window, and finds the loop awake.
   */
  pollWindowMs?: number;
}

const READER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { fd, size, buffer, ctrl, slots } = workerData;
// state[i]: 0 free, 1 filled, 2 taken by the event loop; state[slots]: free count; state[slots + 1 + i]: length.
const state = new Int32Array(ctrl);
const FREE = slots;
const bufs = [];
for (let i = 0; i < slots; i++) bufs.push(Buffer.from(buffer, i * size, size));
for (;;) {
  while (Atomics.load(state, FREE) === 0) Atomics.wait(state, FREE, 0);
  let i = 0;
  while (Atomics.load(state, i) !== 0) i = (i + 1) % slots;
  Atomics.store(state, i, 3);
  let n;
  try {
    n = fs.readSync(fd, bufs[i], 0, size, null);
  } catch (err) {
    const code = err && err.code;
    if (code === 'EINTR' || code === 'EAGAIN' || code === 'ENOENT') { Atomics.store(state, i, 0); continue; }
    parentPort.postMessage({ closed: code === 'ENODEV' || code === 'ECONNABORTED' ? null : String(err.message || err) });
    break;
  }
  Atomics.store(state, slots + 1 + i, n);
  Atomics.sub(state, FREE, 1);
  Atomics.store(state, i, 1);
  parentPort.postMessage(i);
}
`;

interface Reader {
  worker: Worker;
  state: Int32Array;
  bufs: Buffer[];
  slots: number;
}

const FILLED = 1;
const TAKEN = 2;
/** While polling, how long the loop checks the slots before letting other events run. */
const SLICE_MS = 0.05;

export class FuseChannel {
  private readers: Reader[] = [];
  private running = 0;
  private closing = false;
  private endError: Error | undefined;
  private lastRequest = 0;
  private polling = false;
  private handler: RequestHandler | undefined;
  private closedResolve!: (err: Error | undefined) => void;
  /** Resolves when the kernel ends the connection (unmount or abort), with the error if one ended it. */
  readonly closed: Promise<Error | undefined>;

  constructor(
    readonly fd: number,
    private readonly opts: ChannelOptions,
  ) {
    this.closed = new Promise((resolve) => {
      this.closedResolve = resolve;
    });
  }

  start(handler: RequestHandler): void {
    this.handler = handler;
    const size = this.opts.bufferSize;
    const slots = this.opts.slotsPerReader ?? 4;
    for (let r = 0; r < (this.opts.readers ?? 2); r++) {
      const buffer = new SharedArrayBuffer(size * slots);
      const ctrl = new SharedArrayBuffer(4 * (2 * slots + 1));
      const state = new Int32Array(ctrl);
      state[slots] = slots;
      const bufs: Buffer[] = [];
      for (let i = 0; i < slots; i++) bufs.push(Buffer.from(buffer, i * size, size));
      const worker = new Worker(READER_SOURCE, {
        eval: true,
        execArgv: [],
        workerData: { fd: this.fd, size, buffer, ctrl, slots },
      });
      const reader: Reader = { worker, state, bufs, slots };
      worker.on('message', (m: number | { closed: string | null }) => {
        if (typeof m !== 'number') {
          if (m.closed) this.endError ??= new Error(`reading /dev/fuse failed: ${m.closed}`);
          this.closing = true;
          return;
        }
        if (this.take(reader, m)) this.keepAwake();
      });
      worker.on('error', (err) => {
        this.endError ??= err;
      });
      worker.on('exit', () => this.readerExited());
      this.readers.push(reader);
      this.running++;
    }
  }

  /** Hands a filled slot to the handler, unless the polling loop took it first. */
  private take(reader: Reader, i: number): boolean {
    const state = reader.state;
    if (Atomics.compareExchange(state, i, FILLED, TAKEN) !== FILLED) return false;
    const n = Atomics.load(state, reader.slots + 1 + i);
    let released = false;
    this.handler?.(reader.bufs[i] as Buffer, n, () => {
      if (released) return;
      released = true;
      Atomics.store(state, i, 0);
      Atomics.add(state, reader.slots, 1);
      Atomics.notify(state, reader.slots, 1);
    });
    return true;
  }

  /** Takes every filled slot; true if there was one. */
  private poll(): boolean {
    let got = false;
    for (const r of this.readers) {
      for (let i = 0; i < r.slots; i++) {
        if (Atomics.load(r.state, i) === FILLED && this.take(r, i)) got = true;
      }
    }
    return got;
  }

  private readerExited(): void {
    this.closing = true;
    if (--this.running > 0) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    this.closedResolve(this.endError);
  }

  /**
   * Keeps the event loop awake until pollWindowMs pass without a request:
   * it checks the readers' slots itself (no wait for their message), lets
   * the replies go out (microtasks) after each request, and lets other
   * events run between slices.
   */
  private keepAwake(): void {
    const window = this.opts.pollWindowMs ?? 0;
    if (window <= 0) return;
    this.lastRequest = performance.now();
    if (this.polling) return;
    this.polling = true;
    void this.hot(window);
  }

  private async hot(window: number): Promise<void> {
    try {
      while (!this.closing && performance.now() - this.lastRequest < window) {
        const slice = performance.now() + SLICE_MS;
        while (performance.now() < slice) {
          if (this.poll()) {
            this.lastRequest = performance.now();
            await null;
          }
        }
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.polling = false;
    }
  }

  /** Writes one reply. A vanished request (interrupted, or connection gone) is not an error. */
  reply(bufs: Buffer | Buffer[]): void {
    if (this.closing) return;
    try {
      if (Array.isArray(bufs)) fs.writevSync(this.fd, bufs);
      else fs.writeSync(this.fd, bufs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENODEV' && code !== 'EBADF') throw err;
    }
  }

  /** Writes a notification without blocking the event loop. Resolves false if the kernel refused it. */
  notify(buf: Buffer): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    return new Promise((resolve) => {
      fs.write(this.fd, buf, 0, buf.length, null, (err) => resolve(!err));
    });
  }
}
