import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROOT_INO } from '../core/ids.js';
import { NAME_MAX, SYMLINK_MAX } from './core.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from './rename.js';
import { b, createFs, type FsHarness, readAll, USER } from './testing.js';
import {
  ROOT_CALLER,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  S_ISGID,
  S_ISUID,
} from './types.js';

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** Creates a regular file holding `content`, committed and closed. */
async function mkfile(h: FsHarness, parent: bigint, name: string, content = ''): Promise<bigint> {
  const { attrs, fh } = await h.fs.create(USER, parent, b(name), 0o644, O_WRONLY);
  if (content) await h.fs.write(fh, 0, b(content));
  await h.fs.flush(fh);
  await h.fs.release(fh);
  return attrs.ino;
}

async function contentOf(h: FsHarness, ino: bigint): Promise<string> {
  const fh = await h.fs.open(ino, O_RDONLY);
  try {
    return (await readAll(h.fs, fh, 0, 1 << 20)).toString();
  } finally {
    await h.fs.release(fh);
  }
}

/** Every name of a directory, read in pages of `limit`. */
function listNames(h: FsHarness, dir: bigint, limit = 100): string[] {
  const out: string[] = [];
  let cookie = 0n;
  for (;;) {
    const page = h.fs.readdir(dir, cookie, limit);
    if (page.length === 0) return out;
    for (const e of page) {
      out.push(e.name.toString());
      cookie = e.cookie;
    }
  }
}

const long = (n: number) => 'x'.repeat(n);

describe('lookup, mkdir, rmdir', () => {
  test('mkdir makes a directory owned by the caller and links it into its parent', (t) => {
    const h = createFs(t);
    const root0 = h.fs.getattr(ROOT_INO);
    assert.equal(root0.mode & S_IFMT, S_IFDIR);
    assert.equal(root0.nlink, 2);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o750);
    assert.equal(d.mode, S_IFDIR | 0o750);
    assert.equal(d.uid, USER.uid);
    assert.equal(d.gid, USER.gid);
    assert.equal(d.nlink, 2);
    assert.equal(d.size, 0);
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 3);
    assert.deepEqual(h.fs.lookup(ROOT_INO, b('d')), h.fs.getattr(d.ino));
    h.fs.mkdir(USER, d.ino, b('e'), 0o755);
    assert.equal(h.fs.getattr(d.ino).nlink, 3);
  });

  test('lookup and mkdir report ENOENT, EEXIST, ENOTDIR', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    assert.throws(() => h.fs.lookup(ROOT_INO, b('nope')), { code: 'ENOENT', name: 'NotFoundError' });
    assert.throws(() => h.fs.getattr(123456789n), { code: 'ENOENT' });
    assert.throws(() => h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755), { code: 'EEXIST', name: 'ExistsError' });
    assert.throws(() => h.fs.mkdir(USER, ROOT_INO, b('f'), 0o755), { code: 'EEXIST' });
    assert.throws(() => h.fs.lookup(f, b('x')), { code: 'ENOTDIR', name: 'NotDirectoryError' });
    assert.throws(() => h.fs.mkdir(USER, f, b('x'), 0o755), { code: 'ENOTDIR' });
    assert.throws(() => h.fs.mkdir(USER, 987654321n, b('x'), 0o755), { code: 'ENOENT' });
  });

  test('names must be non-empty, without "/" or NUL, at most 255 bytes', async (t) => {
    const h = createFs(t);
    for (const bad of ['', 'a/b', 'a\0b']) {
      assert.throws(() => h.fs.mkdir(USER, ROOT_INO, b(bad), 0o755), { code: 'EINVAL' }, JSON.stringify(bad));
    }
    const ok = long(NAME_MAX);
    h.fs.mkdir(USER, ROOT_INO, b(ok), 0o755);
    assert.equal(h.fs.lookup(ROOT_INO, b(ok)).mode & S_IFMT, S_IFDIR);
    // 255 bytes of UTF-8 is fewer characters; the limit is on bytes
    assert.throws(() => h.fs.mkdir(USER, ROOT_INO, b('é'.repeat(128)), 0o755), { code: 'ENAMETOOLONG' });

    const tooLong = b(long(NAME_MAX + 1));
    const f = await mkfile(h, ROOT_INO, 'f');
    const e = { code: 'ENAMETOOLONG', name: 'NameTooLongError' };
    assert.throws(() => h.fs.lookup(ROOT_INO, tooLong), e);
    assert.throws(() => h.fs.mkdir(USER, ROOT_INO, tooLong, 0o755), e);
    await assert.rejects(h.fs.create(USER, ROOT_INO, tooLong, 0o644, O_WRONLY), e);
    assert.throws(() => h.fs.mknod(USER, ROOT_INO, tooLong, S_IFIFO | 0o644, 0), e);
    assert.throws(() => h.fs.symlink(USER, ROOT_INO, tooLong, b('t')), e);
    assert.throws(() => h.fs.link(f, ROOT_INO, tooLong), e);
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), ROOT_INO, tooLong), e);
    assert.throws(() => h.fs.unlink(ROOT_INO, tooLong), e);
    assert.throws(() => h.fs.rmdir(ROOT_INO, tooLong), e);
  });

  test('rmdir removes an empty directory and its inode', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    h.fs.mkdir(USER, d.ino, b('sub'), 0o755);
    await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.rmdir(ROOT_INO, b('d')), { code: 'ENOTEMPTY', name: 'NotEmptyError' });
    assert.throws(() => h.fs.rmdir(ROOT_INO, b('f')), { code: 'ENOTDIR' });
    assert.throws(() => h.fs.rmdir(ROOT_INO, b('nope')), { code: 'ENOENT' });
    h.fs.rmdir(d.ino, b('sub'));
    assert.equal(h.fs.getattr(d.ino).nlink, 2);
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 3);
    h.fs.rmdir(ROOT_INO, b('d'));
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 2);
    assert.throws(() => h.fs.lookup(ROOT_INO, b('d')), { code: 'ENOENT' });
    assert.throws(() => h.fs.getattr(d.ino), { code: 'ENOENT' });
  });

  test('a removed directory the kernel still holds accepts no new entries', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    h.fs.pin(d.ino);
    h.fs.rmdir(ROOT_INO, b('d'));
    assert.equal(h.fs.getattr(d.ino).nlink, 0);
    assert.deepEqual(
      h.fs.readdir(d.ino, 2n, 10).map((e) => e.name.toString()),
      [],
    );
    // else the new entries would be unreachable, and leak when the directory goes
    const f = await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.mkdir(USER, d.ino, b('x'), 0o755), { code: 'ENOENT' });
    await assert.rejects(h.fs.create(USER, d.ino, b('y'), 0o644, O_WRONLY), { code: 'ENOENT' });
    assert.throws(() => h.fs.mknod(USER, d.ino, b('n'), S_IFIFO | 0o644, 0), { code: 'ENOENT' });
    assert.throws(() => h.fs.symlink(USER, d.ino, b('l'), b('t')), { code: 'ENOENT' });
    assert.throws(() => h.fs.link(f, d.ino, b('h')), { code: 'ENOENT' });
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), d.ino, b('f')), { code: 'ENOENT' });
    assert.equal(h.fs.lookup(ROOT_INO, b('f')).nlink, 1);
    h.fs.unpin(d.ino);
    assert.throws(() => h.fs.getattr(d.ino), { code: 'ENOENT' });
  });

  test('directories persist across a reopen', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('kept'), 0o700);
    await h.reopen();
    assert.deepEqual(h.fs.lookup(ROOT_INO, b('kept')), d);
  });
});

