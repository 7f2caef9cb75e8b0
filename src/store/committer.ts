/**
 * Group commit. Metadata statements run inside one open SQLite transaction,
 * each change atomic on its own (a savepoint); the transaction commits at the
 * next durability point (close, fsync: flush()) or at the latest `intervalMs`
 * after it opened. One commit then carries many changes, where a commit each
 * cost a WAL write of every page touched, and reads inside it skip the WAL's
 * per-statement read locks.
 *
 * The window is the trade: a change not followed by close or fsync (mkdir,
 * rename, unlink) is lost if the daemon dies within `intervalMs` of it.
 * Nothing acknowledged by close() or fsync() is ever in that window.
 */
import type { Db } from './db.js';

export class Committer {
  private timer: NodeJS.Timeout | undefined;
  private pendingNotify = false;
  private readonly begin: () => void;
  private readonly commit: () => void;
  commits = 0;
  /** Called after each commit (what it made durable may now leave the pod). */
  onCommit: () => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly intervalMs = 10,
  ) {
    const b = db.prepare('BEGIN');
    const c = db.prepare('COMMIT');
    this.begin = () => b.run();
    this.commit = () => c.run();
  }

  /** Makes sure a transaction is open for the next statement; its commit is scheduled. */
  open(): void {
    if (this.db.inTransaction) return;
    if (this.intervalMs <= 0) {
      // No group commit: each change commits by itself; the listeners hear of it right after.
      if (!this.pendingNotify) {
        this.pendingNotify = true;
        queueMicrotask(() => {
          this.pendingNotify = false;
          this.onCommit();
        });
      }
      return;
    }
    this.begin();
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Commits now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.db.inTransaction) {
      this.commit();
      this.commits++;
      this.onCommit();
    }
  }

  close(): void {
    this.flush();
  }
}
