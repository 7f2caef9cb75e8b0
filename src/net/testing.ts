/**
 * Helpers for the transport's tests: certificate authorities and pod
 * identities, transports on 127.0.0.1 stopped when the test ends, captured
 * log lines, and a raw TLS client that speaks frames by hand to play a
 * misbehaving or silent pod.
 */
import * as tls from 'node:tls';
import { type Logger, pino } from 'pino';
import type { AfterHook } from '../core/testing.js';
import { waitFor } from '../core/testing.js';
import { encodeFrame, type Frame, FrameDecoder } from './frame.js';
import { type Authority, createAuthority, createKeyPair, issuePodCertificate } from './pki.js';
import { clientOptions, joinerOptions, type PodIdentity } from './tls.js';
import { Transport, type TransportOptions } from './transport.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface LogCapture {
  log: Logger;
  lines: LogLine[];
  /** Waits for a line whose message matches. */
  line(re: RegExp, timeoutMs?: number): Promise<LogLine>;
}

export function captureLog(): LogCapture {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return {
    log,
    lines,
    line: (re, ms = 5_000) => waitFor(`a log line ${re}`, () => lines.find((l) => re.test(l.msg)), ms),
  };
}

const authorities = new Map<string, Promise<Authority>>();

/** One CA per network name per process: creating them is the slow part. */
export function authority(network: string): Promise<Authority> {
  let a = authorities.get(network);
  if (!a) authorities.set(network, (a = createAuthority(network)));
  return a;
}

export interface IdentityOptions {
  /** Sign with this CA instead of the network's. */
  ca?: Authority;
  notBefore?: Date;
  notAfter?: Date;
}

export async function podIdentity(network: string, podId: string, o: IdentityOptions = {}): Promise<PodIdentity> {
  const ca = o.ca ?? (await authority(network));
  const { key, publicKey } = await createKeyPair();
  const cert = await issuePodCertificate(ca, {
    podId,
    network,
    publicKey,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
  });
  return { podId, network, key, cert, ca: ca.caCert };
}

export interface TestPod {
  transport: Transport;
  identity: PodIdentity;
  logs: LogCapture;
  /** host:port it listens on. */
  address: string;
}

/** A started transport listening on 127.0.0.1, stopped when the test ends. */
export async function startPod(
  t: AfterHook,
  identity: PodIdentity,
  extra: Partial<Omit<TransportOptions, 'identity' | 'log'>> = {},
): Promise<TestPod> {
  const logs = captureLog();
  const transport = new Transport({ identity, log: logs.log, listen: { host: '127.0.0.1', port: 0 }, ...extra });
  t.after(() => transport.stop());
  await transport.start();
  return { transport, identity, logs, address: `127.0.0.1:${transport.address!.port}` };
}

/** A TLS client that frames by hand: it says and answers only what the test makes it. */
export class RawClient {
  readonly frames: Frame[] = [];
  /** Application bytes received, whether they decode or not. */
  received = 0;
  closed = false;
  /** Our port, as the server sees and logs it. */
  readonly localPort: number;
  private readonly decoder = new FrameDecoder();

  private constructor(readonly socket: tls.TLSSocket) {
    this.localPort = socket.localPort!;
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      try {
        this.frames.push(...this.decoder.push(d));
      } catch {
        // a test that sends garbage may get garbage back; it looks at `received`
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects to `address`, with `identity`'s certificate, or none. */
  static connect(t: AfterHook, address: string, identity?: PodIdentity): Promise<RawClient> {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    const options = identity ? clientOptions(identity) : joinerOptions();
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ ...options, host, port }, () => resolve(new RawClient(socket)));
      t.after(() => {
        socket.destroy();
      });
      socket.once('error', reject);
    });
  }

  send(frame: Frame): void {
    this.socket.write(encodeFrame(frame));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  frame(pred: (f: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    return waitFor('a frame', () => this.frames.find(pred), timeoutMs);
  }

  waitClosed(timeoutMs = 5_000): Promise<true> {
    return waitFor('the connection to close', () => this.closed, timeoutMs);
  }
}
