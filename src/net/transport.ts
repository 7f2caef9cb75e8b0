/**
 * The transport of one pod: a TLS 1.3 listener, the connections it keeps to
 * other pods of its network, and the request handlers it serves.
 *
 * One connection per pair of pods: when both dial each other, both keep the
 * same one (slots.ts). The side that drops a connection says `bye duplicate`
 * first, so the other side waits for the replacement instead of announcing
 * the pod down; a replacement is announced by a new 'peer-up' (with its new
 * Peer) and no 'peer-down'.
 */
import { EventEmitter } from 'node:events';
import type * as tls from 'node:tls';
import { UsageError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { Peer, type PeerHost } from './connection.js';
import { backoff, dialPod, type HostPort, parseAddress } from './dialer.js';
import { AuthenticationError } from './errors.js';
import { DEFAULT_MAX_FRAME } from './frame.js';
import type { JoinHandler } from './join.js';
import { Listener } from './listener.js';
import type { Handler } from './rpc.js';
import { newSlot, type PeerStatus, preferred, type Slot, statusOf } from './slots.js';
import { logRefusal, type PodIdentity, type RemotePod, type RevocationCheck, remoteAddressOf } from './tls.js';

export interface TransportOptions {
  identity: PodIdentity;
  /** Where to accept connections; port 0 = any free port. Without it the pod only dials. */
  listen?: HostPort;
  isRevoked?: RevocationCheck;
  /** Answers `join` from a connection without a certificate: the only thing such a peer may ask. */
  onJoin?: JoinHandler;
  log: Logger;
  heartbeatMs?: number;
  requestTimeoutMs?: number;
  maxFrame?: number;
  /** Bound on TCP + TLS + hello, for dials and accepted connections alike. */
  connectTimeoutMs?: number;
}

export type { PeerStatus };

/** Events: 'peer-up' (peer), 'peer-down' (podId, reason), 'message' (type, body, peer). */
export class Transport extends EventEmitter {
  private listener: Listener | undefined;
  private running = false;
  private readonly slots = new Map<string, Slot>();
  private readonly handlers = new Map<string, Handler>();
  /** Every connection past its TLS handshake until its socket is gone, so stop() leaves none behind. */
  private readonly conns = new Set<Peer>();
  private readonly log: Logger;
  private readonly host: PeerHost;
  private readonly connectTimeoutMs: number;

  constructor(private readonly opts: TransportOptions) {
    super();
    this.log = opts.log.child({ component: 'net' });
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.host = {
      handler: (type) => this.handlers.get(type),
      message: (type, body, peer) => this.safeEmit('message', type, body, peer),
    };
  }

  get address(): HostPort | undefined {
    return this.listener?.address;
  }

  get podId(): string {
    return this.opts.identity.podId;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (this.opts.listen) {
      const { identity, isRevoked, onJoin } = this.opts;
      const listener = new Listener(
        { identity, isRevoked, onJoin, log: this.log, timeoutMs: this.connectTimeoutMs },
        (socket, remote) => this.open(socket, remote, false),
      );
      await listener.start(this.opts.listen);
      this.listener = listener;
    }
    this.running = true;
    for (const slot of this.slots.values()) if (slot.wanted) this.dialNow(slot);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const slot of this.slots.values()) {
      clearTimeout(slot.retry);
      clearTimeout(slot.awaiting);
      slot.dial?.ac.abort();
    }
    for (const peer of [...this.conns]) peer.destroy('transport stopped');
    this.slots.clear();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.stop();
  }

  /** Keeps a connection to `podId` at `address` ("host:port"): dials, and redials with backoff until disconnect(). */
  connect(podId: string, address: string): void {
    parseAddress(address);
    if (podId === this.opts.identity.podId) throw new UsageError(`pod ${podId} is this pod`);
    const slot = this.slot(podId);
    slot.wanted = true;
    slot.address = address;
    if (this.running && !slot.active && !slot.dial && !slot.retry && !slot.awaiting) this.dialNow(slot);
  }

  /** Stops redialing `podId` and closes the connection to it, whoever dialed it. */
  disconnect(podId: string, bye?: string): void {
    const slot = this.slots.get(podId);
    if (!slot) return;
    slot.wanted = false;
    clearTimeout(slot.retry);
    slot.retry = undefined;
    slot.dial?.ac.abort();
    slot.dial?.peer?.close('disconnected');
    slot.dial = undefined;
    if (slot.active) {
      slot.active.close('disconnected', bye); // peer-down, and the slot goes
    } else if (slot.awaiting) {
      clearTimeout(slot.awaiting);
      slot.awaiting = undefined;
      this.down(slot, 'disconnected');
    } else {
      this.slots.delete(podId);
    }
  }

  /**
   * Closes the connections of pods that `isRevoked` now refuses: it is asked
   * at every handshake, so call this after revoking a pod that is connected.
   */
  enforceRevocations(): void {
    for (const slot of this.slots.values()) {
      const p = slot.active;
      if (p && this.opts.isRevoked?.(p.podId, p.fingerprint)) {
        this.log.warn({ pod: p.podId }, `net: closing connection to ${p.podId}: revoked`);
        p.close('revoked', 'revoked');
      }
    }
  }

  /** The connected peer, if any. */
  peer(podId: string): Peer | undefined {
    return this.slots.get(podId)?.active;
  }

  peers(): PeerStatus[] {
    return [...this.slots.values()].map(statusOf);
  }

  /** Serves requests of `type` from every peer. `body` is untrusted input: check it. */
  handle<B = unknown, R = unknown>(type: string, handler: Handler<B, R>): void {
    this.handlers.set(type, handler as Handler);
  }

  private open(socket: tls.TLSSocket, remote: RemotePod, outgoing: boolean): Peer {
    const peer = new Peer(socket, remoteAddressOf(socket), {
      remote,
      outgoing,
      host: this.host,
      log: this.log,
      maxFrame: this.opts.maxFrame ?? DEFAULT_MAX_FRAME,
      heartbeatMs: this.opts.heartbeatMs ?? 2_000,
      requestTimeoutMs: this.opts.requestTimeoutMs ?? 30_000,
      helloTimeoutMs: this.connectTimeoutMs,
    });
    this.conns.add(peer);
    peer.once('released', () => this.conns.delete(peer));
    peer.once('ready', () => this.adopt(peer));
    peer.once('close', (reason: string) => this.closed(peer, reason));
    return peer;
  }

  private slot(podId: string): Slot {
    let s = this.slots.get(podId);
    if (!s) this.slots.set(podId, (s = newSlot(podId)));
    return s;
  }

  private dialNow(slot: Slot): void {
    const ac = new AbortController();
    const address = slot.address!;
    slot.dial = { ac };
    const { identity, isRevoked } = this.opts;
    dialPod(slot.podId, address, identity, isRevoked, this.connectTimeoutMs, ac.signal).then(
      ({ socket, remote }) => {
        if (slot.dial?.ac !== ac || !this.running) return void socket.destroy();
        slot.dial.peer = this.open(socket, remote, true);
      },
      (err: Error) => {
        if (slot.dial?.ac !== ac) return;
        if (err instanceof AuthenticationError) logRefusal(this.log, address, err.reason, slot.podId);
        else this.log.debug({ pod: slot.podId, address, err: err.message }, 'net: dial failed');
        slot.dial = undefined;
        this.scheduleDial(slot);
      },
    );
  }

  /** The next attempt, after a backoff that grows with each failure and resets on success. */
  private scheduleDial(slot: Slot): void {
    if (!this.running || !slot.wanted || slot.active || slot.dial || slot.retry) return;
    slot.retry = setTimeout(
      () => {
        slot.retry = undefined;
        if (this.running && slot.wanted && !slot.active && !slot.dial && !slot.awaiting) this.dialNow(slot);
      },
      backoff(slot.attempt++),
    );
  }

  private adopt(peer: Peer): void {
    if (!this.running) return void peer.close('transport stopped');
    const slot = this.slot(peer.podId);
    if (slot.dial?.peer === peer) slot.dial = undefined;
    clearTimeout(slot.retry);
    slot.retry = undefined;
    slot.attempt = 0;
    const current = slot.active;
    if (current) {
      const keep = preferred(this.opts.identity.podId, current, peer);
      const drop = keep === current ? peer : current;
      slot.active = keep;
      this.log.debug({ pod: peer.podId }, 'net: duplicate connection closed');
      drop.close('duplicate connection', 'duplicate');
      if (keep === peer) this.safeEmit('peer-up', peer);
      return;
    }
    const replacing = slot.awaiting !== undefined;
    clearTimeout(slot.awaiting);
    slot.awaiting = undefined;
    slot.active = peer;
    if (!replacing) slot.since = Date.now();
    this.log.info({ pod: peer.podId, remote: peer.remoteAddress }, `net: connected to ${peer.podId}`);
    this.safeEmit('peer-up', peer);
  }

  private closed(peer: Peer, reason: string): void {
    const slot = this.slots.get(peer.podId);
    if (!slot) return;
    if (slot.dial?.peer === peer) {
      this.log.info({ pod: peer.podId, reason }, `net: connection to ${peer.podId} failed before hello: ${reason}`);
      slot.dial = undefined;
      this.scheduleDial(slot);
      return;
    }
    if (slot.active !== peer) return;
    slot.active = undefined;
    if (this.running && peer.remoteBye === 'duplicate') {
      slot.awaiting = setTimeout(() => {
        slot.awaiting = undefined;
        this.down(slot, 'duplicate connection never replaced');
      }, this.connectTimeoutMs);
      return;
    }
    this.down(slot, reason);
  }

  private down(slot: Slot, reason: string): void {
    slot.since = Date.now();
    if (!slot.wanted) this.slots.delete(slot.podId);
    this.log.info({ pod: slot.podId, reason }, `net: disconnected from ${slot.podId}: ${reason}`);
    this.safeEmit('peer-down', slot.podId, reason);
    this.scheduleDial(slot);
  }

  /** A listener that throws must not break the connection that delivered the event. */
  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, `net: a ${event} listener threw`);
    }
  }
}
