/** What the layers above the transport need of a connection to another pod. */
export interface PodLink {
  readonly podId: string;
  /** Round-trip time measured by heartbeats, if known (ms). */
  readonly rtt?: number | null;
  send(type: string, body: object): Promise<void>;
  request<T>(type: string, body: object, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<T>;
}

/** Registers a handler for a request or one-way message type coming from other pods. */
export type Handle = (type: string, fn: (body: unknown, peer: PodLink) => unknown) => void;
