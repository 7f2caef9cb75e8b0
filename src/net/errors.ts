/**
 * Errors of the transport. Each condition has its own class with a stable
 * `name`, so callers (and tests) branch on the name, never on the message.
 * Network failures stay distinct from each other: a caller retries a
 * `ConnectionClosedError` elsewhere, but reports a `RemoteError` as is.
 */

/** A frame that cannot be one of ours: oversized, undecodable, or not a message object. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** The remote handler threw; its error's name, message and errno code travel back. */
export class RemoteError extends Error {
  readonly remoteName: string;
  readonly remoteMessage: string;
  /** The remote error's `code` (an errno name for file-system errors), if it had one. */
  readonly remoteCode: string | undefined;
  /** The pod (or address) that answered. */
  readonly source: string;

  constructor(source: string, remote: WireError) {
    super(`${source} answered ${remote.name}: ${remote.message}`);
    this.name = 'RemoteError';
    this.source = source;
    this.remoteName = remote.name;
    this.remoteMessage = remote.message;
    this.remoteCode = remote.code;
  }
}

/** No answer within the deadline. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** The caller's AbortSignal fired before the answer came. */
export class AbortError extends Error {
  constructor(message = 'the operation was aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

/** The connection closed (or was never usable) before the operation completed. */
export class ConnectionClosedError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`connection closed: ${reason}`);
    this.name = 'ConnectionClosedError';
    this.reason = reason;
  }
}

/** A peer (or the server a joiner dialed) failed authentication; `reason` is the short cause. */
export class AuthenticationError extends Error {
  readonly reason: string;
  constructor(reason: string, detail?: string) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = 'AuthenticationError';
    this.reason = reason;
  }
}

/** An invite token that is not one: the message says which part is wrong. */
export class InvalidInviteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInviteError';
  }
}

/** An error as it travels in a response frame. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string'
      ? { name: err.name, message: err.message, code }
      : { name: err.name, message: err.message };
  }
  return { name: 'Error', message: String(err) };
}

/** An error field from the wire, checked: a malformed one is named so rather than trusted. */
export function parseWireError(v: unknown): WireError {
  const e = v as Partial<WireError> | null;
  if (typeof e?.name !== 'string' || typeof e.message !== 'string')
    return { name: 'Error', message: 'malformed error' };
  return typeof e.code === 'string'
    ? { name: e.name, message: e.message, code: e.code }
    : { name: e.name, message: e.message };
}

/** The error to reject with when `signal` fired: its reason if it is an Error, else an AbortError. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error && r.name !== 'AbortError' ? r : new AbortError();
}
