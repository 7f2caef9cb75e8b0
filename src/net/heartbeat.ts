/**
 * Liveness and round-trip time of one connection. A ping goes out every
 * interval; any byte received proves the other end alive (a pong may wait
 * behind megabytes of data on a slow link), and after MISSED intervals with
 * nothing received the connection is dead.
 */
export const MISSED = 3;

export class Heartbeat {
  /** Milliseconds from the last answered ping to its pong. */
  rtt: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private missed = 0;
  private lastId = 0;
  /** Send times of the pings that may still be answered. */
  private readonly sent = new Map<number, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly ping: (id: number) => void,
    private readonly dead: () => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.tick(); // an RTT from the start, for whoever picks the fastest peer
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Something arrived from the other end. */
  alive(): void {
    this.missed = 0;
  }

  pong(id: number): void {
    const at = this.sent.get(id);
    if (at === undefined) return;
    this.sent.delete(id);
    this.rtt = performance.now() - at;
  }

  private tick(): void {
    if (this.missed >= MISSED) {
      this.stop();
      this.dead();
      return;
    }
    this.missed++;
    const id = ++this.lastId;
    this.sent.set(id, performance.now());
    this.sent.delete(id - MISSED - 1);
    this.ping(id);
  }
}
