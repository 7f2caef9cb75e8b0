/** The metadata database schema. Bump SCHEMA_VERSION with every change and add its migration. */
export const SCHEMA_VERSION = 2;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value ANY
) STRICT;

-- One row per inode: attributes, symlink target, and the current content version.
CREATE TABLE IF NOT EXISTS inodes (
  ino INTEGER PRIMARY KEY,
  mode INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  nlink INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0,
  atime INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  ctime INTEGER NOT NULL,
  btime INTEGER NOT NULL,
  rdev INTEGER NOT NULL DEFAULT 0,
  target BLOB,
  content INTEGER,
  used INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS inodes_by_content ON inodes(content) WHERE content IS NOT NULL;

-- Directory entries: the nodes of the replicated tree. Hard links are several entries of one inode.
-- A deleted entry moves under the trash (parent 2) and remembers where it was (prev_*), so that a
-- concurrent edit can bring it back. pod/hlc: the operation that placed it (conflict names, collection).
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY,
  parent INTEGER NOT NULL,
  name BLOB NOT NULL,
  ino INTEGER NOT NULL,
  prev_parent INTEGER,
  prev_name BLOB,
  pod INTEGER NOT NULL DEFAULT 0,
  hlc INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS entries_by_name ON entries(parent, name);
CREATE INDEX IF NOT EXISTS entries_by_ino ON entries(ino);

CREATE TABLE IF NOT EXISTS xattrs (
  ino INTEGER NOT NULL,
  name BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ino, name)
) STRICT, WITHOUT ROWID;

-- Content versions: each names the version it was based on.
CREATE TABLE IF NOT EXISTS versions (
  id INTEGER PRIMARY KEY,
  ino INTEGER NOT NULL,
  base INTEGER,
  size INTEGER NOT NULL,
  created INTEGER NOT NULL,
  pod INTEGER NOT NULL DEFAULT 0,
  hlc INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS versions_by_ino ON versions(ino);

-- A version's bytes, in order: a chunk (hash) or a hole of zeros (hash NULL).
CREATE TABLE IF NOT EXISTS extents (
  version INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  hash BLOB,
  PRIMARY KEY (version, offset)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS extents_by_hash ON extents(hash) WHERE hash IS NOT NULL;

-- Chunks this pod holds: small ones in chunk_data, the others appended to pack files.
CREATE TABLE IF NOT EXISTS chunks (
  hash BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  pack INTEGER,
  offset INTEGER,
  stored INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunks_by_pack ON chunks(pack) WHERE pack IS NOT NULL;

CREATE TABLE IF NOT EXISTS chunk_data (
  hash BLOB PRIMARY KEY,
  data BLOB NOT NULL
) STRICT;

-- Pack files: bytes appended (end) and bytes still referenced by a chunk (live).
CREATE TABLE IF NOT EXISTS packs (
  id INTEGER PRIMARY KEY,
  end INTEGER NOT NULL,
  live INTEGER NOT NULL
) STRICT;

-- The operation log of the replicated tree, in timestamp order: each operation with the row images
-- that undo its effect (a late operation undoes the newer ones, applies, and redoes them).
CREATE TABLE IF NOT EXISTS oplog (
  hlc INTEGER NOT NULL,
  pod INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  body BLOB NOT NULL,
  undo BLOB,
  PRIMARY KEY (hlc, pod)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS oplog_by_origin ON oplog(pod, seq);

-- Version vector: per origin pod, the highest sequence number received without a gap.
CREATE TABLE IF NOT EXISTS origins (
  pod INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL
) STRICT;

-- Replicated network state (members, network configuration), last writer wins in timestamp order.
CREATE TABLE IF NOT EXISTS netstate (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL
) STRICT;
`;
