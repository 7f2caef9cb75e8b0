/**
 * What one mount changes, the other mounts show at once: every kind of
 * change, made from each of three pods, checked through the other pods'
 * mounts (names, types, sizes, modes, owners, times, xattrs, content), also
 * where the other mounts had the old state cached; and a big file written in
 * one pod is read whole in another that held none of its chunks.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type TestContext, test } from 'node:test';
import { SeededBytes } from '../helpers/files.js';
import { health, podInfo, settled } from '../helpers/health.js';
import { type NetPod, startNetwork, type TestNetwork } from '../helpers/network.js';
import { isMounted, run } from '../helpers/pods.js';

const MiB = 1 << 20;

type Kind = 'file' | 'dir' | 'symlink' | 'fifo' | 'other';

/** What a pod's mount shows of one path. */
interface View {
  type: Kind;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtimeMs: number;
  ino: number;
  /** Files: their bytes, as latin1 text. */
  content?: string;
  /** Symlinks: their target. */
  target?: string;
  /** Directories: their names, sorted. */
  names?: string[];
}

/** The fields a check cares about; `null`: the path must not exist. */
type Expect = Partial<View> | null;

function kind(st: fs.Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/**
 * lstat, then the content, target or (if `names`) listing: what `rel` looks
 * like in pod p's mount (null if absent). Reading a directory makes the
 * kernel fetch its attributes again on the next lstat: checks of a
 * directory's own attributes leave `names` out.
 */
function look(p: NetPod, rel: string, names = true): View | null {
  const file = path.join(p.mount, rel);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const v: View = {
    type: kind(st),
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    nlink: st.nlink,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ino: st.ino,
  };
  if (v.type === 'file') v.content = fs.readFileSync(file).toString('latin1');
  if (v.type === 'symlink') v.target = fs.readlinkSync(file);
  if (v.type === 'dir' && names) v.names = fs.readdirSync(file).sort();
  return v;
}

/** What differs between a view and an expectation ('' when nothing). */
function differences(v: View | null, e: Expect): string {
  if (e === null) return v === null ? '' : `exists (${v.type})`;
  if (v === null) return 'missing';
  const out: string[] = [];
  for (const [k, want] of Object.entries(e)) {
    const got = v[k as keyof View];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      const show = (x: unknown) => (typeof x === 'number' && k === 'mode' ? x.toString(8) : JSON.stringify(x));
      out.push(`${k} is ${show(got)}, expected ${show(want)}`);
    }
  }
  return out.join('; ');
}

const text = (s: string) => Buffer.from(s).toString('latin1');

/** Waits until every pod in `pods` shows each path as expected (writer included: its own view must be right too). */
async function expectOn(
  net: TestNetwork,
  pods: NetPod[],
  what: string,
  paths: Record<string, Expect>,
  ms?: number,
): Promise<void> {
  for (const p of pods) {
    await net.waitFor(
      `${what} on ${p.name}`,
      () => {
        const bad: string[] = [];
        for (const [rel, e] of Object.entries(paths)) {
          const d = differences(look(p, rel, e?.names !== undefined), e);
          if (d) bad.push(`${rel}: ${d}`);
        }
        if (bad.length) throw new Error(bad.join(' | '));
        return true;
      },
      ms,
    );
  }
}

