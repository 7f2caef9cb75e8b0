/**
 * The control socket: a small JSON-over-HTTP API on a Unix socket in the
 * daemon's home, used by the `wormhole` CLI. Every failure is answered with
 * a status and a message; nothing a client sends can crash the daemon.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export type RouteHandler = (body: unknown, query: URLSearchParams) => unknown | Promise<unknown>;

/** An error with an HTTP status, for the routes. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

const MAX_BODY = 1 << 20;

function statusOf(err: unknown): number {
  if (err instanceof RequestError) return err.status;
  const name = (err as { name?: string })?.name;
  if (name === 'UsageError' || name === 'ConfigError') return 400;
  if (name === 'NotFoundError') return 404;
  return 500;
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) {
        reject(new RequestError(413, 'request body too large'));
        req.destroy();
        return;
      }
      parts.push(d);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
      } catch {
        reject(new RequestError(400, 'request body is not valid JSON'));
      }
    });
  });
}

export function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export class ControlServer {
  private server: http.Server | undefined;

  constructor(
    private readonly socket: string,
    private readonly routes: Record<string, RouteHandler>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(this.socket, 0o600);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    fs.rmSync(this.socket, { force: true });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://wormhole');
    const key = `${req.method} ${url.pathname}`;
    let status = 200;
    let payload: unknown;
    try {
      const route = this.routes[key];
      if (!route) throw new RequestError(404, `no such request: ${key}`);
      const body = await readBody(req);
      payload = await route(body, url.searchParams);
    } catch (err) {
      status = statusOf(err);
      if (status >= 500) this.log.error({ err, request: key }, 'control request failed');
      payload = { error: { name: (err as Error)?.name ?? 'Error', message: errorMessage(err) } };
    }
    const text = JSON.stringify(payload ?? {}, jsonReplacer);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}
