/**
 * The pod's SQLite database (better-sqlite3, WAL). Commits are durable
 * against a crash of the process at once (the WAL is in the kernel's page
 * cache); syncDurable() also makes them durable against power loss.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';

export type Db = Database.Database;
export type Statement = Database.Statement;

export class DatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseError';
  }
}

export function openDatabase(file: string): Db {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let db: Db;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
  } catch (err) {
    throw new DatabaseError(`cannot open the database ${file}: ${(err as Error).message}`);
  }
  db.pragma('synchronous = NORMAL');
  // Checkpoints run in a worker (Checkpointer), never inline in a commit.
  db.pragma('wal_autocheckpoint = 0');
  db.pragma('journal_size_limit = 67108864');
  db.pragma('temp_store = MEMORY');
  db.pragma('cache_size = -32768');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as { value: number } | undefined;
  if (!row) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema', ?)`).run(SCHEMA_VERSION);
  } else if (row.value > SCHEMA_VERSION) {
    db.close();
    throw new DatabaseError(`${file} was written by a newer Wormhole (schema ${row.value} > ${SCHEMA_VERSION})`);
  } else if (row.value < SCHEMA_VERSION) {
    migrate(db, row.value);
  }
  return db;
}

/** Brings a database written by an older Wormhole up to SCHEMA_VERSION, one step per version, atomically. */
function migrate(db: Db, from: number): void {
  db.transaction(() => {
    for (let v = from; v < SCHEMA_VERSION; v++) MIGRATIONS[v]?.(db);
    db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema'`).run(SCHEMA_VERSION);
  })();
}

/** MIGRATIONS[v] takes a database from schema v to v + 1 (SCHEMA has already created any new table). */
const MIGRATIONS: Record<number, (db: Db) => void> = {
  1: (db) => {
    const cols = db.prepare(`PRAGMA table_info(versions)`).all() as { name: string }[];
    if (!cols.some((c) => c.name === 'hlc')) db.exec(`ALTER TABLE versions ADD COLUMN hlc INTEGER NOT NULL DEFAULT 0`);
  },
};

/** Forces every committed transaction to stable storage (fsync of the WAL). */
export function syncDurable(db: Db): void {
  db.pragma('synchronous = FULL');
  try {
    db.prepare(
      `INSERT INTO meta (key, value) VALUES ('synced', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
    ).run(Date.now());
  } finally {
    db.pragma('synchronous = NORMAL');
    // Checkpoints run in a worker (Checkpointer), never inline in a commit.
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('journal_size_limit = 67108864');
  }
}

export function getMeta(db: Db, key: string): unknown {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').safeIntegers(true).get(key) as
    | { value: unknown }
    | undefined;
  return row?.value;
}

export function setMeta(db: Db, key: string, value: string | number | bigint | Buffer): void {
  // better-sqlite3 binds JS numbers as REAL; integers are kept as integers.
  if (typeof value === 'number' && Number.isInteger(value)) value = BigInt(value);
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(
    key,
    value,
  );
}
