/**
 * Joining a network. A new pod has no certificate yet, only an invite: the
 * inviter's address and the fingerprint of the network's CA. It connects
 * without a certificate, checks that the server's presented chain holds that
 * CA and that the server's certificate is signed by it, then sends its one
 * allowed request, `join` (what is in it, e.g. the invite secret and a public
 * key, is the caller's business; `onJoin` on the server answers it).
 */
import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import type { Logger } from '../core/log.js';
import { openTls } from './dialer.js';
import {
  AuthenticationError,
  abortReason,
  ConnectionClosedError,
  parseWireError,
  RemoteError,
  TimeoutError,
  toWireError,
} from './errors.js';
import { encodeFrame, type Frame, FrameDecoder } from './frame.js';
import { certIdentity, fingerprintOf } from './pki.js';
import { joinerOptions, logRefusal } from './tls.js';

/** A join request is small (a secret, a public key, a name): no reason to buffer more for a stranger. */
export const JOIN_MAX_FRAME = 64 * 1024;

export type JoinHandler = (body: unknown, remoteAddress: string) => Promise<unknown>;

/**
 * Serves a connection that presented no certificate: exactly one `join`
 * request, answered by `onJoin`, then the connection ends. Anything else
 * closes it.
 */
export function serveJoin(
  socket: tls.TLSSocket,
  remote: string,
  onJoin: JoinHandler,
  log: Logger,
  timeoutMs: number,
): void {
  const decoder = new FrameDecoder(JOIN_MAX_FRAME);
  let asked = false;
  const refuse = (reason: string) => {
    clearTimeout(timer);
    if (socket.destroyed) return;
    logRefusal(log, remote, reason);
    socket.destroy();
  };
  const timer = setTimeout(() => refuse(`no join request within ${timeoutMs} ms`), timeoutMs);
  socket.on('close', () => clearTimeout(timer));
  socket.on('error', () => {}); // 'close' follows
  socket.on('data', (chunk: Buffer) => {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      return refuse(`unauthenticated peer sent a malformed frame: ${(err as Error).message}`);
    }
    for (const f of frames) {
      if (asked) return refuse('unauthenticated peer sent more than its join request');
      if (f.t !== 'req' || f.type !== 'join' || typeof f.id !== 'number') {
        const what = f.t === 'req' || f.t === 'msg' ? `${f.t} ${String(f.type).slice(0, 40)}` : f.t.slice(0, 40);
        return refuse(`no certificate, and ${what} is not a join request`);
      }
      asked = true;
      clearTimeout(timer);
      log.info({ remote }, `net: join request from ${remote}`);
      void answerJoin(socket, f.id, f.body, remote, onJoin);
    }
  });
}

async function answerJoin(socket: tls.TLSSocket, id: number, body: unknown, remote: string, onJoin: JoinHandler) {
  let frame: Frame;
  try {
    frame = { t: 'res', id, ok: true, body: await onJoin(body, remote) };
  } catch (err) {
    frame = { t: 'res', id, ok: false, error: toWireError(err) };
  }
  if (!socket.destroyed) socket.end(encodeFrame(frame));
}

/** Lower-case hex without separators, as `fingerprint()` gives and as `AB:CD:…` tools print. */
function normalizeFingerprint(fp: string): string {
  return fp.replace(/:/g, '').toLowerCase();
}

/** The certificates the server presented, leaf first. */
function presentedChain(socket: tls.TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<object>();
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (c?.raw && !seen.has(c)) {
    seen.add(c);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/** Throws AuthenticationError unless the server is a pod certified by the CA with fingerprint `caFingerprint`. */
export function checkServer(socket: tls.TLSSocket, caFingerprint: string): void {
  const chain = presentedChain(socket);
  const leaf = chain[0];
  if (!leaf) throw new AuthenticationError('no certificate', 'the server presented no certificate');
  const want = normalizeFingerprint(caFingerprint);
  const ca = chain.find((c) => fingerprintOf(c) === want);
  if (!ca?.ca) {
    throw new AuthenticationError(
      'unknown authority',
      `the server's certificate authority is not ${want.slice(0, 16)}…`,
    );
  }
  if (!certIdentity(leaf) || !leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
    throw new AuthenticationError(
      'unknown authority',
      "the server's certificate is not a pod certificate of that authority",
    );
  }
  const now = Date.now();
  if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) {
    throw new AuthenticationError('expired', "the server's certificate is not valid now");
  }
}

export interface JoinOptions {
  /** host:port of a pod of the network. */
  address: string;
  caFingerprint: string;
  body: unknown;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Sends the join request to a pod of the network and returns its answer (a RemoteError if it refused). */
export async function joinNetwork(opts: JoinOptions): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const socket = await openTls(opts.address, joinerOptions(), timeoutMs, opts.signal);
  try {
    checkServer(socket, opts.caFingerprint);
    return await exchange(socket, opts, Math.max(1, deadline - Date.now()));
  } finally {
    socket.destroy();
  }
}

function exchange(socket: tls.TLSSocket, opts: JoinOptions, timeoutMs: number): Promise<unknown> {
  const { signal } = opts;
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder(JOIN_MAX_FRAME * 16);
    const done = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('data');
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(value);
    };
    const onAbort = () => done(abortReason(signal!));
    const onClose = () => done(new ConnectionClosedError(`${opts.address} closed the connection without answering`));
    const timer = setTimeout(
      () => done(new TimeoutError(`no answer to join from ${opts.address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('close', onClose);
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        return done(err as Error);
      }
      const res = frames.find((f) => f.t === 'res' && f.id === 1);
      if (!res) return;
      if (res.ok === true) done(null, res.body);
      else done(new RemoteError(opts.address, parseWireError(res.error)));
    });
    socket.write(encodeFrame({ t: 'req', id: 1, type: 'join', body: opts.body }));
  });
}
