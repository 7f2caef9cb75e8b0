/**
 * The replicated file tree of one pod. Every change is an operation stamped
 * (hybrid logical clock, pod, per-pod sequence) and applied in stamp order,
 * local or remote: an operation that arrives late undoes the newer ones,
 * applies, and redoes them (the replicated tree of Kleppmann et al.,
 * generalized to every kind of operation). Each operation is logged with
 * the row images that undo it, in the same transaction as its effect. Once
 * every pod has every operation older than some timestamp (stable), those
 * operations leave the log and what they deleted is collected.
 */
import { Packr } from 'msgpackr';
import { Hlc, type Timestamp } from '../core/hlc.js';
import { type Id, ROOT_INO, TRASH_INO } from '../core/ids.js';
import { nowNs } from '../core/time.js';
import type { Committer } from '../store/committer.js';
import type { Statement } from '../store/db.js';
import type { IdAllocator } from '../store/ids.js';
import type { MetaStore, RowImage } from '../store/meta.js';
import { checkDump, dumpTables, loadTables, SnapshotError, type TableDump } from '../store/snapshot.js';
import { applyOp } from './apply.js';
import type { Changes, ConflictPolicy, Placement } from './names.js';
import { compareStamps, decodeOp, encodeOp, type Stamp, type TreeOp, type WireOp } from './ops.js';

export interface TreeOptions {
  meta: MetaStore;
  ids: IdAllocator;
  /** This pod's number: its stamps' tie-break, the prefix of its ids. */
  pod: number;
  clock?: Hlc;
  /** Group commit; without it every change commits on its own. */
  committer?: Committer;
}

const undoPackr = new Packr({ useRecords: false, int64AsType: 'bigint' });

/** The tables a snapshot carries: the replicated tree, its log, and its version vector. */
const REPLICATED = ['inodes', 'entries', 'xattrs', 'versions', 'extents', 'netstate', 'origins', 'oplog'] as const;

export type VersionVector = Map<number, bigint>;

export class Tree {
  readonly meta: MetaStore;
  readonly ids: IdAllocator;
  readonly pod: number;
  readonly clock: Hlc;
  readonly committer: Committer | undefined;
  private last: Stamp;
  private seq: bigint;
  private readonly s: Record<string, Statement>;
  /** Called after a committed change with the chunks no version uses any more. */
  onFreed: (hashes: Buffer[]) => void = () => {};
  /** Runs inside every change's transaction, before its operations (the chunk store records new small chunks). */
  beforeApply: () => void = () => {};
  /** Called after operations took effect, with what they changed; `remote`: they came from another pod. */
  onChanged: (changes: Changes, remote: boolean) => void = () => {};
  /** Called with this pod's new operations, to send to the others. */
  onLocal: (ops: WireOp[]) => void = () => {};
  /** Names of pods, for conflict copies. */
  podName: (pod: number) => string = (pod) => `pod${pod}`;

