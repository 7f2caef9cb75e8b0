/**
 * One authenticated TLS connection to another pod. The transport builds a
 * Peer only after the handshake was judged (tls.ts). Each side then sends a
 * `hello`, and a Peer is ready once the other side's arrives: the remote
 * accepted us too, so no one announces a connection the other end refused.
 *
 * Frames (`t`): hello, req/res/cancel (RPC), msg (one-way), ping/pong
 * (heartbeat, RTT) and bye (the remote closes this connection on purpose,
 * e.g. as a duplicate). Anything else, or anything undecodable, closes this
 * connection only.
 */
import { EventEmitter } from 'node:events';
import type * as tls from 'node:tls';
import type { Logger } from '../core/log.js';
import { AbortError, ConnectionClosedError, parseWireError } from './errors.js';
import { encodeFrame, type Frame, FrameDecoder } from './frame.js';
import { Heartbeat, MISSED } from './heartbeat.js';
import { Outbox } from './outbox.js';
import { Calls, type Handler, type RequestOptions, runHandler, Serving } from './rpc.js';
import type { RemotePod } from './tls.js';

/** What a connection needs from its transport. */
export interface PeerHost {
  handler(type: string): Handler | undefined;
  message(type: string, body: unknown, peer: Peer): void;
}

export interface PeerOptions {
  remote: RemotePod;
  /** We dialed this connection. */
  outgoing: boolean;
  host: PeerHost;
  log: Logger;
  maxFrame: number;
  heartbeatMs: number;
  requestTimeoutMs: number;
  helloTimeoutMs: number;
}

const PROTOCOL = 1;

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

const WITH_ID = new Set(['req', 'res', 'cancel', 'ping', 'pong']);
const WITH_TYPE = new Set(['req', 'msg']);
const KINDS = new Set([...WITH_ID, ...WITH_TYPE, 'bye']);

function badHello(f: Frame): string | null {
  if (f.t !== 'hello') return `${f.t.slice(0, 40)} before hello`;
  return f.v === PROTOCOL ? null : `protocol version ${String(f.v).slice(0, 20)}, ours is ${PROTOCOL}`;
}

/** Why a frame of an open connection cannot be one of ours, or null. */
function malformed(f: Frame): string | null {
  if (!KINDS.has(f.t)) return `unexpected frame kind ${JSON.stringify(f.t.slice(0, 40))}`;
  if (WITH_ID.has(f.t) && !isId(f.id)) return `malformed ${f.t}: no valid id`;
  if (WITH_TYPE.has(f.t) && typeof f.type !== 'string') return `malformed ${f.t}: no type`;
  return null;
}

/**
 * Events: 'ready' once both sides said hello; 'close' (reason) once, when it
 * closes for any cause; 'released' once its socket is gone too (a graceful
 * close with `bye` lets the socket flush first).
 */
export class Peer extends EventEmitter {
  readonly podId: string;
  readonly fingerprint: string;
  readonly outgoing: boolean;
  /** ip:port of the other end. */
  readonly remoteAddress: string;
  private state: 'hello' | 'open' | 'closed' = 'hello';
  private reason: string | null = null;
  private readonly decoder: FrameDecoder;
  private readonly calls: Calls;
  private readonly serving = new Serving();
  private readonly outbox: Outbox;
  private readonly heartbeat: Heartbeat;
  private readonly log: Logger;
  private helloTimer: NodeJS.Timeout | undefined;
  private bye: string | null = null;