describe('readdir', () => {
  test('lists "." and ".." first, then every entry with its type', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    const f = await mkfile(h, d.ino, 'file');
    const s = h.fs.mkdir(USER, d.ino, b('sub'), 0o755);
    const l = h.fs.symlink(USER, d.ino, b('link'), b('file'));
    const all = h.fs.readdir(d.ino, 0n, 100);
    assert.deepEqual(
      all.map((e) => [e.name.toString(), e.ino, e.mode & S_IFMT]),
      [
        ['.', d.ino, S_IFDIR],
        ['..', ROOT_INO, S_IFDIR],
        ['file', f, S_IFREG],
        ['sub', s.ino, S_IFDIR],
        ['link', l.ino, S_IFLNK],
      ],
    );
    assert.deepEqual(
      all.slice(0, 2).map((e) => e.cookie),
      [1n, 2n],
    );
    assert.equal(new Set(all.map((e) => e.cookie)).size, all.length, 'cookies are distinct');
    const root = h.fs.readdir(ROOT_INO, 0n, 100);
    assert.deepEqual(
      root.slice(0, 2).map((e) => [e.name.toString(), e.ino]),
      [
        ['.', ROOT_INO],
        ['..', ROOT_INO],
      ],
    );
    // ".." follows the directory when it moves
    h.fs.rename(d.ino, b('sub'), ROOT_INO, b('moved'));
    assert.equal(h.fs.readdir(s.ino, 1n, 10)[0]?.ino, ROOT_INO);
    assert.deepEqual(h.fs.readdir(s.ino, 2n, 10), []);
  });

  test('resuming at each cookie continues right after that entry', (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    for (let i = 0; i < 20; i++) h.fs.mknod(USER, d.ino, b(`f${i}`), S_IFREG | 0o644, 0);
    const all = h.fs.readdir(d.ino, 0n, 1000);
    assert.equal(all.length, 22);
    for (let i = 0; i < all.length; i++) {
      const rest = h.fs.readdir(d.ino, all[i]!.cookie, 1000);
      assert.deepEqual(
        rest.map((e) => e.name.toString()),
        all.slice(i + 1).map((e) => e.name.toString()),
      );
    }
    assert.deepEqual(listNames(h, d.ino, 1), listNames(h, d.ino, 1000));
  });

  test('a listing paged while entries come and go shows each entry at most once', (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    const initial: string[] = [];
    for (let i = 0; i < 60; i++) {
      initial.push(`a${i}`);
      h.fs.mknod(USER, d.ino, b(`a${i}`), S_IFREG | 0o644, 0);
    }
    const seen: string[] = [];
    const removedUnseen = new Set<string>();
    const created: string[] = [];
    let cookie = 0n;
    let round = 0;
    for (;;) {
      const page = h.fs.readdir(d.ino, cookie, 5);
      if (page.length === 0) break;
      for (const e of page) {
        seen.push(e.name.toString());
        cookie = e.cookie;
      }
      // remove one entry already listed and one not yet listed, and add one
      const present = listNames(h, d.ino).slice(2);
      const listed = present.find((n) => seen.includes(n));
      const unlisted = present.filter((n) => !seen.includes(n)).pop();
      if (listed) h.fs.unlink(d.ino, b(listed));
      if (unlisted) {
        h.fs.unlink(d.ino, b(unlisted));
        removedUnseen.add(unlisted);
      }
      if (round < 8) {
        const name = `new${round}`;
        h.fs.mknod(USER, d.ino, b(name), S_IFREG | 0o644, 0);
        created.push(name);
      }
      round++;
    }
    assert.deepEqual(seen.slice(0, 2), ['.', '..']);
    assert.equal(new Set(seen).size, seen.length, `no entry twice: ${seen.join(' ')}`);
    for (const n of removedUnseen) assert.ok(!seen.includes(n), `${n} was removed before being reached`);
    for (const n of initial) {
      if (!removedUnseen.has(n)) assert.ok(seen.includes(n), `${n} existed throughout and must be listed`);
    }
    for (const n of created) {
      if (!removedUnseen.has(n)) assert.ok(seen.includes(n), `${n} was created during the listing (after the cookie)`);
    }
  });

  test('readdir and opendir of a non-directory fail with ENOTDIR', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.readdir(f, 0n, 10), { code: 'ENOTDIR' });
    assert.throws(() => h.fs.opendir(f), { code: 'ENOTDIR' });
    const fh = h.fs.opendir(ROOT_INO);
    await assert.rejects(h.fs.read(fh, 0, 10), { code: 'EBADF' });
    h.fs.releasedir(fh);
  });
});