  constructor(opts: TreeOptions) {
    this.meta = opts.meta;
    this.ids = opts.ids;
    this.pod = opts.pod;
    this.clock = opts.clock ?? new Hlc();
    this.committer = opts.committer;
    const db = this.meta.db;
    const p = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.s = {
      insert: p('INSERT INTO oplog (hlc, pod, seq, body, undo) VALUES (?, ?, ?, ?, ?)'),
      setUndo: p('UPDATE oplog SET undo = ? WHERE hlc = ? AND pod = ?'),
      has: p('SELECT 1 FROM oplog WHERE hlc = ? AND pod = ?'),
      newer: p('SELECT hlc, pod, seq, body, undo FROM oplog WHERE hlc > ? OR (hlc = ? AND pod > ?) ORDER BY hlc, pod'),
      all: p('SELECT hlc, pod, seq, body FROM oplog ORDER BY hlc, pod'),
      trim: p('DELETE FROM oplog WHERE hlc < ?'),
      count: p('SELECT count(*) AS n FROM oplog'),
      origin: p('SELECT seq FROM origins WHERE pod = ?'),
      setOrigin: p('INSERT INTO origins (pod, seq) VALUES (?, ?) ON CONFLICT(pod) DO UPDATE SET seq = excluded.seq'),
      origins: p('SELECT pod, seq FROM origins'),
      lowest: p('SELECT pod, min(seq) AS seq FROM oplog GROUP BY pod'),
      from: p('SELECT hlc FROM oplog WHERE pod = ? AND seq = ?'),
      since: p('SELECT hlc, pod, seq, body FROM oplog WHERE hlc >= ? ORDER BY hlc, pod'),
      ownAbove: p('SELECT hlc, pod, seq, body FROM oplog WHERE pod = ? AND seq > ? ORDER BY seq'),
      hashes: p('SELECT DISTINCT hash FROM extents WHERE hash IS NOT NULL'),
      hasSeq: p('SELECT 1 FROM oplog WHERE pod = ? AND seq = ?'),
      ownAfter: p('SELECT hlc FROM oplog WHERE pod = ? AND seq > ? ORDER BY seq LIMIT 1'),
      getLast: p(`SELECT value FROM meta WHERE key = 'tree_last'`),
      setLast: p(
        `INSERT INTO meta (key, value) VALUES ('tree_last', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ),
    };
    const last = this.s.getLast?.get() as { value: Buffer } | undefined;
    this.last = last ? (undoPackr.unpack(last.value) as Stamp) : { hlc: 0n, pod: 0, seq: 0n };
    this.clock.observe(this.last.hlc);
    this.seq = this.originSeq(this.pod);
    this.ensureRoot();
  }

  private st(name: string): Statement {
    const s = this.s[name];
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  }

  private ensureRoot(): void {
    if (this.meta.getInode(ROOT_INO)) return;
    const t = 0n;
    this.meta.insertInode({
      ino: ROOT_INO,
      mode: 0o040755,
      uid: 0,
      gid: 0,
      nlink: 2,
      size: 0,
      atime: t,
      mtime: t,
      ctime: t,
      btime: t,
      rdev: 0,
      target: null,
      content: null,
      used: 0,
    });
  }

  newId(): Id {
    return this.ids.allocate();
  }

  get policy(): ConflictPolicy {
    const v = this.meta.getNet('config:conflict');
    return v?.toString() === 'newest' ? 'newest' : 'copy';
  }

  private originSeq(pod: number): bigint {
    const r = this.st('origin').get(pod) as { seq: bigint } | undefined;
    return r ? r.seq : 0n;
  }

  /** Applies one operation at its stamp, recording its undo images in the log. */
  private applyAt(stamp: Stamp, op: TreeOp, changes: Changes): void {
    const p: Placement = { meta: this.meta, stamp, policy: this.policy, podName: this.podName, changes };
    this.meta.beginCapture();
    try {
      applyOp(p, op);
    } finally {
      const undo = this.meta.endCapture();
      this.st('setUndo').run(undoPackr.pack(undo), stamp.hlc, stamp.pod);
    }
  }

  private setLast(stamp: Stamp): void {
    this.last = stamp;
    this.st('setLast').run(undoPackr.pack({ hlc: stamp.hlc, pod: stamp.pod, seq: stamp.seq }));
  }

  private atomically<T>(fn: () => T, rolledBack?: () => void): T {
    this.committer?.open();
    try {
      return this.meta.transaction(fn);
    } catch (err) {
      rolledBack?.();
      throw err;
    }
  }

  /** Applies local operations atomically: all are logged and take effect, or none. */
  apply(ops: TreeOp[]): Stamp[] {
    const changes: Changes = { entries: [], inodes: new Set() };
    const wire: WireOp[] = [];
    const before = { seq: this.seq, last: this.last };
    const stamps = this.atomically(
      () => {
        this.ids.persist();
        this.beforeApply();
        const out: Stamp[] = [];
        for (const op of ops) {
          const stamp: Stamp = { hlc: this.clock.now(), pod: this.pod, seq: this.seq + 1n };
          const body = encodeOp(op);
          this.st('insert').run(stamp.hlc, stamp.pod, stamp.seq, body, null);
          this.applyAt(stamp, op, changes);
          this.seq = stamp.seq;
          this.st('setOrigin').run(this.pod, this.seq);
          this.setLast(stamp);
          out.push(stamp);
          wire.push({ ...stamp, body });
        }
        return out;
      },
      () => {
        // Rolled back: the sequence must not skip the numbers this attempt took.
        this.seq = before.seq;
        this.last = before.last;
      },
    );
    this.onChanged(changes, false);
    this.onLocal(wire);
    return stamps;
  }

  /**
   * Applies operations from other pods (any order, duplicates ignored) at
   * their place in the stamp order. Returns how many were new.
   */
  receive(ops: WireOp[]): number {
    return this.integrate(ops, false);
  }

  /** receive(), where `own` also takes this pod's own operations (back from a snapshot install). */
  private integrate(ops: WireOp[], own: boolean): number {
    const sorted = [...ops].sort(compareStamps);
    const changes: Changes = { entries: [], inodes: new Set() };
    let fresh = 0;
    const before = this.last;
    this.atomically(
      () => {
        this.beforeApply();
        for (const w of sorted) {
          if ((w.pod === this.pod && !own) || w.seq <= this.originSeq(w.pod) || this.st('has').get(w.hlc, w.pod))
            continue;
          this.clock.observe(w.hlc);
          const op = decodeOp(w.body);
          if (compareStamps(w, this.last) > 0) {
            this.st('insert').run(w.hlc, w.pod, w.seq, w.body, null);
            this.applyAt(w, op, changes);
            this.setLast(w);
          } else {
            this.late(w, op, changes);
          }
          this.advanceOrigin(w.pod);
          fresh++;
        }
      },
      () => {
        this.last = before;
      },
    );
    if (fresh > 0) this.onChanged(changes, true);
    return fresh;
  }

  /** An operation older than some already applied: undo those, apply it, redo them. */
  private late(w: WireOp, op: TreeOp, changes: Changes): void {
    const newer = this.st('newer').all(w.hlc, w.hlc, w.pod) as Array<{
      hlc: bigint;
      pod: bigint;
      seq: bigint;
      body: Buffer;
      undo: Buffer | null;
    }>;
    for (let i = newer.length - 1; i >= 0; i--) {
      const r = newer[i] as (typeof newer)[number];
      const images = r.undo ? (undoPackr.unpack(r.undo) as RowImage[]) : [];
      this.meta.restore(images);
      for (const im of images) if (im.t === 'inode') changes.inodes.add(im.key);
    }
    this.st('insert').run(w.hlc, w.pod, w.seq, w.body, null);
    this.applyAt(w, op, changes);
    for (const r of newer) {
      this.applyAt({ hlc: r.hlc, pod: Number(r.pod), seq: r.seq }, decodeOp(r.body), changes);
    }
  }

  /** The version vector moves on over every sequence number now known without a gap. */
  private advanceOrigin(pod: number): void {
    let seq = this.originSeq(pod);
    while (this.st('hasSeq').get(pod, seq + 1n)) seq++;
    this.st('setOrigin').run(pod, seq);
  }

  /** For each pod, the last operation of its sequence this pod has without a gap. */
  versionVector(): VersionVector {
    const vv: VersionVector = new Map();
    for (const r of this.st('origins').all() as Array<{ pod: bigint; seq: bigint }>) vv.set(Number(r.pod), r.seq);
    return vv;
  }

  /** Logged operations another pod lacks (those past its version vector), in stamp order. */
  opsAfter(vv: VersionVector, limit = Number.POSITIVE_INFINITY): WireOp[] {
    // Start at the oldest operation the other pod lacks, not at the start of the log.
    let start: bigint | undefined;
    for (const [pod, seq] of this.versionVector()) {
      if (seq <= (vv.get(pod) ?? 0n)) continue;
      const r = this.st('from').get(pod, (vv.get(pod) ?? 0n) + 1n) as { hlc: bigint } | undefined;
      const lo = r?.hlc ?? 0n;
      if (start === undefined || lo < start) start = lo;
    }
    // Nothing is missing up to this pod's version vector (operations past a gap come from their origin).
    if (start === undefined) return [];
    const out: WireOp[] = [];
    for (const r of this.st('since').iterate(start) as Iterable<{
      hlc: bigint;
      pod: bigint;
      seq: bigint;
      body: Buffer;
    }>) {
      const pod = Number(r.pod);
      if (r.seq <= (vv.get(pod) ?? 0n)) continue;
      if (out.length >= limit) {
        // One more than asked: the caller learns there is more.
        out.push({ hlc: r.hlc, pod, seq: r.seq, body: r.body });
        break;
      }
      out.push({ hlc: r.hlc, pod, seq: r.seq, body: r.body });
    }
    return out;
  }

  /**
   * For each origin pod, the last of its operations this pod no longer has
   * in its log (compacted away): a pod lacking any of them needs a snapshot.
   */
  horizon(): VersionVector {
    const lowest = new Map<number, bigint>();
    for (const r of this.st('lowest').all() as Array<{ pod: bigint; seq: bigint }>) lowest.set(Number(r.pod), r.seq);
    const h: VersionVector = new Map();
    for (const [pod, seq] of this.versionVector()) {
      const lo = lowest.get(pod);
      h.set(pod, lo === undefined ? seq : lo - 1n < seq ? lo - 1n : seq);
    }
    return h;
  }

  /** Whether a pod at `vv` lacks operations this pod has compacted away: it cannot catch up from the log. */
  needsSnapshot(vv: VersionVector): boolean {
    for (const [pod, seq] of this.horizon()) if (seq > (vv.get(pod) ?? 0n)) return true;
    return false;
  }

  /** The replicated tree as it is now, with its log and version vector, encoded for another pod. */
  snapshot(): Buffer {
    return undoPackr.pack({ v: 1, last: this.last, tables: dumpTables(this.meta.db, REPLICATED) });
  }

  /**
   * Replaces this pod's tree by another pod's snapshot (this pod was away
   * past the horizon, or is new). This pod's own operations the snapshot
   * lacks are then applied again at their stamps, like late arrivals, so no
   * local change is lost and this pod's sequence has no gap. `watched`: the
   * directories the kernel knows, whose names are reported changed.
   * Throws SnapshotError on a malformed snapshot, leaving the tree as it was.
   */
  installSnapshot(buf: Buffer, watched: Id[]): { changes: Changes; replayed: number } {
    let snap: { v?: unknown; last?: Stamp; tables?: unknown };
    try {
      snap = undoPackr.unpack(buf) as typeof snap;
    } catch (err) {
      throw new SnapshotError(`snapshot: undecodable (${(err as Error).message})`);
    }
    const last = snap?.last;
    if (
      snap?.v !== 1 ||
      !last ||
      typeof last.hlc !== 'bigint' ||
      typeof last.seq !== 'bigint' ||
      typeof last.pod !== 'number'
    )
      throw new SnapshotError('snapshot: unknown format');
    const db = this.meta.db;
    checkDump(db, snap.tables, REPLICATED);
    const tables = snap.tables;
    const origins = tables.origins as TableDump;
    const podCol = origins.columns.indexOf('pod');
    const seqCol = origins.columns.indexOf('seq');
    const originsAt = (pod: number): bigint => {
      const row = origins.rows.find((r) => Number(r[podCol]) === pod);
      const seq = row?.[seqCol];
      return typeof seq === 'bigint' ? seq : typeof seq === 'number' ? BigInt(seq) : 0n;
    };
    const changes: Changes = { entries: [], inodes: new Set(watched), net: true };
    const names = () => {
      for (const dir of watched) {
        let after = 0n;
        for (;;) {
          const page = this.meta.list(dir, after, 1000);
          for (const e of page) changes.entries.push({ parent: dir, name: e.name });
          if (page.length < 1000) break;
          after = (page[page.length - 1] as { id: Id }).id;
        }
      }
    };
    const held = new Map<string, Buffer>();
    let own: WireOp[] = [];
    const before = { last: this.last, seq: this.seq };
    this.atomically(
      () => {
        const theirs = originsAt(this.pod);
        own = (
          this.st('ownAbove').all(this.pod, theirs) as Array<{ hlc: bigint; pod: bigint; seq: bigint; body: Buffer }>
        ).map((r) => ({ hlc: r.hlc, pod: Number(r.pod), seq: r.seq, body: r.body }));
        names();
        for (const r of this.st('hashes').all() as Array<{ hash: Buffer }>) held.set(r.hash.toString('hex'), r.hash);
        loadTables(db, tables, REPLICATED);
        this.meta.forgetCache();
        this.setLast(last);
        this.seq = theirs;
        names();
      },
      () => {
        this.last = before.last;
        this.seq = before.seq;
        this.meta.forgetCache();
      },
    );
    this.clock.observe(last.hlc);
    const freed = [...held.values()].filter((h) => !this.meta.isHashUsed(h));
    if (freed.length) this.onFreed(freed);
    this.onChanged(changes, true);
    const replayed = own.length ? this.integrate(own, true) : 0;
    this.seq = this.originSeq(this.pod) > this.seq ? this.originSeq(this.pod) : this.seq;
    return { changes, replayed };
  }

  /**
   * Below this timestamp, this pod will create no new operation, and every
   * one it created has reached the pods whose version vectors are given.
   */
  floor(peerVectors: VersionVector[]): Timestamp {
    let now = this.clock.now();
    let delivered = this.seq;
    for (const vv of peerVectors) {
      const s = vv.get(this.pod) ?? 0n;
      if (s < delivered) delivered = s;
    }
    if (delivered < this.seq) {
      const r = this.st('ownAfter').get(this.pod, delivered) as { hlc: bigint } | undefined;
      if (r && r.hlc < now) now = r.hlc;
    }
    return now;
  }

  /**
   * Forgets operations older than `stable` (every pod has them, none will
   * come older: they will never be undone), and collects what was deleted
   * before `collect`: entries deleted then, inodes no entry names that
   * nothing uses (`inUse`), versions no file shows. `collect` must be a
   * bound below which no operation concurrent with a deletion can still
   * arrive (TreeSync.collectBound), which is stricter than `stable`.
   */
  compact(stable: Timestamp, collect: Timestamp, inUse: (ino: Id) => boolean = () => false): number {
    const freed: Buffer[] = [];
    const trimmed = this.atomically(() => {
      const n = this.st('trim').run(stable).changes;
      for (const e of this.meta.trashedBefore(collect)) this.meta.deleteEntry(e.id);
      for (const ino of this.meta.unlinkedInodes()) {
        if (inUse(ino)) continue;
        for (const v of this.meta.versionsOf(ino)) freed.push(...this.meta.deleteVersion(v));
        this.meta.deleteInode(ino);
      }
      for (const v of this.meta.staleVersions(collect)) freed.push(...this.meta.deleteVersion(v));
      return n;
    });
    if (freed.length) this.onFreed(freed);
    return trimmed;
  }

  /**
   * Collects one inode now if it can go: its deletion is older than
   * `stable` and nothing uses it. (compact() does this for all, later.)
   */
  collectInode(ino: Id, stable: Timestamp, inUse: (ino: Id) => boolean): void {
    if (ino === ROOT_INO || inUse(ino)) return;
    const entries = this.meta.entriesOf(ino);
    if (entries.some((e) => e.parent !== TRASH_INO || (e.hlc ?? 0n) >= stable)) return;
    const freed: Buffer[] = [];
    this.atomically(() => {
      for (const e of entries) this.meta.deleteEntry(e.id);
      for (const v of this.meta.versionsOf(ino)) freed.push(...this.meta.deleteVersion(v));
      this.meta.deleteInode(ino);
    });
    if (freed.length) this.onFreed(freed);
  }

  /** Collects a version its file no longer shows, once the version that replaced it is older than `collect`. */
  collectVersion(version: Id | null, collect: Timestamp): void {
    if (version === null) return;
    const v = this.meta.getVersion(version);
    if (!v || this.meta.shownBy(version)) return;
    const current = this.meta.currentStamp(v.ino);
    if (current !== null && current >= collect) return;
    const freed = this.atomically(() => this.meta.deleteVersion(version));
    if (freed.length) this.onFreed(freed);
  }

  /** Commits every change made so far (a durability point). */
  commitNow(): void {
    this.committer?.flush();
  }

  logSize(): number {
    return Number((this.st('count').get() as { n: bigint }).n);
  }

  /** This pod's time for new operations' file times. */
  static now(): bigint {
    return nowNs();
  }
}
