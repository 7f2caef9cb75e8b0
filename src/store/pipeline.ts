/**
 * Chunking off the event loop. Bytes of a stream are copied into a ring of
 * shared memory (reused, so no allocation per write); a first worker finds
 * content-defined cuts in it, a second hashes each chunk and writes its file
 * (temp name, rename) straight from the ring. The main thread only copies
 * bytes in and records the chunks that come back; a ring region is reused
 * once its chunk is stored. Small chunks come back with their bytes, to be
 * kept in the database.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import type { ChunkingParams } from './chunker.js';
import { DEFAULT_CHUNKING } from './chunker.js';

export interface ChunkRef {
  /** Offset in the stream. */
  offset: number;
  length: number;
  hash: Buffer;
  /** The bytes, for inline chunks only. */
  data: Buffer | null;
  /** Where a chunk too big to be inline was appended. */
  pack: number | null;
  at: number;
}

/** Where a chunk's bytes are. */
export interface PackPlace {
  pack: number;
  offset: number;
}

type FromStore =
  | {
      t: 'chunk';
      id: number;
      offset: number;
      length: number;
      hash: Uint8Array;
      data: ArrayBuffer | null;
      pack: number | null;
      at: number;
    }
  | { t: 'stored'; id: number; pack: number; at: number; error: string | null }
  | { t: 'fed'; id: number; fed: number }
  | { t: 'ended'; id: number }
  | { t: 'error'; id: number; message: string }
  | { t: 'synced'; id: number; error: string | null };

/** The cutting worker: FastCDC over ring bytes; sends chunk jobs to the store worker, in order. */
const CUTTER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { chunkerUrl, params, store } = workerData;
const streams = new Map();
const queue = [];
let Chunker;
import(chunkerUrl).then((m) => { Chunker = m.Chunker; for (const msg of queue.splice(0)) handle(msg); });
parentPort.on('message', (msg) => { if (Chunker) handle(msg); else queue.push(msg); });
function handle(msg) {
  const { t, id } = msg;
  if (t === 'open') {
    streams.set(id, { chunker: new Chunker(params), ring: new Uint8Array(msg.ring), cap: msg.ring.byteLength, last: 0 });
    store.postMessage(msg);
    return;
  }
  const s = streams.get(id);
  if (!s) { if (t === 'drop') store.postMessage(msg); return; }
  if (t === 'push') {
    let pos = msg.start;
    const end = msg.start + msg.len;
    while (pos < end) {
      const at = pos % s.cap;
      const n = Math.min(end - pos, s.cap - at);
      for (const cut of s.chunker.push(s.ring.subarray(at, at + n))) {
        store.postMessage({ t: 'chunk', id, start: s.last, end: cut });
        s.last = cut;
      }
      pos += n;
    }
    store.postMessage({ t: 'fed', id, fed: end });
  } else if (t === 'end') {
    for (const cut of s.chunker.finish()) {
      store.postMessage({ t: 'chunk', id, start: s.last, end: cut });
      s.last = cut;
    }
    streams.delete(id);
    store.postMessage(msg);
  } else if (t === 'drop') {
    streams.delete(id);
    store.postMessage(msg);
  }
}
`;

/**
 * The store worker: hashes each chunk and appends it to the active pack file
 * straight from the ring (one write, no file created per chunk); answers the
 * main thread with each chunk's place. Also appends chunks the main thread
 * hands over (put, compaction) and syncs packs.
 */
const STORE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { packDir, firstPack, packMax, inlineMax, cutter } = workerData;
const streams = new Map();
let pack = null;
let nextPack = firstPack;
function packPath(id) { return path.join(packDir, String(id).padStart(8, '0') + '.pack'); }
function active() {
  if (pack && pack.end < packMax) return pack;
  if (pack) { const fd = pack.fd; pack = null; fs.closeSync(fd); }
  const id = nextPack++;
  pack = { id, fd: fs.openSync(packPath(id), 'wx', 0o600), end: 0 };
  return pack;
}
function append(parts, length) {
  const p = active();
  let bufs = parts;
  let done = 0;
  while (done < length) {
    let n = fs.writevSync(p.fd, bufs, p.end + done);
    done += n;
    const rest = [];
    for (const b of bufs) {
      if (n >= b.length) { n -= b.length; continue; }
      rest.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
    bufs = rest;
  }
  const offset = p.end;
  p.end += length;
  return { pack: p.id, offset };
}
function slices(s, start, end) {
  const out = [];
  let pos = start;
  while (pos < end) {
    const at = pos % s.cap;
    const n = Math.min(end - pos, s.cap - at);
    out.push(s.ring.subarray(at, at + n));
    pos += n;
  }
  return out;
}
function store(id, s, start, end) {
  const parts = slices(s, start, end);
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  const hash = h.digest();
  const length = end - start;
  if (length <= inlineMax) {
    const ab = new ArrayBuffer(length);
    const v = new Uint8Array(ab);
    let o = 0;
    for (const p of parts) { v.set(p, o); o += p.length; }
    parentPort.postMessage({ t: 'chunk', id, offset: start, length, hash, data: ab, pack: null, at: 0 }, [ab]);
    return;
  }
  const where = append(parts, length);
  parentPort.postMessage({ t: 'chunk', id, offset: start, length, hash, data: null, pack: where.pack, at: where.offset });
}
function onCutter(msg) {
  const { t, id } = msg;
  if (t === 'open') { streams.set(id, { ring: new Uint8Array(msg.ring), cap: msg.ring.byteLength, failed: false }); return; }
  const s = streams.get(id);
  if (!s) return;
  if (t === 'chunk') {
    if (s.failed) return;
    try { store(id, s, msg.start, msg.end); }
    catch (err) { s.failed = true; parentPort.postMessage({ t: 'error', id, message: String(err && err.message || err) }); }
  } else if (t === 'fed') {
    if (!s.failed) parentPort.postMessage(msg);
  } else if (t === 'end' || t === 'drop') {
    streams.delete(id);
    if (t === 'end' && !s.failed) parentPort.postMessage({ t: 'ended', id });
  }
}
cutter.on('message', onCutter);
parentPort.on('message', (msg) => {
  if (msg.t === 'put') {
    try {
      const data = new Uint8Array(msg.data);
      const where = append([data], data.length);
      parentPort.postMessage({ t: 'stored', id: msg.id, pack: where.pack, at: where.offset, error: null });
    } catch (err) {
      parentPort.postMessage({ t: 'stored', id: msg.id, pack: 0, at: 0, error: String(err && err.message || err) });
    }
  } else if (msg.t === 'sync') {
    let error = null;
    try {
      for (const id of msg.packs) {
        const fd = fs.openSync(packPath(id), 'r');
        try { fs.fdatasyncSync(fd); } finally { fs.closeSync(fd); }
      }
      const fd = fs.openSync(packDir, 'r');
      try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    } catch (err) { error = String(err && err.message || err); }
    parentPort.postMessage({ t: 'synced', id: msg.id, error });
  } else if (msg.t === 'seal') {
    if (pack) { fs.closeSync(pack.fd); pack = null; }
    parentPort.postMessage({ t: 'synced', id: msg.id, error: null });
  }
});
`;

