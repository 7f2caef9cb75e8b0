/**
 * Whole-table copies of the database: what a snapshot of the replicated
 * tree is made of. Rows travel as arrays under their column names, so a
 * reader checks them against its own schema before anything is written.
 */
import type { Db } from './db.js';

export interface TableDump {
  columns: string[];
  rows: unknown[][];
}

export type Dump = Record<string, TableDump>;

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

function columnsOf(db: Db, table: string): string[] {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
}

/** Every row of `tables`, read in one transaction (a consistent copy). */
export function dumpTables(db: Db, tables: readonly string[]): Dump {
  return db.transaction(() => {
    const out: Dump = {};
    for (const t of tables) {
      const columns = columnsOf(db, t);
      const rows = db
        .prepare(`SELECT ${columns.join(', ')} FROM ${t}`)
        .raw(true)
        .safeIntegers(true)
        .all() as unknown[][];
      out[t] = { columns, rows };
    }
    return out;
  })();
}

/**
 * Checks that `dump` holds exactly `tables`, each with columns this schema
 * has and rows of the right width: throws SnapshotError naming what is wrong.
 */
export function checkDump(db: Db, dump: unknown, tables: readonly string[]): asserts dump is Dump {
  if (!dump || typeof dump !== 'object') throw new SnapshotError('snapshot: not a set of tables');
  const d = dump as Record<string, unknown>;
  for (const t of tables) {
    const td = d[t] as TableDump | undefined;
    if (!td || !Array.isArray(td.columns) || !Array.isArray(td.rows))
      throw new SnapshotError(`snapshot: table ${t} missing`);
    const known = new Set(columnsOf(db, t));
    for (const c of td.columns) {
      if (typeof c !== 'string' || !known.has(c))
        throw new SnapshotError(`snapshot: table ${t} has unknown column ${String(c)}`);
    }
    for (const r of td.rows) {
      if (!Array.isArray(r) || r.length !== td.columns.length)
        throw new SnapshotError(`snapshot: table ${t} has a malformed row`);
    }
  }
}

/** Replaces the content of `tables` by their rows in `dump`, checked by checkDump (call inside a transaction). */
export function loadTables(db: Db, dump: Dump, tables: readonly string[]): void {
  for (const t of tables) {
    const td = dump[t] as TableDump;
    db.prepare(`DELETE FROM ${t}`).run();
    if (td.rows.length === 0) continue;
    const insert = db.prepare(
      `INSERT INTO ${t} (${td.columns.join(', ')}) VALUES (${td.columns.map(() => '?').join(', ')})`,
    );
    for (const r of td.rows) insert.run(...r);
  }
}