describe('mknod', () => {
  test('makes regular files, FIFOs, sockets and device nodes, keeping rdev', async (t) => {
    const h = createFs(t);
    const rdev = (8 << 8) | 1;
    const cases: Array<[string, number, number, number]> = [
      ['plain', 0o644, 0, S_IFREG],
      ['reg', S_IFREG | 0o600, 0, S_IFREG],
      ['fifo', S_IFIFO | 0o640, 0, S_IFIFO],
      ['sock', S_IFSOCK | 0o755, 0, S_IFSOCK],
      ['chr', S_IFCHR | 0o660, rdev, S_IFCHR],
      ['blk', S_IFBLK | 0o660, rdev + 1, S_IFBLK],
    ];
    for (const [name, mode, dev, type] of cases) {
      const a = h.fs.mknod(USER, ROOT_INO, b(name), mode, dev);
      assert.equal(a.mode & S_IFMT, type, name);
      assert.equal(a.mode & 0o7777, mode & 0o7777, name);
      assert.equal(a.rdev, dev, name);
      assert.equal(a.nlink, 1, name);
      assert.equal(a.uid, USER.uid);
    }
    await h.reopen();
    assert.equal(h.fs.lookup(ROOT_INO, b('chr')).rdev, rdev);
    assert.equal(h.fs.lookup(ROOT_INO, b('blk')).mode & S_IFMT, S_IFBLK);
    assert.equal(h.fs.lookup(ROOT_INO, b('fifo')).mode, S_IFIFO | 0o640);
  });

  test('refuses directories, symlinks and existing names', (t) => {
    const h = createFs(t);
    assert.throws(() => h.fs.mknod(USER, ROOT_INO, b('d'), S_IFDIR | 0o755, 0), { code: 'EINVAL' });
    assert.throws(() => h.fs.mknod(USER, ROOT_INO, b('l'), S_IFLNK | 0o777, 0), { code: 'EINVAL' });
    h.fs.mknod(USER, ROOT_INO, b('x'), S_IFIFO | 0o644, 0);
    assert.throws(() => h.fs.mknod(USER, ROOT_INO, b('x'), S_IFIFO | 0o644, 0), { code: 'EEXIST' });
  });
});

describe('symlink and readlink', () => {
  test('stores the target bytes as given', async (t) => {
    const h = createFs(t);
    const target = Buffer.from([0x2e, 0x2e, 0x2f, 0xff, 0xfe, 0x41]);
    const l = h.fs.symlink(USER, ROOT_INO, b('l'), target);
    assert.equal(l.mode, S_IFLNK | 0o777);
    assert.equal(l.size, target.length);
    assert.equal(l.uid, USER.uid);
    assert.deepEqual(h.fs.readlink(l.ino), target);
    await h.reopen();
    assert.deepEqual(h.fs.readlink(h.fs.lookup(ROOT_INO, b('l')).ino), target);
  });

  test(`a target is at most ${SYMLINK_MAX} bytes`, (t) => {
    const h = createFs(t);
    const ok = h.fs.symlink(USER, ROOT_INO, b('ok'), b(long(SYMLINK_MAX)));
    assert.equal(h.fs.readlink(ok.ino).length, SYMLINK_MAX);
    assert.throws(() => h.fs.symlink(USER, ROOT_INO, b('bad'), b(long(SYMLINK_MAX + 1))), {
      code: 'ENAMETOOLONG',
    });
    assert.throws(() => h.fs.lookup(ROOT_INO, b('bad')), { code: 'ENOENT' });
  });

  test('readlink of a non-symlink is EINVAL; an existing name is EEXIST', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.readlink(f), { code: 'EINVAL' });
    assert.throws(() => h.fs.readlink(ROOT_INO), { code: 'EINVAL' });
    assert.throws(() => h.fs.symlink(USER, ROOT_INO, b('f'), b('x')), { code: 'EEXIST' });
  });
});

describe('link', () => {
  test('hard links share one inode and count in nlink', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    const f = await mkfile(h, ROOT_INO, 'f', 'shared');
    const a = h.fs.link(f, d.ino, b('g'));
    assert.equal(a.ino, f);
    assert.equal(a.nlink, 2);
    h.fs.link(f, ROOT_INO, b('h'));
    assert.equal(h.fs.getattr(f).nlink, 3);
    assert.equal(h.fs.lookup(d.ino, b('g')).ino, f);
    assert.equal(await contentOf(h, h.fs.lookup(ROOT_INO, b('h')).ino), 'shared');
    // directory nlink counts subdirectories only
    assert.equal(h.fs.getattr(d.ino).nlink, 2);
    h.fs.unlink(ROOT_INO, b('f'));
    h.fs.unlink(d.ino, b('g'));
    assert.equal(h.fs.getattr(f).nlink, 1);
    assert.equal(await contentOf(h, f), 'shared');
    await h.reopen();
    assert.equal(h.fs.lookup(ROOT_INO, b('h')).nlink, 1);
  });

  test('directories cannot be linked (EPERM); names must be free; the parent a directory', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    const f = await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.link(d.ino, ROOT_INO, b('d2')), { code: 'EPERM', name: 'NotPermittedError' });
    assert.throws(() => h.fs.link(f, ROOT_INO, b('d')), { code: 'EEXIST' });
    assert.throws(() => h.fs.link(f, f, b('x')), { code: 'ENOTDIR' });
    assert.throws(() => h.fs.link(424242n, ROOT_INO, b('x')), { code: 'ENOENT' });
    assert.equal(h.fs.getattr(f).nlink, 1);
  });

  test('symlinks and device nodes can be linked', (t) => {
    const h = createFs(t);
    const l = h.fs.symlink(USER, ROOT_INO, b('l'), b('t'));
    const c = h.fs.mknod(USER, ROOT_INO, b('c'), S_IFCHR | 0o600, 0x0103);
    assert.equal(h.fs.link(l.ino, ROOT_INO, b('l2')).nlink, 2);
    assert.equal(h.fs.link(c.ino, ROOT_INO, b('c2')).rdev, 0x0103);
  });
});