export interface PipelineOptions {
  /** Where pack files go. */
  packDir: string;
  /** Id of the first pack this run writes (every run starts a new pack). */
  firstPack: number;
  /** A pack is closed and a new one started past this size. */
  packMax?: number;
  inlineMax: number;
  params?: ChunkingParams;
  /** Bytes of ring per stream: more than the largest chunk plus the largest write. */
  ringBytes?: number;
  /** Rings kept for reuse. */
  ringsKept?: number;
}

export class ChunkStream {
  readonly chunks: ChunkRef[] = [];
  /** Bytes pushed so far. */
  fed = 0;
  /** Bytes covered by chunks stored so far; ring bytes before it are free. */
  cut = 0;
  /** Bytes the workers have chunked so far. */
  processed = 0;
  private error: Error | undefined;
  private ended = false;
  private waiters: Array<() => void> = [];
  private endResolve: (() => void) | undefined;
  private ending: Promise<void> | undefined;
  private readonly cap: number;
  /** Called with each chunk as it is stored (before it is listed in `chunks`). */
  onChunk: (c: ChunkRef) => void = () => {};

  constructor(
    private readonly pipeline: ChunkPipeline,
    readonly id: number,
    private readonly ring: Buffer,
  ) {
    this.cap = ring.length;
  }

  get failed(): Error | undefined {
    return this.error;
  }

  private check(): void {
    if (this.error) throw this.error;
    if (this.ended) throw new Error('the chunk stream has ended');
  }