  constructor(
    private readonly socket: tls.TLSSocket,
    remoteAddress: string,
    private readonly opts: PeerOptions,
  ) {
    super();
    this.podId = opts.remote.podId;
    this.fingerprint = opts.remote.fingerprint;
    this.outgoing = opts.outgoing;
    this.remoteAddress = remoteAddress;
    this.log = opts.log.child({ peer: this.podId, remote: remoteAddress });
    this.decoder = new FrameDecoder(opts.maxFrame);
    this.calls = new Calls(this.podId);
    this.outbox = new Outbox(socket, opts.maxFrame);
    this.heartbeat = new Heartbeat(
      opts.heartbeatMs,
      (id) => this.control({ t: 'ping', id }),
      () => {
        this.log.warn(`net: connection to ${this.podId} (${remoteAddress}) is dead: ${MISSED} pings unanswered`);
        this.close('heartbeat lost');
      },
    );
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => {
      this.close('connection lost');
      this.emit('released');
    });
    this.helloTimer = setTimeout(() => this.close(`no hello within ${opts.helloTimeoutMs} ms`), opts.helloTimeoutMs);
    this.control({ t: 'hello', v: PROTOCOL });
  }

  /** Round-trip time of the last answered ping, in milliseconds. */
  get rtt(): number | null {
    return this.heartbeat.rtt;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Bytes written to the socket and not yet sent: bounded by the high-water mark plus one frame. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Why the remote said it closed this connection (`duplicate` when another connection replaces it). */
  get remoteBye(): string | null {
    return this.bye;
  }

  /** Why it closed, once closed. */
  get closeReason(): string | null {
    return this.reason;
  }

  /** A one-way message. Resolves once written or buffered below the socket's high-water mark. */
  send(type: string, body?: object): Promise<void> {
    return this.outbox.push({ t: 'msg', type, body });
  }

  request<T = unknown>(type: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    if (this.state === 'closed') return Promise.reject(new ConnectionClosedError(this.reason!));
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs;
    const { id, result } = this.calls.open<T>(opts, timeoutMs, (gone) => this.giveUp(gone));
    this.outbox.push({ t: 'req', id, type, body }, id).catch((err: Error) => this.calls.settle(id, err));
    return result;
  }

  /** Closes and drops the socket without waiting for anything to flush. */
  destroy(reason: string): void {
    this.close(reason);
    this.socket.destroy();
  }

  /** Closes at once: pending calls reject with ConnectionClosedError. `bye` tells the remote why first. */
  close(reason: string, bye?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.reason = reason;
    clearTimeout(this.helloTimer);
    this.heartbeat.stop();
    const err = new ConnectionClosedError(reason);
    this.calls.failAll(err);
    this.serving.abortAll(err);
    this.outbox.fail(err);
    if (bye !== undefined && !this.socket.destroyed) {
      // end() flushes the bye first; the timer bounds a remote that never reads it.
      const timer = setTimeout(() => this.socket.destroy(), 1_000);
      this.socket.once('close', () => clearTimeout(timer));
      this.socket.end(encodeFrame({ t: 'bye', reason: bye }));
    } else {
      this.socket.destroy();
    }
    this.emit('close', reason);
  }

  /** Heartbeats, cancels and pongs skip the queue: they must not wait behind megabytes of data. */
  private control(frame: Frame): void {
    if (this.state !== 'closed') this.socket.write(encodeFrame(frame));
  }

  private giveUp(id: number): void {
    if (!this.outbox.withdraw(id, new AbortError())) this.control({ t: 'cancel', id });
  }

  private onData(chunk: Buffer): void {
    this.heartbeat.alive();
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.protocolError(`malformed frame: ${(err as Error).message}`);
      return;
    }
    for (const f of frames) {
      if (this.state === 'closed') return;
      this.onFrame(f);
    }
  }

  private protocolError(reason: string): void {
    this.log.warn({ reason }, `net: closing connection to ${this.podId} (${this.remoteAddress}): ${reason}`);
    this.close(reason);
  }

  private onFrame(f: Frame): void {
    const bad = this.state === 'hello' ? badHello(f) : malformed(f);
    if (bad) {
      this.protocolError(bad);
      return;
    }
    const id = f.id as number;
    switch (f.t) {
      case 'hello':
        this.open();
        break;
      case 'req':
        this.serve(id, f.type as string, f.body);
        break;
      case 'res':
        this.calls.settle(
          id,
          f.ok === true ? { ok: true, body: f.body } : { ok: false, error: parseWireError(f.error) },
        );
        break;
      case 'msg':
        this.opts.host.message(f.type as string, f.body, this);
        break;
      case 'cancel':
        this.serving.cancel(id, new AbortError('the caller gave up'));
        break;
      case 'ping':
        this.control({ t: 'pong', id });
        break;
      case 'pong':
        this.heartbeat.pong(id);
        break;
      case 'bye':
        this.bye = String(f.reason).slice(0, 200);
        this.close(`closed by the remote: ${this.bye}`);
        break;
    }
  }

  private open(): void {
    this.state = 'open';
    clearTimeout(this.helloTimer);
    this.heartbeat.start();
    this.emit('ready');
  }

  private serve(id: number, type: string, body: unknown): void {
    if (this.serving.has(id)) {
      this.protocolError(`request id ${id} reused`);
      return;
    }
    const signal = this.serving.begin(id);
    void runHandler(this.opts.host.handler(type), type, body, this, signal).then((outcome) => {
      if (!this.serving.end(id)) return; // cancelled, or the connection closed
      this.outbox.push({ t: 'res', id, ...outcome }).catch((err: Error) => {
        // The answer itself could not be encoded (too large, unsupported type): say so instead.
        if (err.name !== 'FrameError') return;
        const error = { name: err.name, message: err.message };
        this.outbox.push({ t: 'res', id, ok: false, error }).catch(() => {});
      });
    });
  }
}