describe('unlink', () => {
  test('removes the name; the inode goes with its last link', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'x');
    h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    assert.throws(() => h.fs.unlink(ROOT_INO, b('d')), { code: 'EISDIR', name: 'IsDirectoryError' });
    assert.throws(() => h.fs.unlink(ROOT_INO, b('nope')), { code: 'ENOENT' });
    assert.throws(() => h.fs.unlink(f, b('x')), { code: 'ENOTDIR' });
    h.fs.unlink(ROOT_INO, b('f'));
    assert.throws(() => h.fs.lookup(ROOT_INO, b('f')), { code: 'ENOENT' });
    assert.throws(() => h.fs.getattr(f), { code: 'ENOENT' });
    assert.throws(() => h.fs.unlink(ROOT_INO, b('f')), { code: 'ENOENT' });
  });

  test('an open file stays readable and writable after unlink until released, then is purged with its chunks', async (t) => {
    const h = createFs(t);
    const data = Buffer.alloc(300 * 1024, 7);
    const { attrs, fh } = await h.fs.create(USER, ROOT_INO, b('f'), 0o644, O_RDWR);
    await h.fs.write(fh, 0, data);
    await h.fs.flush(fh);
    const hashes = h.extents(attrs.ino).flatMap((e) => (e.hash ? [e.hash] : []));
    assert.ok(hashes.length > 0);
    h.fs.pin(attrs.ino); // as the kernel does for a looked-up inode
    h.fs.unlink(ROOT_INO, b('f'));
    assert.throws(() => h.fs.lookup(ROOT_INO, b('f')), { code: 'ENOENT' });
    assert.equal(h.fs.getattr(attrs.ino).nlink, 0);
    assert.deepEqual(await readAll(h.fs, fh, 0, data.length), data);
    await h.fs.write(fh, 0, b('after'));
    await h.fs.flush(fh);
    assert.equal((await readAll(h.fs, fh, 0, 5)).toString(), 'after');
    await h.fs.release(fh);
    // still referenced by the kernel
    assert.equal(h.fs.getattr(attrs.ino).nlink, 0);
    h.fs.unpin(attrs.ino);
    assert.throws(() => h.fs.getattr(attrs.ino), { code: 'ENOENT' });
    for (const hash of hashes) assert.ok(!h.chunks.has(hash));
    assert.deepEqual(h.storedChunks(), new Set(), 'every chunk of the purged file is gone');
  });

  test('pins nest: the inode stays until the last unpin', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'pinned');
    h.fs.pin(f);
    h.fs.pin(f);
    h.fs.unlink(ROOT_INO, b('f'));
    h.fs.unpin(f);
    assert.equal(h.fs.getattr(f).nlink, 0);
    const fh = await h.fs.open(f, O_RDONLY);
    assert.equal((await readAll(h.fs, fh, 0, 100)).toString(), 'pinned');
    h.fs.unpin(f);
    assert.equal(h.fs.getattr(f).nlink, 0, 'an open handle keeps it too');
    await h.fs.release(fh);
    assert.throws(() => h.fs.getattr(f), { code: 'ENOENT' });
  });

  test('an inode left unlinked by a crash is purged at the next start', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'orphan');
    h.fs.pin(f);
    h.fs.unlink(ROOT_INO, b('f'));
    h.fs.syncAll();
    await h.reopen({ crash: true });
    assert.throws(() => h.fs.getattr(f), { code: 'ENOENT' });
    assert.deepEqual(h.storedChunks(), new Set());
  });
});

