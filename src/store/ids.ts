/**
 * Allocates ids for this pod: its prefix and a persisted counter. persist()
 * runs inside the transaction of every change (Tree.apply): when the counter
 * has reached the mark the database holds, it records a new mark a block
 * ahead. After a crash the counter restarts at the mark, past every id any
 * committed change holds (ids handed out but never committed were seen by
 * no one). The mark is read from the database, not remembered, so a
 * transaction that rolled back cannot leave a stale one.
 */
import { COUNTER_BITS, type Id, makeId } from '../core/ids.js';
import type { Db, Statement } from './db.js';
import { getMeta } from './db.js';

const COUNTER_MAX = (1n << COUNTER_BITS) - 1n;
const BLOCK = 1024n;

export class IdAllocator {
  private next: bigint;
  private readonly save: Statement;
  private readonly load: Statement;

  constructor(
    db: Db,
    readonly prefix: number,
  ) {
    const hwm = getMeta(db, 'id_next');
    this.next = typeof hwm === 'bigint' ? hwm : 16n;
    this.load = db.prepare(`SELECT value FROM meta WHERE key = 'id_next'`).safeIntegers(true);
    this.save = db.prepare(
      `INSERT INTO meta (key, value) VALUES ('id_next', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
    );
  }

  allocate(): Id {
    if (this.next > COUNTER_MAX) throw new Error('this pod has used all of its ids');
    const id = makeId(this.prefix, this.next);
    this.next++;
    return id;
  }

  /**
   * Records the counter's mark; call inside the transaction that commits
   * the ids' use.
   */
  persist(): void {
    const row = this.load.get() as { value: bigint } | undefined;
    if (row && row.value > this.next) return;
    this.save.run(this.next + BLOCK);
  }
}
