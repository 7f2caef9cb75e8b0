/**
 * Allocates ids for this pod: its prefix and a persisted counter. persist()
 * runs inside the transaction of every change (Tree.apply), so after a crash
 * the counter is past every id any committed change holds; ids handed out
 * but never committed were seen by no one.
 */
import { COUNTER_BITS, type Id, makeId } from '../core/ids.js';
import type { Db, Statement } from './db.js';
import { getMeta } from './db.js';

const COUNTER_MAX = (1n << COUNTER_BITS) - 1n;

export class IdAllocator {
  private next: bigint;
  private readonly save: Statement;

  constructor(
    db: Db,
    readonly prefix: number,
  ) {
    const hwm = getMeta(db, 'id_next');
    this.next = typeof hwm === 'bigint' ? hwm : 16n;
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
   * Records the counter; call inside the transaction that commits the ids'
   * use. Always written: the previous write may have rolled back with its
   * transaction.
   */
  persist(): void {
    this.save.run(this.next);
  }
}