describe('rename', () => {
  test('moves an entry, within and across directories, keeping the inode', async (t) => {
    const h = createFs(t);
    const a = h.fs.mkdir(USER, ROOT_INO, b('a'), 0o755);
    const c = h.fs.mkdir(USER, ROOT_INO, b('c'), 0o755);
    const f = await mkfile(h, a.ino, 'f', 'hello');
    h.fs.rename(a.ino, b('f'), a.ino, b('g'));
    assert.throws(() => h.fs.lookup(a.ino, b('f')), { code: 'ENOENT' });
    assert.equal(h.fs.lookup(a.ino, b('g')).ino, f);
    h.fs.rename(a.ino, b('g'), c.ino, b('h'));
    assert.equal(h.fs.lookup(c.ino, b('h')).ino, f);
    assert.equal(await contentOf(h, f), 'hello');
    // a directory moving changes both parents' link counts
    h.fs.rename(ROOT_INO, b('a'), c.ino, b('a'));
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 3);
    assert.equal(h.fs.getattr(c.ino).nlink, 3);
    assert.equal(h.fs.getattr(a.ino).nlink, 2);
    assert.deepEqual(listNames(h, c.ino).sort(), ['.', '..', 'a', 'h']);
  });

  test('replaces a file, whose inode goes unless still open', async (t) => {
    const h = createFs(t);
    const src = await mkfile(h, ROOT_INO, 'src', 'new');
    const dst = await mkfile(h, ROOT_INO, 'dst', 'old');
    const fh = await h.fs.open(dst, O_RDONLY);
    h.fs.rename(ROOT_INO, b('src'), ROOT_INO, b('dst'));
    assert.equal(h.fs.lookup(ROOT_INO, b('dst')).ino, src);
    assert.throws(() => h.fs.lookup(ROOT_INO, b('src')), { code: 'ENOENT' });
    assert.equal(h.fs.getattr(dst).nlink, 0);
    assert.equal((await readAll(h.fs, fh, 0, 10)).toString(), 'old');
    await h.fs.release(fh);
    assert.throws(() => h.fs.getattr(dst), { code: 'ENOENT' });
    assert.equal(await contentOf(h, src), 'new');
  });

  test('replaces an empty directory, never a non-empty one', (t) => {
    const h = createFs(t);
    const s = h.fs.mkdir(USER, ROOT_INO, b('s'), 0o755);
    const e = h.fs.mkdir(USER, ROOT_INO, b('e'), 0o755);
    const full = h.fs.mkdir(USER, ROOT_INO, b('full'), 0o755);
    h.fs.mknod(USER, full.ino, b('x'), S_IFREG | 0o644, 0);
    assert.throws(() => h.fs.rename(ROOT_INO, b('s'), ROOT_INO, b('full')), { code: 'ENOTEMPTY' });
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 5);
    h.fs.rename(ROOT_INO, b('s'), ROOT_INO, b('e'));
    assert.equal(h.fs.lookup(ROOT_INO, b('e')).ino, s.ino);
    assert.throws(() => h.fs.getattr(e.ino), { code: 'ENOENT' });
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 4);
  });

  test('replacing one link of a hard-linked file keeps the inode for its other link', async (t) => {
    const h = createFs(t);
    await mkfile(h, ROOT_INO, 'src', 'new');
    const dst = await mkfile(h, ROOT_INO, 'dst', 'old');
    h.fs.link(dst, ROOT_INO, b('other'));
    h.fs.rename(ROOT_INO, b('src'), ROOT_INO, b('dst'));
    assert.equal(h.fs.getattr(dst).nlink, 1);
    assert.equal(await contentOf(h, h.fs.lookup(ROOT_INO, b('other')).ino), 'old');
  });

  test('a directory replacing an empty one in another parent moves the link counts', (t) => {
    const h = createFs(t);
    const p = h.fs.mkdir(USER, ROOT_INO, b('p'), 0o755);
    const q = h.fs.mkdir(USER, ROOT_INO, b('q'), 0o755);
    const d = h.fs.mkdir(USER, p.ino, b('d'), 0o755);
    h.fs.mkdir(USER, q.ino, b('e'), 0o755);
    h.fs.rename(p.ino, b('d'), q.ino, b('e'));
    assert.equal(h.fs.getattr(p.ino).nlink, 2);
    assert.equal(h.fs.getattr(q.ino).nlink, 3);
    assert.equal(h.fs.lookup(q.ino, b('e')).ino, d.ino);
    assert.deepEqual(listNames(h, q.ino), ['.', '..', 'e']);
    // the target being an ancestor of the source: it is not empty
    assert.throws(() => h.fs.rename(q.ino, b('e'), ROOT_INO, b('q')), { code: 'ENOTEMPTY' });
  });

  test('file over directory is EISDIR, directory over file is ENOTDIR', async (t) => {
    const h = createFs(t);
    h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('d')), { code: 'EISDIR' });
    assert.throws(() => h.fs.rename(ROOT_INO, b('d'), ROOT_INO, b('f')), { code: 'ENOTDIR' });
    assert.throws(() => h.fs.rename(ROOT_INO, b('nope'), ROOT_INO, b('x')), { code: 'ENOENT' });
    const f = h.fs.lookup(ROOT_INO, b('f')).ino;
    assert.throws(() => h.fs.rename(ROOT_INO, b('d'), f, b('x')), { code: 'ENOTDIR' });
    assert.deepEqual(listNames(h, ROOT_INO), ['.', '..', 'd', 'f']);
  });

  test('a directory cannot move below itself (EINVAL)', (t) => {
    const h = createFs(t);
    const a = h.fs.mkdir(USER, ROOT_INO, b('a'), 0o755);
    const bb = h.fs.mkdir(USER, a.ino, b('b'), 0o755);
    const c = h.fs.mkdir(USER, bb.ino, b('c'), 0o755);
    assert.throws(() => h.fs.rename(ROOT_INO, b('a'), a.ino, b('x')), { code: 'EINVAL' });
    assert.throws(() => h.fs.rename(ROOT_INO, b('a'), c.ino, b('x')), { code: 'EINVAL' });
    assert.throws(() => h.fs.rename(ROOT_INO, b('a'), c.ino, b('x'), RENAME_NOREPLACE), { code: 'EINVAL' });
    // moving up is fine
    h.fs.rename(bb.ino, b('c'), ROOT_INO, b('c'));
    assert.equal(h.fs.lookup(ROOT_INO, b('c')).ino, c.ino);
  });

  test('RENAME_NOREPLACE refuses an existing target with EEXIST', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'f');
    const g = await mkfile(h, ROOT_INO, 'g', 'g');
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('g'), RENAME_NOREPLACE), {
      code: 'EEXIST',
    });
    assert.equal(h.fs.lookup(ROOT_INO, b('g')).ino, g);
    h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('h'), RENAME_NOREPLACE);
    assert.equal(h.fs.lookup(ROOT_INO, b('h')).ino, f);
    assert.throws(() => h.fs.rename(ROOT_INO, b('h'), ROOT_INO, b('x'), RENAME_NOREPLACE | RENAME_EXCHANGE), {
      code: 'EINVAL',
    });
    assert.throws(() => h.fs.rename(ROOT_INO, b('h'), ROOT_INO, b('x'), 4), { code: 'EINVAL' });
  });

  test('RENAME_NOREPLACE onto another link of the same inode is EEXIST too', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    h.fs.link(f, ROOT_INO, b('g'));
    // renameat2(2): "Don't overwrite newpath; return an error if newpath already exists."
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('g'), RENAME_NOREPLACE), { code: 'EEXIST' });
  });

  test('RENAME_EXCHANGE swaps two files', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'F');
    const g = await mkfile(h, ROOT_INO, 'g', 'G');
    h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('g'), RENAME_EXCHANGE);
    assert.equal(h.fs.lookup(ROOT_INO, b('f')).ino, g);
    assert.equal(h.fs.lookup(ROOT_INO, b('g')).ino, f);
    assert.equal(await contentOf(h, h.fs.lookup(ROOT_INO, b('g')).ino), 'F');
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('nope'), RENAME_EXCHANGE), {
      code: 'ENOENT',
    });
    assert.deepEqual(listNames(h, ROOT_INO).sort(), ['.', '..', 'f', 'g']);
  });

  test('RENAME_EXCHANGE swaps directories across parents, keeping link counts right', async (t) => {
    const h = createFs(t);
    const p = h.fs.mkdir(USER, ROOT_INO, b('p'), 0o755);
    const q = h.fs.mkdir(USER, ROOT_INO, b('q'), 0o755);
    const d1 = h.fs.mkdir(USER, p.ino, b('d1'), 0o755);
    h.fs.mkdir(USER, p.ino, b('d1b'), 0o755);
    const f = await mkfile(h, q.ino, 'f');
    // directory <-> file: p loses a subdirectory, q gains one
    h.fs.rename(p.ino, b('d1'), q.ino, b('f'), RENAME_EXCHANGE);
    assert.equal(h.fs.lookup(q.ino, b('f')).ino, d1.ino);
    assert.equal(h.fs.lookup(p.ino, b('d1')).ino, f);
    assert.equal(h.fs.getattr(p.ino).nlink, 3);
    assert.equal(h.fs.getattr(q.ino).nlink, 3);
    assert.equal(h.fs.readdir(d1.ino, 1n, 1)[0]?.ino, q.ino, '".." of the moved directory');
    // directory <-> directory: counts unchanged
    const d2 = h.fs.mkdir(USER, p.ino, b('d2'), 0o755);
    h.fs.rename(p.ino, b('d2'), q.ino, b('f'), RENAME_EXCHANGE);
    assert.equal(h.fs.lookup(p.ino, b('d2')).ino, d1.ino);
    assert.equal(h.fs.lookup(q.ino, b('f')).ino, d2.ino);
    assert.equal(h.fs.getattr(p.ino).nlink, 4);
    assert.equal(h.fs.getattr(q.ino).nlink, 3);
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 4);
    // a directory cannot be exchanged with something below itself
    const inner = h.fs.mkdir(USER, d1.ino, b('inner'), 0o755);
    assert.throws(() => h.fs.rename(p.ino, b('d2'), d1.ino, b('inner'), RENAME_EXCHANGE), { code: 'EINVAL' });
    assert.throws(() => h.fs.rename(d1.ino, b('inner'), p.ino, b('d2'), RENAME_EXCHANGE), { code: 'EINVAL' });
    assert.equal(h.fs.lookup(d1.ino, b('inner')).ino, inner.ino);
  });

  test('renaming one link of an inode onto another is a no-op', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    h.fs.link(f, ROOT_INO, b('g'));
    h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('g'));
    assert.equal(h.fs.lookup(ROOT_INO, b('f')).ino, f);
    assert.equal(h.fs.lookup(ROOT_INO, b('g')).ino, f);
    assert.equal(h.fs.getattr(f).nlink, 2);
    h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('f'));
    assert.equal(h.fs.lookup(ROOT_INO, b('f')).ino, f);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    h.fs.rename(ROOT_INO, b('d'), ROOT_INO, b('d'));
    assert.equal(h.fs.lookup(ROOT_INO, b('d')).ino, d.ino);
    assert.equal(h.fs.getattr(ROOT_INO).nlink, 3);
  });

  test('renames persist across a reopen', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'x');
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    h.fs.rename(ROOT_INO, b('f'), d.ino, b('g'));
    await h.reopen();
    assert.equal(h.fs.lookup(d.ino, b('g')).ino, f);
    assert.equal(await contentOf(h, f), 'x');
  });
});

