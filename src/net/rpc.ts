/**
 * Request/response bookkeeping of one connection, both ways: the calls we
 * wait on (each settles exactly once: answer, timeout, abort or connection
 * loss), and the requests we serve (each with an AbortSignal that fires when
 * the caller gives up or the connection goes).
 */
import type { Peer } from './connection.js';
import { abortReason, RemoteError, TimeoutError, toWireError, type WireError } from './errors.js';

export interface RequestOptions {
  signal?: AbortSignal;
  /** Default: the transport's requestTimeoutMs (30 s). Infinity: no deadline. */
  timeoutMs?: number;
}

/**
 * Serves one request type. `body` comes from another machine: `B` is what
 * the handler expects, which it must check, not what the type system proved.
 */
export type Handler<B = unknown, R = unknown> = (body: B, peer: Peer, signal: AbortSignal) => R | Promise<R>;

export type Outcome = { ok: true; body: unknown } | { ok: false; error: WireError };

interface Pending {
  settle(outcome: Outcome | Error): void;
}

/** The calls we sent and still wait on. */
export class Calls {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly podId: string) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Opens a call. `giveUp(id)` runs when the caller stops waiting (timeout
   * or abort) so the remote can stop working on it.
   */
  open<T>(opts: RequestOptions, timeoutMs: number, giveUp: (id: number) => void): { id: number; result: Promise<T> } {
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => {
      const { signal } = opts;
      const onAbort = () => stop(abortReason(signal!), true);
      // Infinity means no deadline (setTimeout would turn it into 1 ms).
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(
            () => stop(new TimeoutError(`no answer from ${this.podId} within ${timeoutMs} ms`), true),
            Math.min(timeoutMs, 2 ** 31 - 1),
          )
        : undefined;
      const stop = (outcome: Outcome | Error, gaveUp: boolean) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (gaveUp) giveUp(id);
        if (outcome instanceof Error) reject(outcome);
        else if (outcome.ok) resolve(outcome.body as T);
        else reject(new RemoteError(this.podId, outcome.error));
      };
      this.pending.set(id, { settle: (o) => stop(o, false) });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
    return { id, result };
  }

  /** An answer arrived (or sending the request failed). Unknown ids are late answers: ignored. */
  settle(id: number, outcome: Outcome | Error): void {
    this.pending.get(id)?.settle(outcome);
  }

  failAll(err: Error): void {
    for (const p of [...this.pending.values()]) p.settle(err);
  }
}

/** The requests we are serving: each has an AbortController. */
export class Serving {
  private readonly running = new Map<number, AbortController>();

  has(id: number): boolean {
    return this.running.has(id);
  }

  begin(id: number): AbortSignal {
    const ac = new AbortController();
    this.running.set(id, ac);
    return ac.signal;
  }

  /** True if the request was still running (its answer is then still wanted unless cancelled). */
  end(id: number): boolean {
    return this.running.delete(id);
  }

  cancel(id: number, reason: Error): void {
    const ac = this.running.get(id);
    this.running.delete(id);
    ac?.abort(reason);
  }

  abortAll(reason: Error): void {
    for (const ac of this.running.values()) ac.abort(reason);
    this.running.clear();
  }
}

/** Runs a handler and turns whatever it does (value, throw, rejection) into an outcome. */
export async function runHandler(
  handler: Handler | undefined,
  type: string,
  body: unknown,
  peer: Peer,
  signal: AbortSignal,
): Promise<Outcome> {
  if (!handler) return { ok: false, error: { name: 'NoHandlerError', message: `no handler for request ${type}` } };
  try {
    return { ok: true, body: await handler(body, peer, signal) };
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  }
}
