/**
 * Checkpoints the WAL from a worker thread with its own connection, so the
 * fsyncs of a checkpoint never stall the event loop. The main connection
 * never checkpoints by itself (wal_autocheckpoint = 0); a PASSIVE checkpoint
 * runs alongside its writes.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
let busy = false;
function checkpoint() {
  if (busy) return;
  busy = true;
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  } finally {
    busy = false;
  }
}
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'checkpoint') checkpoint();
  if (m === 'stop') { clearInterval(timer); checkpoint(); db.close(); parentPort.close(); }
});
`;

export interface CheckpointerOptions {
  file: string;
  intervalMs?: number;
  onError?: (message: string) => void;
}

export class Checkpointer {
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CheckpointerOptions) {}

  start(): void {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { file: this.opts.file, sqlite, intervalMs: this.opts.intervalMs ?? 1000 },
    });
    this.worker.on('message', (m: { ok: boolean; error?: string }) => {
      if (!m.ok) this.opts.onError?.(m.error ?? 'checkpoint failed');
    });
    this.worker.on('error', (err) => this.opts.onError?.(err.message));
    const w = this.worker;
    this.exited = new Promise((resolve) => w.once('exit', () => resolve()));
    this.worker.unref();
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    w.postMessage('stop');
    await this.exited;
  }
}