describe('setattr', () => {
  test('chmod changes the permission bits and keeps the type', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    assert.equal((await h.fs.setattr(f, { mode: 0o4711 })).mode, S_IFREG | 0o4711);
    assert.equal((await h.fs.setattr(f, { mode: S_IFDIR | 0o600 })).mode, S_IFREG | 0o600);
    assert.equal((await h.fs.setattr(d.ino, { mode: 0o1777 })).mode, S_IFDIR | 0o1777);
    await h.reopen();
    assert.equal(h.fs.getattr(f).mode, S_IFREG | 0o600);
  });

  test('chown changes uid and gid independently', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    let a = await h.fs.setattr(f, { uid: 5 });
    assert.deepEqual([a.uid, a.gid], [5, USER.gid]);
    a = await h.fs.setattr(f, { gid: 6 });
    assert.deepEqual([a.uid, a.gid], [5, 6]);
    a = await h.fs.setattr(f, { uid: 0, gid: 0 });
    assert.deepEqual([a.uid, a.gid], [0, 0]);
  });

  test('utimes sets atime and mtime, explicitly or to now', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    const before = h.fs.getattr(f);
    const a = await h.fs.setattr(f, { atime: 1_000_000_001n, mtime: 2_000_000_002n });
    assert.equal(a.atime, 1_000_000_001n);
    assert.equal(a.mtime, 2_000_000_002n);
    assert.ok(a.ctime > before.ctime, 'ctime moves on any attribute change');
    const n = await h.fs.setattr(f, { atime: 'now', mtime: 'now' });
    assert.ok(n.atime > a.ctime && n.atime === n.mtime, 'both set to the same current time');
    const onlyA = await h.fs.setattr(f, { atime: 5n });
    assert.equal(onlyA.mtime, n.mtime);
    assert.equal(onlyA.atime, 5n);
    await h.reopen();
    assert.equal(h.fs.getattr(f).atime, 5n);
    assert.equal(h.fs.getattr(f).mtime, n.mtime);
  });

  test('truncate shrinks and grows a file, zero-filling the new part', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'hello world');
    const m0 = h.fs.getattr(f).mtime;
    assert.equal((await h.fs.setattr(f, { size: 5 })).size, 5);
    assert.ok(h.fs.getattr(f).mtime > m0, 'truncate updates mtime');
    assert.equal(await contentOf(h, f), 'hello');
    assert.equal((await h.fs.setattr(f, { size: 8 })).size, 8);
    assert.equal(await contentOf(h, f), 'hello\0\0\0');
    await h.reopen();
    assert.equal(await contentOf(h, f), 'hello\0\0\0');
    await h.fs.setattr(f, { size: 0 });
    assert.equal(await contentOf(h, f), '');
  });

  test('truncate refuses directories, non-regular files and bad sizes', async (t) => {
    const h = createFs(t);
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    const l = h.fs.symlink(USER, ROOT_INO, b('l'), b('target'));
    const p = h.fs.mknod(USER, ROOT_INO, b('p'), S_IFIFO | 0o644, 0);
    const f = await mkfile(h, ROOT_INO, 'f', 'abc');
    await assert.rejects(h.fs.setattr(d.ino, { size: 0 }), { code: 'EISDIR' });
    await assert.rejects(h.fs.setattr(l.ino, { size: 0 }), { code: 'EINVAL' });
    await assert.rejects(h.fs.setattr(p.ino, { size: 0 }), { code: 'EINVAL' });
    await assert.rejects(h.fs.setattr(f, { size: -1 }), { code: 'EINVAL' });
    await assert.rejects(h.fs.setattr(f, { size: 1.5 }), { code: 'EINVAL' });
    await assert.rejects(h.fs.setattr(424242n, { mode: 0o644 }), { code: 'ENOENT' });
    assert.equal(await contentOf(h, f), 'abc');
  });

  test('killSuidgid clears set-user-id, and set-group-id only with group execute', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    await h.fs.setattr(f, { mode: 0o6755 });
    assert.equal((await h.fs.setattr(f, { killSuidgid: true })).mode, S_IFREG | 0o755);
    // without group execute, set-group-id means mandatory locking and stays
    await h.fs.setattr(f, { mode: 0o6745 });
    assert.equal((await h.fs.setattr(f, { killSuidgid: true })).mode, S_IFREG | 0o2745);
    // with a chown in the same request
    await h.fs.setattr(f, { mode: 0o4755 });
    const a = await h.fs.setattr(f, { uid: 7, killSuidgid: true });
    assert.equal(a.mode, S_IFREG | 0o755);
    assert.equal(a.uid, 7);
  });

  test('set-group-id directories pass on their group, and the bit to subdirectories', async (t) => {
    const h = createFs(t);
    const top = h.fs.mkdir(ROOT_CALLER, ROOT_INO, b('shared'), 0o775);
    await h.fs.setattr(top.ino, { gid: 500, mode: 0o2775 });
    const sub = h.fs.mkdir(USER, top.ino, b('sub'), 0o755);
    assert.equal(sub.gid, 500);
    assert.equal(sub.uid, USER.uid);
    assert.equal(sub.mode, S_IFDIR | S_ISGID | 0o755);
    const deeper = h.fs.mkdir(USER, sub.ino, b('deeper'), 0o700);
    assert.equal(deeper.gid, 500);
    assert.equal(deeper.mode & S_ISGID, S_ISGID);
    const { attrs: file } = await h.fs.create(USER, sub.ino, b('file'), 0o644, O_WRONLY);
    assert.equal(file.gid, 500);
    assert.equal(file.mode, S_IFREG | 0o644, 'files do not get the bit');
    const node = h.fs.mknod(USER, top.ino, b('fifo'), S_IFIFO | 0o600, 0);
    assert.equal(node.gid, 500);
    const link = h.fs.symlink(USER, top.ino, b('l'), b('x'));
    assert.equal(link.gid, 500);
    const plain = h.fs.mkdir(USER, ROOT_INO, b('plain'), 0o755);
    assert.equal(plain.gid, USER.gid);
    assert.equal(plain.mode & S_ISGID, 0);
  });

  test('access checks the owner, group and other bits; root needs an x bit for files', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    await h.fs.setattr(f, { mode: 0o640 });
    const other = { uid: 2000, gid: 2000, pid: 1 };
    const group = { uid: 2000, gid: USER.gid, pid: 1 };
    h.fs.access(USER, f, 4 | 2);
    h.fs.access(group, f, 4);
    h.fs.access(other, f, 0);
    assert.throws(() => h.fs.access(group, f, 2), { code: 'EACCES' });
    assert.throws(() => h.fs.access(other, f, 4), { code: 'EACCES' });
    assert.throws(() => h.fs.access(USER, f, 1), { code: 'EACCES' });
    h.fs.access(ROOT_CALLER, f, 4 | 2);
    assert.throws(() => h.fs.access(ROOT_CALLER, f, 1), { code: 'EACCES' });
    await h.fs.setattr(f, { mode: 0o604 | S_ISUID });
    h.fs.access(other, f, 4);
    h.fs.access(ROOT_CALLER, ROOT_INO, 1);
  });
});

