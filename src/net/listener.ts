/**
 * The accepting side: a TLS 1.3 server that judges every connection after
 * its handshake. An authenticated pod is handed to the transport; a
 * connection without a certificate may only ask to join; anything else is
 * refused with one log line and closed before a byte is written to it.
 */
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../core/log.js';
import { formatAddress, type HostPort } from './dialer.js';
import { type JoinHandler, serveJoin } from './join.js';
import {
  logRefusal,
  type PodIdentity,
  type RemotePod,
  type RevocationCheck,
  remoteAddressOf,
  serverOptions,
  verifyPeer,
} from './tls.js';

export interface ListenerOptions {
  identity: PodIdentity;
  isRevoked?: RevocationCheck;
  onJoin?: JoinHandler;
  log: Logger;
  /** Bound on the TLS handshake, and on a joiner's request. */
  timeoutMs: number;
}

export class Listener {
  private server: tls.Server | undefined;
  private bound: HostPort | undefined;
  /** Every accepted socket until it closes, so stop() leaves none behind. */
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly opts: ListenerOptions,
    private readonly onPod: (socket: tls.TLSSocket, remote: RemotePod) => void,
  ) {}

  get address(): HostPort | undefined {
    return this.bound;
  }

  async start(at: HostPort): Promise<void> {
    const server = tls.createServer(serverOptions(this.opts.identity, this.opts.timeoutMs));
    server.on('connection', (raw: net.Socket) => {
      // Frames are whole messages: Nagle would hold a reply's last segment back until an ACK.
      raw.setNoDelay(true);
      this.track(raw);
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => this.accept(socket));
    server.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      logRefusal(this.opts.log, remoteAddressOf(socket), `TLS handshake failed (${err.code ?? err.message})`);
      socket.destroy(); // node leaves a timed-out handshake open
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.log.error({ err }, 'net: listener error'));
    const a = server.address() as net.AddressInfo;
    this.server = server;
    this.bound = { host: a.address, port: a.port };
    this.opts.log.info({ address: formatAddress(this.bound) }, `net: listening on ${formatAddress(this.bound)}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.bound = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {}); // a 'close' follows; the owner of the socket reports it
    socket.once('close', () => this.sockets.delete(socket));
  }

  private accept(socket: tls.TLSSocket): void {
    socket.on('error', () => {});
    if (!this.server) {
      socket.destroy();
      return;
    }
    const remote = remoteAddressOf(socket);
    const verdict = verifyPeer(socket, this.opts.identity, this.opts.isRevoked);
    if (verdict.ok) {
      this.onPod(socket, verdict.remote);
    } else if (verdict.reason === 'no certificate' && this.opts.onJoin) {
      serveJoin(socket, remote, this.opts.onJoin, this.opts.log, this.opts.timeoutMs);
    } else {
      logRefusal(this.opts.log, remote, verdict.reason);
      socket.destroy();
    }
  }
}
