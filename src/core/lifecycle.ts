/** A component holding sockets, timers or files: stop() releases all of them. */
export interface Startable {
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}