describe('timestamps', () => {
  test('creating, unlinking and renaming update the parents and the inode as POSIX says', async (t) => {
    const h = createFs(t);
    const p = h.fs.mkdir(USER, ROOT_INO, b('p'), 0o755);
    const q = h.fs.mkdir(USER, ROOT_INO, b('q'), 0o755);
    let before = h.fs.getattr(p.ino);
    const f = await mkfile(h, p.ino, 'f');
    let after = h.fs.getattr(p.ino);
    assert.ok(after.mtime > before.mtime && after.ctime > before.ctime, 'create touches the parent');
    const fa = h.fs.getattr(f);
    assert.equal(fa.btime, fa.ctime, 'a new inode is born now');

    before = h.fs.getattr(p.ino);
    const qBefore = h.fs.getattr(q.ino);
    const fBefore = h.fs.getattr(f);
    h.fs.rename(p.ino, b('f'), q.ino, b('g'));
    after = h.fs.getattr(p.ino);
    const qAfter = h.fs.getattr(q.ino);
    assert.ok(after.mtime > before.mtime && after.ctime > before.ctime, 'rename touches the old parent');
    assert.ok(qAfter.mtime > qBefore.mtime && qAfter.ctime > qBefore.ctime, 'rename touches the new parent');
    assert.equal(h.fs.getattr(f).mtime, fBefore.mtime, 'rename does not change the file mtime');

    const f2 = await mkfile(h, q.ino, 'keep');
    h.fs.link(f2, q.ino, b('keep2'));
    const kBefore = h.fs.getattr(f2);
    const qb = h.fs.getattr(q.ino);
    h.fs.unlink(q.ino, b('keep2'));
    const kAfter = h.fs.getattr(f2);
    assert.ok(kAfter.ctime > kBefore.ctime, 'unlink changes the inode ctime');
    assert.equal(kAfter.mtime, kBefore.mtime);
    const qa = h.fs.getattr(q.ino);
    assert.ok(qa.mtime > qb.mtime && qa.ctime > qb.ctime, 'unlink touches the parent');

    const rb = h.fs.getattr(ROOT_INO);
    h.fs.rmdir(ROOT_INO, b('p'));
    assert.ok(h.fs.getattr(ROOT_INO).mtime > rb.mtime, 'rmdir touches the parent');
  });

  test('link, chmod, chown and xattrs change ctime, not mtime', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'x');
    const steps: Array<[string, () => unknown]> = [
      ['link', () => h.fs.link(f, ROOT_INO, b('g'))],
      ['chmod', () => h.fs.setattr(f, { mode: 0o600 })],
      ['chown', () => h.fs.setattr(f, { uid: 3 })],
      ['setxattr', () => h.fs.setxattr(f, b('user.a'), b('1'), 0)],
      ['removexattr', () => h.fs.removexattr(f, b('user.a'))],
    ];
    for (const [what, step] of steps) {
      const before = h.fs.getattr(f);
      await step();
      const after = h.fs.getattr(f);
      assert.ok(after.ctime > before.ctime, `${what} changes ctime`);
      assert.equal(after.mtime, before.mtime, `${what} keeps mtime`);
    }
    const rb = h.fs.getattr(ROOT_INO);
    h.fs.setxattr(f, b('user.b'), b('1'), 0);
    assert.equal(h.fs.getattr(ROOT_INO).mtime, rb.mtime, 'an xattr does not touch the parent');
  });

  test('writing changes mtime and ctime, before and after the commit', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f', 'x');
    const before = h.fs.getattr(f);
    const fh = await h.fs.open(f, O_RDWR);
    await h.fs.write(fh, 0, b('y'));
    const staged = h.fs.getattr(f);
    assert.ok(staged.mtime > before.mtime && staged.ctime > before.ctime, 'a staged write shows at once');
    await h.fs.flush(fh);
    const committed = h.fs.getattr(f);
    assert.ok(committed.mtime >= staged.mtime && committed.ctime >= staged.ctime);
    await h.fs.release(fh);
    await h.reopen();
    assert.equal(h.fs.getattr(f).mtime, committed.mtime);
  });
});