async function hasTool(name: string): Promise<boolean> {
  return (await run('which', [name])).code === 0;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The value of an xattr as getfattr shows it in pod p's mount, or null if the file has none by that name. */
async function xattr(p: NetPod, rel: string, name: string): Promise<string | null> {
  const r = await run('getfattr', ['--only-values', '-n', name, path.join(p.mount, rel)]);
  if (r.code !== 0) {
    if (/No such attribute|No data available/i.test(r.stderr)) return null;
    throw new Error(`getfattr exited ${r.code}: ${r.stderr}`);
  }
  return r.stdout;
}

/** Every kind of change, made from a, b and c in turn, checked on all three. */
async function changes(t: TestContext, net: TestNetwork): Promise<void> {
  const [a, b, c] = net.pods as [NetPod, NetPod, NetPod];
  const all = [a, b, c];
  const at = (p: NetPod, rel: string) => path.join(p.mount, rel);
  const expect = (what: string, paths: Record<string, Expect>, ms?: number) => expectOn(net, all, what, paths, ms);

  const root = look(a, '.');
  assert.ok(root, 'the root is there');
  const rootLinks = root.nlink;
  const rootNames = new Set(root.names);
  const names = (...add: string[]) => {
    for (const n of add) rootNames.add(n);
    return [...rootNames].sort();
  };
  const drop = (...gone: string[]) => {
    for (const n of gone) rootNames.delete(n);
    return [...rootNames].sort();
  };

  await t.test('create a file (a)', async () => {
    fs.writeFileSync(at(a, 'notes.txt'), 'hello');
    await expect('a new file', {
      // The mode the umask left, the same everywhere.
      'notes.txt': {
        type: 'file',
        size: 5,
        content: 'hello',
        mode: fs.lstatSync(at(a, 'notes.txt')).mode & 0o7777,
        nlink: 1,
      },
      '.': { names: names('notes.txt') },
    });
  });

  await t.test('overwrite, then overwrite with as many bytes (a)', async () => {
    fs.writeFileSync(at(a, 'notes.txt'), 'hello world, overwritten');
    await expect('an overwritten file', { 'notes.txt': { size: 24, content: 'hello world, overwritten' } });
    // Same size: only dropping the cached pages shows it.
    fs.writeFileSync(at(a, 'notes.txt'), 'HELLO WORLD, OVERWRITTEN');
    await expect('a file overwritten with as many bytes', {
      'notes.txt': { size: 24, content: 'HELLO WORLD, OVERWRITTEN' },
    });
  });

  await t.test('append (b)', async () => {
    fs.appendFileSync(at(b, 'notes.txt'), ' +b');
    await expect('an appended file', { 'notes.txt': { size: 27, content: 'HELLO WORLD, OVERWRITTEN +b' } });
  });

  await t.test('truncate shorter, then longer (c)', async () => {
    fs.truncateSync(at(c, 'notes.txt'), 5);
    await expect('a file truncated shorter', { 'notes.txt': { size: 5, content: 'HELLO' } });
    fs.truncateSync(at(c, 'notes.txt'), 12);
    await expect('a file truncated longer', { 'notes.txt': { size: 12, content: `HELLO${'\0'.repeat(7)}` } });
  });

  await t.test('mkdir (a), mkdir -p (b)', async () => {
    fs.mkdirSync(at(a, 'docs'));
    await expect('a new directory', {
      docs: { type: 'dir', names: [], nlink: 2, mode: fs.lstatSync(at(a, 'docs')).mode & 0o7777 },
      '.': { names: names('docs'), nlink: rootLinks + 1 },
    });
    fs.mkdirSync(at(b, 'deep/a/b/c'), { recursive: true });
    await expect('nested new directories', {
      deep: { type: 'dir', names: ['a'], nlink: 3 },
      'deep/a': { type: 'dir', names: ['b'], nlink: 3 },
      'deep/a/b': { type: 'dir', names: ['c'], nlink: 3 },
      'deep/a/b/c': { type: 'dir', names: [], nlink: 2 },
      '.': { names: names('deep'), nlink: rootLinks + 2 },
    });
  });

  await t.test('rename a file (a)', async () => {
    fs.writeFileSync(at(a, 'docs/one'), 'one');
    fs.writeFileSync(at(a, 'docs/two'), 'two');
    await expect('files in a directory', { docs: { names: ['one', 'two'] }, 'docs/two': { content: 'two' } });
    fs.renameSync(at(a, 'notes.txt'), at(a, 'renamed.txt'));
    drop('notes.txt');
    await expect('a renamed file', {
      'notes.txt': null,
      'renamed.txt': { type: 'file', size: 12, content: `HELLO${'\0'.repeat(7)}` },
      '.': { names: names('renamed.txt') },
    });
  });

  await t.test('rename a directory with content (b)', async () => {
    fs.renameSync(at(b, 'docs'), at(b, 'papers'));
    drop('docs');
    await expect('a renamed directory', {
      docs: null,
      'docs/one': null,
      papers: { type: 'dir', names: ['one', 'two'] },
      'papers/one': { type: 'file', content: 'one' },
      'papers/two': { type: 'file', content: 'two' },
      '.': { names: names('papers') },
    });
  });

  await t.test('move a file into another directory (c)', async () => {
    fs.renameSync(at(c, 'renamed.txt'), at(c, 'papers/renamed.txt'));
    await expect('a file moved into a directory', {
      'renamed.txt': null,
      'papers/renamed.txt': { type: 'file', content: `HELLO${'\0'.repeat(7)}` },
      papers: { names: ['one', 'renamed.txt', 'two'] },
      '.': { names: drop('renamed.txt') },
    });
  });

  await t.test('unlink (a)', async () => {
    fs.unlinkSync(at(a, 'papers/two'));
    await expect('an unlinked file', { 'papers/two': null, papers: { names: ['one', 'renamed.txt'] } });
  });

  await t.test('rmdir (b)', async () => {
    fs.rmdirSync(at(b, 'deep/a/b/c'));
    await expect('a removed directory', { 'deep/a/b/c': null, 'deep/a/b': { names: [], nlink: 2 } });
  });

  await t.test('symlink (c)', async () => {
    fs.symlinkSync('papers/one', at(c, 'link'));
    await expect('a symlink', {
      link: { type: 'symlink', target: 'papers/one', size: 'papers/one'.length },
      '.': { names: names('link') },
    });
    for (const p of all) assert.equal(fs.readFileSync(at(p, 'link'), 'utf8'), 'one', `through the link on ${p.name}`);
  });

  await t.test('hard link (a), written through the new name (b)', async () => {
    fs.linkSync(at(a, 'papers/one'), at(a, 'hard'));
    await expect('a hard link', {
      hard: { type: 'file', nlink: 2, content: 'one' },
      'papers/one': { nlink: 2, content: 'one' },
      '.': { names: names('hard') },
    });
    for (const p of all) {
      assert.equal(look(p, 'hard')?.ino, look(p, 'papers/one')?.ino, `one inode behind both names on ${p.name}`);
    }
    fs.writeFileSync(at(b, 'hard'), 'one, through the hard link');
    await expect('content written through a hard link', {
      'papers/one': { content: 'one, through the hard link', size: 26 },
      hard: { content: 'one, through the hard link', size: 26 },
    });
  });

  await t.test('chmod (b)', async () => {
    fs.chmodSync(at(b, 'papers/one'), 0o640);
    fs.chmodSync(at(b, 'papers'), 0o750);
    await expect('new modes', { 'papers/one': { mode: 0o640 }, hard: { mode: 0o640 }, papers: { mode: 0o750 } });
  });

  await t.test('chown (c)', async () => {
    fs.chownSync(at(c, 'papers/one'), 1234, 5678);
    fs.lchownSync(at(c, 'link'), 4321, 8765);
    await expect('new owners', {
      'papers/one': { uid: 1234, gid: 5678 },
      link: { uid: 4321, gid: 8765, type: 'symlink' },
    });
  });

  await t.test('utimes (a)', async () => {
    const when = new Date('2001-02-03T04:05:06.789Z');
    fs.utimesSync(at(a, 'papers/one'), when, when);
    fs.utimesSync(at(a, 'deep'), when, when);
    await expect('new modification times', {
      'papers/one': { mtimeMs: when.getTime() },
      deep: { mtimeMs: when.getTime() },
    });
  });

  await t.test('setxattr (b), removexattr (c)', async (st) => {
    if (!(await hasTool('setfattr')) || !(await hasTool('getfattr'))) {
      st.skip('setfattr/getfattr not installed');
      return;
    }
    await sh('setfattr', ['-n', 'user.color', '-v', 'blue', at(b, 'papers/one')]);
    await sh('setfattr', ['-n', 'user.shape', '-v', 'round', at(b, 'papers')]);
    for (const p of all) {
      await net.waitFor(
        `the xattrs on ${p.name}`,
        async () =>
          (await xattr(p, 'papers/one', 'user.color')) === 'blue' &&
          (await xattr(p, 'papers', 'user.shape')) === 'round',
      );
    }
    await sh('setfattr', ['-x', 'user.color', at(c, 'papers/one')]);
    for (const p of all) {
      await net.waitFor(
        `the xattr removed on ${p.name}`,
        async () => (await xattr(p, 'papers/one', 'user.color')) === null,
      );
      assert.equal(await xattr(p, 'papers', 'user.shape'), 'round', `the other xattr stays on ${p.name}`);
    }
  });

  await t.test('mkfifo (c)', async () => {
    await sh('mkfifo', ['-m', '0620', at(c, 'pipe')]);
    await expect('a FIFO', { pipe: { type: 'fifo', mode: 0o620, size: 0 }, '.': { names: names('pipe') } });
  });

  await t.test('rename over an existing file (a, then b)', async () => {
    fs.writeFileSync(at(a, 'victim'), 'the old victim');
    fs.writeFileSync(at(a, 'replacement'), 'the replacement');
    await expect('two files', {
      victim: { content: 'the old victim' },
      replacement: { content: 'the replacement' },
      '.': { names: names('victim', 'replacement') },
    });
    // Every mount has the victim cached (just read): the rename must replace it there too.
    fs.renameSync(at(a, 'replacement'), at(a, 'victim'));
    drop('replacement');
    await expect('a file renamed over another', {
      replacement: null,
      victim: { type: 'file', content: 'the replacement', size: 15, nlink: 1 },
      '.': { names: [...rootNames].sort() },
    });
    fs.writeFileSync(at(b, 'other'), 'from b');
    await expect('another file', { other: { content: 'from b' }, '.': { names: names('other') } });
    fs.renameSync(at(b, 'other'), at(b, 'victim'));
    await expect('a file renamed over another from b', {
      other: null,
      victim: { content: 'from b', size: 6 },
      '.': { names: drop('other') },
    });
  });

  await t.test('a size changed by another pod while this one has the file cached (a changes, b had it)', async () => {
    fs.writeFileSync(at(a, 'cached.bin'), 'abcd');
    await expect('a small file', { 'cached.bin': { size: 4, content: 'abcd' } });
    // b has its size (and pages) cached now.
    assert.equal(fs.statSync(at(b, 'cached.bin')).size, 4);
    const longer = 'abcdefghij'.repeat(1000);
    fs.appendFileSync(at(a, 'cached.bin'), longer.slice(4));
    await expect('the file grown', { 'cached.bin': { size: 10_000, content: text(longer) } });
    fs.truncateSync(at(a, 'cached.bin'), 2);
    await expect('the file shrunk', { 'cached.bin': { size: 2, content: 'ab' } });
    // And the same in the other direction, b changing what a has cached.
    fs.writeFileSync(at(b, 'cached.bin'), 'xyz'.repeat(3000));
    await expect('the file rewritten by b', { 'cached.bin': { size: 9000, content: 'xyz'.repeat(3000) } });
  });

  await t.test(
    "a directory's link count and mtime, where only its attributes were cached (a changes, b and c had them)",
    async () => {
      fs.mkdirSync(at(a, 'attrs'));
      await expect('a new directory', { attrs: { type: 'dir', names: [], nlink: 2 } });
      // An lstat without a listing, as `stat dir` or `ls -ld dir` does: b and c cache the attributes.
      for (const p of all) assert.equal(fs.lstatSync(at(p, 'attrs')).nlink, 2);
      fs.mkdirSync(at(a, 'attrs/sub'));
      fs.writeFileSync(at(a, 'attrs/file'), 'f');
      const mtimeMs = fs.lstatSync(at(a, 'attrs')).mtimeMs;
      // Within 10 s: the kernel would refresh them by itself after the attribute timeout (30 s).
      await expect('the link count and mtime of a directory changed inside', { attrs: { nlink: 3, mtimeMs } }, 10_000);
      await expect('the new entries', { attrs: { names: ['file', 'sub'] } });
    },
  );

  await t.test(
    'a file rewritten while another pod holds it open: once closed there, it shows the new size (a changes, b had it open)',
    async () => {
      fs.writeFileSync(at(a, 'held.txt'), 'x');
      await expect('a small file', { 'held.txt': { size: 1, content: 'x' } });
      const fd = fs.openSync(at(b, 'held.txt'), 'r');
      try {
        fs.writeFileSync(at(a, 'held.txt'), 'xyz123');
        // a's later change reaching b means its earlier ones have.
        fs.writeFileSync(at(a, 'held.mark'), 'm');
        await expectOn(net, [b], 'a later change', { 'held.mark': { content: 'm' } });
        await expectOn(net, [c], 'the rewritten file', { 'held.txt': { size: 6, content: 'xyz123' } });
        // Another process on b looks at the file while it is open (ls -l); what it sees is not checked.
        fs.statSync(at(b, 'held.txt'));
      } finally {
        fs.closeSync(fd);
      }
      await expect('the rewritten file, closed on b', { 'held.txt': { size: 6, content: 'xyz123' } }, 10_000);
    },
  );
}

/** A 128 MiB file written in a while c is away: placed on its targets once c is back, read whole in c. */
async function bigFile(t: TestContext, net: TestNetwork): Promise<void> {
  const SIZE = 128 * MiB;
  const [a, , c] = net.pods as [NetPod, NetPod, NetPod];

  // c is away while a writes: the chunks placed on c wait for it; a keeps its copy of those meanwhile.
  await net.waitFor('what the changes above wrote is placed', () => settled(a, 3), 60_000);
  await c.daemon.stop();
  assert.equal(isMounted(c.mount), false, 'c is unmounted while stopped');
  const file = path.join(a.mount, 'big.bin');
  const gen = new SeededBytes('network-changes');
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < SIZE; off += MiB) {
      const piece = gen.next(MiB);
      hash.update(piece);
      let n = 0;
      while (n < piece.length) n += fs.writeSync(fd, piece, n, piece.length - n, off + n);
    }
  } finally {
    fs.closeSync(fd);
  }
  const expected = hash.digest('hex');
  const away = await net.waitFor('a has sent what it can', async () => {
    const h = await health(a);
    return !h.repair.active && h.pods.find((p) => p.name === 'pod1')?.chunks !== null && h;
  });
  assert.ok(away.below > 0, 'the chunks placed on c are below their redundancy while c is away');
  assert.equal(away.lost, 0);

  await c.daemon.start();
  await net.waitFor('the mount of c again', () => isMounted(c.mount));
  const h = await net.waitFor('every chunk on its two targets, no surplus', () => settled(a, 3), 120_000);
  const share = (name: string) => h.pods.find((p) => p.name === name)?.bytes ?? 0;
  t.diagnostic(`placed: a ${share('pod0')}, b ${share('pod1')}, c ${share('pod2')} bytes of ${h.bytes}`);
  for (const name of ['pod0', 'pod1', 'pod2'])
    assert.ok(share(name) > 0 && share(name) < h.bytes, `${name} holds a share, not everything`);
  await net.waitFor('the big file on c', () => fs.statSync(path.join(c.mount, 'big.bin')).size === SIZE, 30_000);

  const before = await podInfo(c);
  const sum = createHash('sha256');
  await pipeline(fs.createReadStream(path.join(c.mount, 'big.bin'), { highWaterMark: MiB }), sum);
  assert.equal(sum.digest('hex'), expected, 'the same SHA-256 on c');
  const after = await podInfo(c);
  assert.ok(
    (after.sync?.fetchedBytes ?? 0) > (before.sync?.fetchedBytes ?? 0),
    'c fetched the chunks placed elsewhere',
  );
  assert.equal(after.chunkBytes, before.chunkBytes, 'a storage pod keeps what it reads for others in RAM only');
}

test('three pods: every change in one mount appears in the others; a big file is placed when the away pod returns', {
  timeout: 170_000,
}, async (t) => {
  const net = await startNetwork(t, 3);
  await t.test('every kind of change made in one mount appears in the other two', (st) => changes(st, net));
  await t.test(
    'a 128 MiB file written while c is away is placed on its targets when c returns, and reads whole in c',
    (st) => bigFile(st, net),
  );
});