  /** Feeds bytes (copied into the ring); waits while the ring is full. */
  async push(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; ) {
      this.check();
      const room = this.cap - (this.fed - this.cut);
      if (room <= 0) {
        await this.waitCut(this.fed - this.cap + 1);
        continue;
      }
      const n = Math.min(room, data.length - off);
      let copied = 0;
      while (copied < n) {
        const at = (this.fed + copied) % this.cap;
        const k = Math.min(n - copied, this.cap - at);
        data.copy(this.ring, at, off + copied, off + copied + k);
        copied += k;
      }
      this.pipeline.toCutter({ t: 'push', id: this.id, start: this.fed, len: n });
      this.fed += n;
      off += n;
    }
  }

  /** Copies bytes [off, end) still in the ring (off >= cut). */
  readRing(off: number, end: number): Buffer {
    if (off < this.cut || end > this.fed) throw new RangeError(`bytes ${off}-${end} are not in the ring`);
    const out = Buffer.allocUnsafe(end - off);
    let pos = off;
    while (pos < end) {
      const at = pos % this.cap;
      const k = Math.min(end - pos, this.cap - at);
      this.ring.copy(out, pos - off, at, at + k);
      pos += k;
    }
    return out;
  }

  private until(cond: () => boolean): Promise<void> {
    if (cond() || this.error || this.ended) return Promise.resolve();
    return new Promise((r) => {
      const check = () => {
        if (cond() || this.error || this.ended) r();
        else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** Resolves once chunks cover `offset` bytes (or the stream failed or ended). */
  waitCut(offset: number): Promise<void> {
    return this.until(() => this.cut >= offset);
  }

  /** Resolves once the workers have chunked everything fed so far. */
  settled(): Promise<void> {
    const target = this.fed;
    return this.until(() => this.processed >= target);
  }

  /** Ends the stream: the last chunk is cut; resolves with every chunk. */
  async end(): Promise<ChunkRef[]> {
    if (!this.ended) {
      this.ending ??= new Promise<void>((r) => {
        this.endResolve = r;
        this.pipeline.toCutter({ t: 'end', id: this.id });
      });
      await this.ending;
    }
    if (this.error) throw this.error;
    return this.chunks;
  }

  /** Abandons the stream; chunks already stored stay for garbage collection. */
  abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.pipeline.drop(this.id);
    this.pipeline.finished(this, false);
    this.wake();
    this.endResolve?.();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** @internal */
  receive(m: FromStore): void {
    if (this.ended) return;
    if (m.t === 'fed') {
      this.processed = m.fed;
    } else if (m.t === 'chunk') {
      const c: ChunkRef = {
        offset: m.offset,
        length: m.length,
        hash: Buffer.from(m.hash.buffer, m.hash.byteOffset, m.hash.byteLength),
        data: m.data ? Buffer.from(m.data) : null,
        pack: m.pack,
        at: m.at,
      };
      this.onChunk(c);
      this.chunks.push(c);
      this.cut = c.offset + c.length;
    } else if (m.t === 'ended' || m.t === 'error') {
      if (m.t === 'error') this.error = new Error(`storing chunks failed: ${m.message}`);
      this.ended = true;
      this.pipeline.finished(this, m.t === 'ended');
      this.endResolve?.();
    }
    this.wake();
  }
}

export class ChunkPipeline {
  private cutter: Worker | undefined;
  private store: Worker | undefined;
  private nextId = 1;
  private readonly streams = new Map<number, ChunkStream>();
  private readonly rings: SharedArrayBuffer[] = [];
  private readonly ringOf = new Map<number, SharedArrayBuffer>();
  private readonly syncs = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly puts = new Map<number, { resolve: (p: PackPlace) => void; reject: (e: Error) => void }>();
  private readonly ringBytes: number;

  constructor(private readonly opts: PipelineOptions) {
    const params = opts.params ?? DEFAULT_CHUNKING;
    this.ringBytes = opts.ringBytes ?? 2 * params.maxSize + 2 * 1024 * 1024;
  }

  start(): void {
    const { port1, port2 } = new MessageChannel();
    this.store = new Worker(STORE_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: {
        packDir: this.opts.packDir,
        firstPack: this.opts.firstPack,
        packMax: this.opts.packMax ?? 256 * 1024 * 1024,
        inlineMax: this.opts.inlineMax,
        cutter: port2,
      },
      transferList: [port2],
    });
    this.cutter = new Worker(CUTTER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: {
        chunkerUrl: new URL('./chunker.js', import.meta.url).href,
        params: this.opts.params ?? DEFAULT_CHUNKING,
        store: port1,
      },
      transferList: [port1],
    });
    this.store.on('message', (m: FromStore) => {
      if (m.t === 'stored') {
        const p = this.puts.get(m.id);
        this.puts.delete(m.id);
        if (m.error) p?.reject(new Error(`appending a chunk failed: ${m.error}`));
        else p?.resolve({ pack: m.pack, offset: m.at });
        return;
      }
      if (m.t === 'synced') {
        const s = this.syncs.get(m.id);
        this.syncs.delete(m.id);
        if (m.error) s?.reject(new Error(`fsync of chunks failed: ${m.error}`));
        else s?.resolve();
        return;
      }
      this.streams.get(m.id)?.receive(m);
    });
    const fail = (err: Error) => {
      for (const s of [...this.streams.values()]) s.receive({ t: 'error', id: s.id, message: err.message });
      for (const s of this.syncs.values()) s.reject(err);
      this.syncs.clear();
      for (const p of this.puts.values()) p.reject(err);
      this.puts.clear();
    };
    this.store.on('error', fail);
    this.cutter.on('error', fail);
    this.store.unref();
    this.cutter.unref();
  }

  async stop(): Promise<void> {
    for (const s of [...this.streams.values()]) s.abort();
    const stopped = new Error('the chunk pipeline stopped');
    for (const p of this.puts.values()) p.reject(stopped);
    this.puts.clear();
    for (const p of this.syncs.values()) p.reject(stopped);
    this.syncs.clear();
    const workers = [this.cutter, this.store];
    this.cutter = undefined;
    this.store = undefined;
    await Promise.all(workers.map((w) => w?.terminate()));
  }

  /** A new stream, with a ring of its own for as long as it lives. */
  open(): ChunkStream {
    if (!this.cutter) throw new Error('the chunk pipeline is stopped');
    const ring = this.rings.pop() ?? new SharedArrayBuffer(this.ringBytes);
    const s = new ChunkStream(this, this.nextId++, Buffer.from(ring));
    this.streams.set(s.id, s);
    this.ringOf.set(s.id, ring);
    this.toCutter({ t: 'open', id: s.id, ring });
    this.updateRef();
    return s;
  }

  /** Workers keep the process alive only while they have work: an in-process user must not exit mid-commit. */
  private updateRef(): void {
    const busy = this.streams.size + this.puts.size + this.syncs.size > 0;
    for (const w of [this.cutter, this.store]) {
      if (busy) w?.ref();
      else w?.unref();
    }
  }

  private request<T>(
    map: Map<number, { resolve: (v: T) => void; reject: (e: Error) => void }>,
    msg: object,
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    if (!this.store) return Promise.reject(new Error('the chunk pipeline is stopped'));
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      map.set(id, { resolve, reject });
      this.store?.postMessage({ ...msg, id }, transfer);
    });
    this.updateRef();
    return p.finally(() => this.updateRef());
  }

  /** fdatasync the given packs and the pack directory, in the store worker. */
  sync(packs: number[]): Promise<void> {
    return this.request(this.syncs, { t: 'sync', packs });
  }

  /** Closes the active pack; the next chunk starts a new one. */
  seal(): Promise<void> {
    return this.request(this.syncs, { t: 'seal' });
  }

  /** Appends bytes (copied) to the active pack. */
  append(data: Buffer): Promise<PackPlace> {
    const ab = new ArrayBuffer(data.length);
    data.copy(new Uint8Array(ab));
    return this.request(this.puts, { t: 'put', data: ab }, [ab]);
  }

  /** @internal Tells the workers to forget a stream (nothing to do once stopped). */
  drop(id: number): void {
    this.cutter?.postMessage({ t: 'drop', id });
  }

  /** @internal */
  toCutter(msg: object): void {
    if (!this.cutter) throw new Error('the chunk pipeline is stopped');
    this.cutter.postMessage(msg);
  }

  /** @internal A stream is over; its ring is reused only once the workers are done with it. */
  finished(s: ChunkStream, clean: boolean): void {
    this.streams.delete(s.id);
    this.updateRef();
    const ring = this.ringOf.get(s.id);
    this.ringOf.delete(s.id);
    if (ring && clean && this.rings.length < (this.opts.ringsKept ?? 4)) this.rings.push(ring);
  }
}