describe('extended attributes', () => {
  test('set, get, list and remove', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    h.fs.setxattr(f, b('user.b'), b('two'), 0);
    h.fs.setxattr(f, b('user.a'), Buffer.from([0, 1, 2]), 0);
    h.fs.setxattr(f, b('trusted.empty'), Buffer.alloc(0), 0);
    assert.deepEqual(h.fs.getxattr(f, b('user.a')), Buffer.from([0, 1, 2]));
    assert.deepEqual(h.fs.getxattr(f, b('trusted.empty')), Buffer.alloc(0));
    assert.deepEqual(h.fs.listxattr(f).map(String), ['trusted.empty', 'user.a', 'user.b']);
    h.fs.setxattr(f, b('user.b'), b('three'), 0);
    assert.equal(h.fs.getxattr(f, b('user.b')).toString(), 'three');
    h.fs.removexattr(f, b('user.b'));
    assert.throws(() => h.fs.getxattr(f, b('user.b')), { code: 'ENODATA', name: 'NoAttributeError' });
    assert.throws(() => h.fs.removexattr(f, b('user.b')), { code: 'ENODATA' });
    // directories and symlinks have xattrs too
    h.fs.setxattr(ROOT_INO, b('user.root'), b('r'), 0);
    assert.deepEqual(h.fs.listxattr(ROOT_INO).map(String), ['user.root']);
    await h.reopen();
    assert.deepEqual(h.fs.listxattr(f).map(String), ['trusted.empty', 'user.a']);
    assert.equal(h.fs.getxattr(ROOT_INO, b('user.root')).toString(), 'r');
  });

  test('XATTR_CREATE and XATTR_REPLACE', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    assert.throws(() => h.fs.setxattr(f, b('user.x'), b('1'), XATTR_REPLACE), { code: 'ENODATA' });
    h.fs.setxattr(f, b('user.x'), b('1'), XATTR_CREATE);
    assert.throws(() => h.fs.setxattr(f, b('user.x'), b('2'), XATTR_CREATE), { code: 'EEXIST' });
    assert.equal(h.fs.getxattr(f, b('user.x')).toString(), '1');
    h.fs.setxattr(f, b('user.x'), b('3'), XATTR_REPLACE);
    assert.equal(h.fs.getxattr(f, b('user.x')).toString(), '3');
  });

  test('system.* (ACLs) is not supported; values are limited to 64 KiB; missing inodes are ENOENT', (t) => {
    const h = createFs(t);
    assert.throws(() => h.fs.setxattr(ROOT_INO, b('system.posix_acl_access'), b('x'), 0), {
      code: 'EOPNOTSUPP',
      name: 'NotSupportedError',
    });
    assert.throws(() => h.fs.getxattr(ROOT_INO, b('user.none')), { code: 'ENODATA' });
    h.fs.setxattr(ROOT_INO, b('user.max'), Buffer.alloc(65536, 1), 0);
    assert.throws(() => h.fs.setxattr(ROOT_INO, b('user.big'), Buffer.alloc(65537), 0), { code: 'E2BIG' });
    assert.throws(() => h.fs.getxattr(424242n, b('user.a')), { code: 'ENOENT' });
    assert.throws(() => h.fs.listxattr(424242n), { code: 'ENOENT' });
    assert.throws(() => h.fs.setxattr(424242n, b('user.a'), b('1'), 0), { code: 'ENOENT' });
  });

  test('the xattrs of a purged inode go with it', async (t) => {
    const h = createFs(t);
    const f = await mkfile(h, ROOT_INO, 'f');
    h.fs.setxattr(f, b('user.a'), b('1'), 0);
    h.fs.unlink(ROOT_INO, b('f'));
    assert.equal(h.meta.getXattr(f, b('user.a')), undefined);
  });
});

describe('statfs', () => {
  test('reports sane numbers', async (t) => {
    const h = createFs(t);
    const s0 = h.fs.statfs();
    assert.equal(s0.bsize, 4096);
    assert.equal(s0.namelen, NAME_MAX);
    assert.ok(s0.blocks > 0);
    assert.ok(s0.bfree <= s0.blocks && s0.bavail <= s0.bfree);
    assert.ok(s0.ffree > 0 && s0.files >= s0.ffree);
    await mkfile(h, ROOT_INO, 'f');
    const s1 = h.fs.statfs();
    assert.equal(s1.files - s1.ffree, s0.files - s0.ffree + 1, 'one more inode in use');
  });
});

describe('read-only', () => {
  test('every change is refused with EROFS while readOnly() is true; reads go on', async (t) => {
    let ro = false;
    const h = createFs(t, { readOnly: () => ro });
    const d = h.fs.mkdir(USER, ROOT_INO, b('d'), 0o755);
    const f = await mkfile(h, ROOT_INO, 'f', 'data');
    h.fs.setxattr(f, b('user.a'), b('1'), 0);
    const rfh = await h.fs.open(f, O_RDONLY);
    ro = true;
    const e = { code: 'EROFS', name: 'ReadOnlyError' };
    assert.throws(() => h.fs.mkdir(USER, ROOT_INO, b('x'), 0o755), e);
    assert.throws(() => h.fs.rmdir(ROOT_INO, b('d')), e);
    assert.throws(() => h.fs.mknod(USER, ROOT_INO, b('x'), S_IFIFO | 0o644, 0), e);
    assert.throws(() => h.fs.symlink(USER, ROOT_INO, b('x'), b('t')), e);
    assert.throws(() => h.fs.link(f, ROOT_INO, b('x')), e);
    assert.throws(() => h.fs.unlink(ROOT_INO, b('f')), e);
    assert.throws(() => h.fs.rename(ROOT_INO, b('f'), ROOT_INO, b('x')), e);
    assert.throws(() => h.fs.setxattr(f, b('user.b'), b('1'), 0), e);
    assert.throws(() => h.fs.removexattr(f, b('user.a')), e);
    await assert.rejects(h.fs.setattr(f, { mode: 0o600 }), e);
    await assert.rejects(h.fs.setattr(f, { size: 0 }), e);
    await assert.rejects(h.fs.create(USER, ROOT_INO, b('x'), 0o644, O_WRONLY), e);
    await assert.rejects(h.fs.open(f, O_WRONLY), e);
    await assert.rejects(h.fs.open(f, O_RDWR), e);
    // reading still works
    assert.equal(h.fs.lookup(ROOT_INO, b('d')).ino, d.ino);
    assert.equal((await readAll(h.fs, rfh, 0, 100)).toString(), 'data');
    assert.equal(h.fs.getxattr(f, b('user.a')).toString(), '1');
    assert.deepEqual(listNames(h, ROOT_INO), ['.', '..', 'd', 'f']);
    await h.fs.release(rfh);
    ro = false;
    h.fs.unlink(ROOT_INO, b('f'));
  });
});
