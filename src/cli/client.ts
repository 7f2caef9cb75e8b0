/** Talks to the local daemon over its control socket. */
import * as http from 'node:http';
import { UsageError } from '../core/errors.js';

export class DaemonNotRunningError extends Error {
  constructor(readonly home: string) {
    super(`the daemon is not running (home ${home}); start it with: wormhole daemon start --home ${home}`);
    this.name = 'DaemonNotRunningError';
  }
}

export class DaemonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

export interface Client {
  home: string;
  socket: string;
}

export function request<T>(c: Client, method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath: c.socket,
        method,
        path,
        headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(parts).toString('utf8'));
          } catch {
            reject(new DaemonError(res.statusCode ?? 500, 'the daemon sent an unreadable answer'));
            return;
          }
          const err = (json as { error?: { message?: string } }).error;
          if ((res.statusCode ?? 500) >= 400) {
            const msg = err?.message ?? `request failed with status ${res.statusCode}`;
            reject(res.statusCode === 400 ? new UsageError(msg) : new DaemonError(res.statusCode ?? 500, msg));
          } else resolve(json as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new DaemonError(504, `the daemon did not answer within ${timeoutMs / 1000}s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new DaemonNotRunningError(c.home));
      else reject(err);
    });
    if (data) req.write(data);
    req.end();
  });
}

/** Resolves true once the daemon answers, false if it does not before the deadline. */
export async function waitForDaemon(
  c: Client,
  deadlineMs: number,
  stillTrying: () => boolean = () => true,
): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  let delay = 20;
  while (Date.now() < end && stillTrying()) {
    try {
      await request(c, 'GET', '/v1/status', undefined, 5000);
      return true;
    } catch (err) {
      if (!(err instanceof DaemonNotRunningError)) throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  return false;
}
