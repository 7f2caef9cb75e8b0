/**
 * Dialing one pod: TCP, TLS 1.3, then the judgement of the server's
 * certificate (it must be the pod we meant to reach). Retries are the
 * transport's business; this is one attempt, bounded in time and abortable.
 */
import * as tls from 'node:tls';
import { UsageError } from '../core/errors.js';
import { AuthenticationError, abortReason, TimeoutError } from './errors.js';
import { clientOptions, type PodIdentity, type RemotePod, type RevocationCheck, verifyPeer } from './tls.js';

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port" or "[v6]:port". */
/** `host:port` (IPv6 in brackets); `allowAnyPort` accepts port 0 (a listen address: any free port). */
export function parseAddress(address: string, allowAnyPort = false): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : -1;
  if (!m || port < (allowAnyPort ? 0 : 1) || port > 65535) {
    throw new UsageError(`address ${JSON.stringify(address)} is not host:port`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function formatAddress({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5_000;

/** Delay before retry number `attempt` (0-based): doubling from 100 ms to 5 s, ±25% so pods do not retry in step. */
export function backoff(attempt: number, random = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.75 + 0.5 * random()));
}

/**
 * Opens a TLS socket to `address` with `options` and resolves once the
 * handshake is done, or rejects (and destroys the socket) on error, timeout
 * or abort.
 */
export function openTls(
  address: string,
  options: tls.ConnectionOptions,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<tls.TLSSocket> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const socket = tls.connect({ ...options, host, port });
    // Frames are whole messages: Nagle would hold a reply's last segment back until an ACK.
    socket.setNoDelay(true);
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error) => fail(err);
    const onClose = () => fail(new Error(`connection to ${address} closed during the handshake`));
    const onAbort = () => fail(abortReason(signal!));
    const timer = setTimeout(
      () => fail(new TimeoutError(`no TLS handshake with ${address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      cleanup();
      // Errors after the handshake belong to whoever takes the socket; until then, swallow them.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/** One attempt to reach `podId` at `address`. Rejects with AuthenticationError if the server is not that pod. */
export async function dialPod(
  podId: string,
  address: string,
  identity: PodIdentity,
  isRevoked: RevocationCheck | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ socket: tls.TLSSocket; remote: RemotePod }> {
  const socket = await openTls(address, clientOptions(identity), timeoutMs, signal);
  const verdict = verifyPeer(socket, identity, isRevoked, podId);
  if (!verdict.ok) {
    socket.destroy();
    throw new AuthenticationError(verdict.reason);
  }
  return { socket, remote: verdict.remote };
}
