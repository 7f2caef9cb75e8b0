/**
 * POSIX through the mount with node:fs: every operation and its errors, as
 * a program sees them. Each subtest works in its own directory of one pod.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PY_PRELUDE, pythonOk, seededBytes, sh } from '../helpers/files.js';
import { startPod } from '../helpers/pods.js';

const { O_CREAT, O_EXCL, O_RDWR, O_WRONLY, O_TRUNC, O_APPEND } = fs.constants;
const MiB = 1 << 20;

/** Wall-clock nanoseconds, with slack for the daemon's clock being read a moment apart. */
const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const SLACK = 1_000_000_000n;
function assertNear(actual: bigint, lo: bigint, hi: bigint, what: string): void {
  assert.ok(actual >= lo - SLACK && actual <= hi + SLACK, `${what}: ${actual} not within [${lo}, ${hi}]`);
}
const OLD = '2001-02-03 04:05:06.123456789 +0000';
const OLD_NS = 981173106123456789n;

test('POSIX file operations through the mount', async (t) => {
  const pod = await startPod(t);
  const fresh = (name: string) => {
    const d = path.join(pod.mount, name);
    fs.mkdirSync(d);
    return d;
  };

  await t.test('open and create: O_EXCL, O_TRUNC, modes and path errors', () => {
    const d = fresh('open');
    const f = path.join(d, 'f');
    const fd = fs.openSync(f, O_CREAT | O_EXCL | O_RDWR, 0o640);
    fs.writeSync(fd, 'hello world');
    fs.closeSync(fd);
    assert.equal(fs.statSync(f).mode, fs.constants.S_IFREG | 0o640);
    assert.throws(() => fs.openSync(f, O_CREAT | O_EXCL | O_WRONLY), { code: 'EEXIST' });
    assert.throws(() => fs.openSync(path.join(d, 'missing'), 'r'), { code: 'ENOENT' });
    assert.throws(() => fs.openSync(path.join(d, 'no', 'x'), 'w'), { code: 'ENOENT' });
    assert.throws(() => fs.openSync(path.join(f, 'x'), 'w'), { code: 'ENOTDIR' });
    assert.throws(() => fs.openSync(d, 'w'), { code: 'EISDIR' });
    fs.symlinkSync('dangling-target', path.join(d, 'dangling'));
    assert.throws(() => fs.openSync(path.join(d, 'dangling'), O_CREAT | O_EXCL | O_WRONLY), { code: 'EEXIST' });

    fs.closeSync(fs.openSync(f, O_CREAT | O_RDWR));
    assert.equal(fs.readFileSync(f, 'utf8'), 'hello world', 'O_CREAT alone keeps the content');
    fs.closeSync(fs.openSync(f, O_WRONLY | O_TRUNC));
    assert.equal(fs.statSync(f).size, 0);
    assert.equal(fs.readFileSync(f, 'utf8'), '');
    fs.writeFileSync(f, 'again');
    fs.writeFileSync(f, 'x');
    assert.equal(fs.readFileSync(f, 'utf8'), 'x', 'writeFileSync truncates');
  });

  await t.test('read, write, pread and pwrite at offsets, holes read as zeros', () => {
    const d = fresh('rw');
    const f = path.join(d, 'f');
    const fd = fs.openSync(f, 'w+');
    assert.equal(fs.writeSync(fd, Buffer.from('0123456789')), 10);
    assert.equal(fs.writeSync(fd, Buffer.from('abc'), 0, 3, 2), 3);
    fs.writeSync(fd, Buffer.from('XY'));
    const buf = Buffer.alloc(3);
    assert.equal(fs.readSync(fd, buf, 0, 3, 5), 3);
    assert.equal(buf.toString(), '567');
    assert.equal(fs.readFileSync(f, 'utf8'), '01abc56789XY', 'pwrite leaves the file position alone');
    assert.equal(fs.readSync(fd, Buffer.alloc(10), 0, 10, 100), 0, 'read past the end');

    const reader = fs.openSync(f, 'r');
    fs.writeSync(fd, Buffer.from('!'), 0, 1, MiB + 5);
    assert.equal(fs.fstatSync(reader).size, MiB + 6);
    const hole = Buffer.alloc(MiB + 5 - 12, 1);
    assert.equal(fs.readSync(reader, hole, 0, hole.length, 12), hole.length);
    assert.ok(
      hole.every((b) => b === 0),
      'the hole reads as zeros',
    );
    fs.closeSync(reader);

    const big = seededBytes('rw', 3 * MiB + 77);
    fs.writeSync(fd, big, 0, big.length, 100);
    fs.closeSync(fd);
    const back = fs.readFileSync(f);
    assert.equal(back.length, 100 + big.length);
    assert.ok(back.subarray(100).equals(big));

    const again = fs.openSync(f, 'r+');
    fs.writeSync(again, Buffer.from('MIDDLE'), 0, 6, 2 * MiB);
    fs.closeSync(again);
    const expected = Buffer.concat([back.subarray(0, 2 * MiB), Buffer.from('MIDDLE'), back.subarray(2 * MiB + 6)]);
    assert.ok(fs.readFileSync(f).equals(expected), 'an overwrite in the middle keeps the rest');
  });

  await t.test('O_APPEND writes at the end, even after another descriptor grew the file', () => {
    const f = path.join(fresh('append'), 'log');
    fs.writeFileSync(f, 'start;');
    const a = fs.openSync(f, O_WRONLY | O_APPEND);
    fs.writeSync(a, 'one;');
    const w = fs.openSync(f, 'r+');
    fs.writeSync(w, 'grown;', 10);
    fs.writeSync(a, 'two;');
    fs.closeSync(w);
    fs.closeSync(a);
    fs.appendFileSync(f, 'three;');
    assert.equal(fs.readFileSync(f, 'utf8'), 'start;one;grown;two;three;');
  });

  await t.test('truncate and ftruncate, up and down, on committed and staged data', () => {
    const d = fresh('truncate');
    const f = path.join(d, 'f');
    fs.writeFileSync(f, 'hello world');
    fs.truncateSync(f, 5);
    assert.equal(fs.readFileSync(f, 'utf8'), 'hello');
    fs.truncateSync(f, 3 * 4096 + 1);
    const up = fs.readFileSync(f);
    assert.equal(up.length, 3 * 4096 + 1);
    assert.equal(up.subarray(0, 5).toString(), 'hello');
    assert.ok(up.subarray(5).every((b) => b === 0));

    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, 'ABCDEFGH', 0);
    fs.ftruncateSync(fd, 3);
    assert.equal(fs.fstatSync(fd).size, 3);
    fs.writeSync(fd, 'Z', 6);
    fs.closeSync(fd);
    assert.deepEqual(fs.readFileSync(f), Buffer.from('ABC\0\0\0Z'));

    const g = path.join(d, 'g');
    const data = seededBytes('truncate', 2 * MiB);
    fs.writeFileSync(g, data);
    fs.truncateSync(g, MiB + 7);
    fs.truncateSync(g, 2 * MiB);
    const back = fs.readFileSync(g);
    assert.ok(back.subarray(0, MiB + 7).equals(data.subarray(0, MiB + 7)));
    assert.ok(
      back.subarray(MiB + 7).every((b) => b === 0),
      'bytes cut off do not come back',
    );
    fs.truncateSync(g, 0);
    assert.equal(fs.statSync(g).size, 0);

    assert.throws(() => fs.truncateSync(d, 0), { code: 'EISDIR' });
    assert.throws(() => fs.truncateSync(path.join(d, 'missing'), 0), { code: 'ENOENT' });
  });

  await t.test('stat fields: size, mode, nlink, owner, blocks, inode numbers', () => {
    const d = fresh('stat');
    const f = path.join(d, 'f');
    fs.writeFileSync(f, 'abc', { mode: 0o640 });
    const st = fs.statSync(f);
    assert.equal(st.size, 3);
    assert.equal(st.mode, fs.constants.S_IFREG | 0o640);
    assert.equal(st.nlink, 1);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
    assert.ok(st.blocks * 512 >= st.size, 'blocks cover the size');
    assert.ok(st.blksize > 0);
    assert.equal(st.dev, fs.statSync(pod.mount).dev);
    const ino = fs.statSync(f, { bigint: true }).ino;
    assert.equal(fs.statSync(f, { bigint: true }).ino, ino, 'the inode number is stable');
    assert.notEqual(fs.statSync(d, { bigint: true }).ino, ino);
    const ds = fs.statSync(d);
    assert.equal(ds.mode & fs.constants.S_IFMT, fs.constants.S_IFDIR);
    assert.equal(ds.nlink, 2, 'an empty directory has . and its name');
  });

  await t.test('times: nanoseconds kept, utimes, futimes, UTIME_NOW and UTIME_OMIT via touch', async () => {
    const d = fresh('times');
    const f = path.join(d, 'f');
    fs.writeFileSync(f, 'x');
    await sh('touch', ['-d', OLD, f]);
    let st = fs.statSync(f, { bigint: true });
    assert.equal(st.mtimeNs, OLD_NS);
    assert.equal(st.atimeNs, OLD_NS);

    fs.utimesSync(f, 1_000_000_000.5, 1_500_000_000.25);
    st = fs.statSync(f, { bigint: true });
    assert.equal(st.atimeNs, 1_000_000_000_500_000_000n);
    assert.equal(st.mtimeNs, 1_500_000_000_250_000_000n);
    const fd = fs.openSync(f, 'r+');
    fs.futimesSync(fd, 1_234_567_890, 1_234_567_891);
    st = fs.fstatSync(fd, { bigint: true });
    assert.equal(st.atimeNs, 1_234_567_890_000_000_000n);
    assert.equal(st.mtimeNs, 1_234_567_891_000_000_000n);
    fs.closeSync(fd);

    let before = nowNs();
    await sh('touch', [f]);
    let after = nowNs();
    st = fs.statSync(f, { bigint: true });
    assertNear(st.atimeNs, before, after, 'touch sets atime to now');
    assertNear(st.mtimeNs, before, after, 'touch sets mtime to now');
    assertNear(st.ctimeNs, before, after, 'touch changes ctime');

    await sh('touch', ['-d', OLD, f]);
    await sh('touch', ['-a', f]);
    st = fs.statSync(f, { bigint: true });
    assert.equal(st.mtimeNs, OLD_NS, 'touch -a leaves mtime alone (UTIME_OMIT)');
    assert.ok(st.atimeNs > OLD_NS);
    await sh('touch', ['-d', OLD, f]);
    await sh('touch', ['-m', f]);
    st = fs.statSync(f, { bigint: true });
    assert.equal(st.atimeNs, OLD_NS, 'touch -m leaves atime alone');
    assert.ok(st.mtimeNs > OLD_NS);

    await sh('touch', ['-d', OLD, f]);
    before = nowNs();
    fs.appendFileSync(f, 'more');
    after = nowNs();
    st = fs.statSync(f, { bigint: true });
    assertNear(st.mtimeNs, before, after, 'a write sets mtime');
    assertNear(st.ctimeNs, before, after, 'a write sets ctime');

    await sh('touch', ['-d', OLD, f]);
    fs.chmodSync(f, 0o600);
    st = fs.statSync(f, { bigint: true });
    assert.equal(st.mtimeNs, OLD_NS, 'chmod leaves mtime alone');
    assert.ok(st.ctimeNs > OLD_NS, 'chmod changes ctime');

    await sh('touch', [f]);
    fs.symlinkSync('f', path.join(d, 'l'));
    await sh('touch', ['-h', '-d', OLD, path.join(d, 'l')]);
    assert.equal(fs.lstatSync(path.join(d, 'l'), { bigint: true }).mtimeNs, OLD_NS);
    assert.notEqual(fs.statSync(f, { bigint: true }).mtimeNs, OLD_NS, 'touch -h does not follow the link');

    await sh('touch', ['-d', OLD, d]);
    before = nowNs();
    fs.writeFileSync(path.join(d, 'new'), '');
    after = nowNs();
    st = fs.statSync(d, { bigint: true });
    assertNear(st.mtimeNs, before, after, 'creating an entry sets the directory mtime');
    await sh('touch', ['-d', OLD, d]);
    fs.unlinkSync(path.join(d, 'new'));
    assert.ok(fs.statSync(d, { bigint: true }).mtimeNs > OLD_NS, 'removing an entry sets the directory mtime');
  });

  await t.test('chmod and chown, and the kernel checks permissions against them', async () => {
    const d = fresh('owner');
    fs.chmodSync(path.dirname(pod.mount), 0o755);
    fs.chmodSync(d, 0o755);
    const f = path.join(d, 'f');
    fs.writeFileSync(f, 'secret', { mode: 0o600 });
    fs.chmodSync(f, 0o4750);
    assert.equal(fs.statSync(f).mode & 0o7777, 0o4750);
    const fd = fs.openSync(f, 'r');
    fs.fchmodSync(fd, 0o640);
    fs.closeSync(fd);
    assert.equal(fs.statSync(f).mode & 0o7777, 0o640);
    fs.mkdirSync(path.join(d, 'sticky'));
    fs.chmodSync(path.join(d, 'sticky'), 0o1777);
    assert.equal(fs.statSync(path.join(d, 'sticky')).mode & 0o7777, 0o1777);

    const probe = `${PY_PRELUDE}
os.setgid(5678); os.setuid(1234)
p = sys.argv[1]
print(json.dumps({'read': code(lambda: os.close(os.open(p, os.O_RDONLY))),
                  'write': code(lambda: os.close(os.open(p, os.O_WRONLY))),
                  'create': code(lambda: os.close(os.open(p + '.new', os.O_CREAT | os.O_WRONLY, 0o644)))}))`;
    assert.deepEqual(JSON.parse(await pythonOk(probe, [f])), { read: 'EACCES', write: 'EACCES', create: 'EACCES' });

    fs.chownSync(f, 1234, 5678);
    let st = fs.statSync(f);
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 5678);
    fs.chownSync(d, 1234, 5678);
    assert.deepEqual(JSON.parse(await pythonOk(probe, [f])), { read: 'ok', write: 'ok', create: 'ok' });
    assert.equal(fs.statSync(`${f}.new`).uid, 1234, 'a new file belongs to its creator');
    assert.equal(fs.statSync(`${f}.new`).gid, 5678);

    fs.chmodSync(f, 0o6755);
    fs.chownSync(f, 1000, 1000);
    st = fs.statSync(f);
    assert.equal(st.mode & 0o7777, 0o755, 'chown of an executable clears set-user-id and set-group-id');

    fs.symlinkSync('f', path.join(d, 'l'));
    fs.lchownSync(path.join(d, 'l'), 4321, 4321);
    assert.equal(fs.lstatSync(path.join(d, 'l')).uid, 4321);
    assert.equal(fs.statSync(f).uid, 1000, 'lchown does not follow the link');
    assert.throws(() => fs.chmodSync(path.join(d, 'missing'), 0o644), { code: 'ENOENT' });
  });

  await t.test('mkdir and rmdir: EEXIST, ENOENT, ENOTDIR, ENOTEMPTY, link counts', () => {
    const d = fresh('dirs');
    const a = path.join(d, 'a');
    fs.mkdirSync(a, { mode: 0o750 });
    assert.equal(fs.statSync(a).mode & 0o7777, 0o750);
    assert.throws(() => fs.mkdirSync(a), { code: 'EEXIST' });
    assert.throws(() => fs.mkdirSync(path.join(d, 'x', 'y')), { code: 'ENOENT' });
    fs.writeFileSync(path.join(d, 'file'), '');
    assert.throws(() => fs.mkdirSync(path.join(d, 'file', 'sub')), { code: 'ENOTDIR' });
    assert.throws(() => fs.mkdirSync(path.join(d, 'file')), { code: 'EEXIST' });

    const deep = path.join(a, ...Array.from({ length: 30 }, (_, i) => `level${i}`));
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'leaf'), 'leaf');
    assert.equal(fs.readFileSync(path.join(deep, 'leaf'), 'utf8'), 'leaf');

    assert.equal(fs.statSync(d).nlink, 3, 'one subdirectory');
    fs.mkdirSync(path.join(d, 'b'));
    assert.equal(fs.statSync(d).nlink, 4, 'two subdirectories');
    assert.throws(() => fs.rmdirSync(a), { code: 'ENOTEMPTY' });
    assert.throws(() => fs.rmdirSync(path.join(d, 'file')), { code: 'ENOTDIR' });
    assert.throws(() => fs.rmdirSync(path.join(d, 'missing')), { code: 'ENOENT' });
    fs.rmdirSync(path.join(d, 'b'));
    assert.throws(() => fs.statSync(path.join(d, 'b')), { code: 'ENOENT' });
    assert.equal(fs.statSync(d).nlink, 3);
    fs.rmSync(a, { recursive: true });
    assert.deepEqual(fs.readdirSync(d), ['file']);
  });

  await t.test('readdir: 1000 entries, file types, resumed listings, ENOTDIR', async () => {
    const d = fresh('list');
    const names = Array.from({ length: 1000 }, (_, i) => `entry-${i.toString().padStart(4, '0')}`);
    for (const n of names) fs.writeFileSync(path.join(d, n), n);
    assert.deepEqual(fs.readdirSync(d).sort(), names);
    const dir = fs.opendirSync(d, { bufferSize: 7 });
    const seen: string[] = [];
    for (let e = dir.readSync(); e; e = dir.readSync()) seen.push(e.name);
    dir.closeSync();
    assert.deepEqual(seen.sort(), names, 'a listing read a few entries at a time sees each entry once');
    assert.equal((await sh('ls', ['-f', d])).trim().split('\n').length, 1002, 'ls -f shows . and .. too');
    for (const n of names.slice(0, 500)) fs.unlinkSync(path.join(d, n));
    assert.deepEqual(fs.readdirSync(d).sort(), names.slice(500));

    const t2 = fresh('types');
    fs.writeFileSync(path.join(t2, 'file'), '');
    fs.mkdirSync(path.join(t2, 'dir'));
    fs.symlinkSync('file', path.join(t2, 'link'));
    await sh('mkfifo', [path.join(t2, 'fifo')]);
    const types = Object.fromEntries(
      fs
        .readdirSync(t2, { withFileTypes: true })
        .map((e) => [
          e.name,
          e.isFile() ? 'file' : e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'link' : e.isFIFO() ? 'fifo' : '?',
        ]),
    );
    assert.deepEqual(types, { file: 'file', dir: 'dir', link: 'link', fifo: 'fifo' });
    assert.throws(() => fs.readdirSync(path.join(t2, 'file')), { code: 'ENOTDIR' });
    assert.throws(() => fs.readdirSync(path.join(t2, 'missing')), { code: 'ENOENT' });
  });

  await t.test('rename: move, replace, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL, link counts', () => {
    const d = fresh('rename');
    const p = (n: string) => path.join(d, n);
    fs.writeFileSync(p('a'), 'A');
    const ino = fs.statSync(p('a'), { bigint: true }).ino;
    fs.renameSync(p('a'), p('b'));
    assert.throws(() => fs.statSync(p('a')), { code: 'ENOENT' });
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'A');
    assert.equal(fs.statSync(p('b'), { bigint: true }).ino, ino, 'rename keeps the inode');

    fs.writeFileSync(p('c'), 'C');
    const held = fs.openSync(p('c'), 'r');
    fs.renameSync(p('b'), p('c'));
    assert.equal(fs.readFileSync(p('c'), 'utf8'), 'A', 'the target is replaced');
    assert.deepEqual(fs.readdirSync(d).sort(), ['c']);
    assert.equal(fs.readFileSync(held, 'utf8'), 'C', 'the replaced file stays readable by an open descriptor');
    fs.closeSync(held);

    fs.mkdirSync(p('dir'));
    fs.mkdirSync(p('full'));
    fs.writeFileSync(p('full/x'), 'x');
    fs.mkdirSync(p('empty'));
    assert.throws(() => fs.renameSync(p('c'), p('dir')), { code: 'EISDIR' });
    assert.throws(() => fs.renameSync(p('dir'), p('c')), { code: 'ENOTDIR' });
    assert.throws(() => fs.renameSync(p('dir'), p('full')), { code: 'ENOTEMPTY' });
    assert.throws(() => fs.renameSync(p('missing'), p('z')), { code: 'ENOENT' });
    fs.mkdirSync(p('dir/sub'));
    assert.throws(() => fs.renameSync(p('dir'), p('dir/sub/inside')), { code: 'EINVAL' });
    assert.throws(() => fs.renameSync(p('dir'), p('dir/inside')), { code: 'EINVAL' });

    fs.renameSync(p('dir'), p('empty'));
    assert.ok(fs.statSync(p('empty/sub')).isDirectory(), 'a directory replaces an empty one');
    assert.throws(() => fs.statSync(p('dir')), { code: 'ENOENT' });

    assert.equal(fs.statSync(d).nlink, 4, 'empty and full');
    fs.renameSync(p('empty/sub'), p('full/sub'));
    assert.equal(fs.statSync(p('empty')).nlink, 2);
    assert.equal(fs.statSync(p('full')).nlink, 3);
    assert.equal(
      fs.statSync(p('full/sub/..'), { bigint: true }).ino,
      fs.statSync(p('full'), { bigint: true }).ino,
      '.. follows the move',
    );
    fs.renameSync(p('full'), p('moved'));
    assert.equal(fs.readFileSync(p('moved/x'), 'utf8'), 'x');

    fs.linkSync(p('c'), p('c2'));
    fs.renameSync(p('c'), p('c2'));
    assert.deepEqual(
      fs
        .readdirSync(d)
        .filter((n) => n.startsWith('c'))
        .sort(),
      ['c', 'c2'],
      'renaming onto another name of the same file does nothing',
    );
    fs.renameSync(p('c2'), p('c2'));
    assert.equal(fs.readFileSync(p('c2'), 'utf8'), 'A');
  });

  await t.test('link: shared content, nlink, EPERM on a directory, EEXIST', () => {
    const d = fresh('link');
    const p = (n: string) => path.join(d, n);
    fs.writeFileSync(p('a'), 'one');
    fs.linkSync(p('a'), p('b'));
    assert.equal(fs.statSync(p('a')).nlink, 2);
    assert.equal(fs.statSync(p('b'), { bigint: true }).ino, fs.statSync(p('a'), { bigint: true }).ino);
    fs.appendFileSync(p('b'), '+two');
    assert.equal(fs.readFileSync(p('a'), 'utf8'), 'one+two', 'a write through one name shows through the other');
    fs.mkdirSync(p('sub'));
    fs.linkSync(p('a'), p('sub/c'));
    assert.equal(fs.statSync(p('b')).nlink, 3);
    assert.throws(() => fs.linkSync(p('sub'), p('sublink')), { code: 'EPERM' });
    assert.throws(() => fs.linkSync(p('a'), p('b')), { code: 'EEXIST' });
    assert.throws(() => fs.linkSync(p('missing'), p('x')), { code: 'ENOENT' });
    fs.unlinkSync(p('a'));
    assert.equal(fs.statSync(p('b')).nlink, 2);
    fs.unlinkSync(p('sub/c'));
    assert.equal(fs.statSync(p('b')).nlink, 1);
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'one+two');
  });

  await t.test('symlink, readlink, lstat, dangling links and loops', () => {
    const d = fresh('symlink');
    const p = (n: string) => path.join(d, n);
    fs.writeFileSync(p('target'), 'through the link');
    fs.symlinkSync('target', p('l'));
    assert.equal(fs.readlinkSync(p('l')), 'target');
    const ls = fs.lstatSync(p('l'));
    assert.ok(ls.isSymbolicLink());
    assert.equal(ls.size, 'target'.length);
    assert.ok(fs.statSync(p('l')).isFile(), 'stat follows the link');
    assert.equal(fs.readFileSync(p('l'), 'utf8'), 'through the link');
    fs.mkdirSync(p('dir'));
    fs.writeFileSync(p('dir/inner'), 'inner');
    fs.symlinkSync(p('dir'), p('absdir'));
    assert.equal(fs.readFileSync(p('absdir/inner'), 'utf8'), 'inner');
    fs.symlinkSync('nowhere', p('dangling'));
    assert.throws(() => fs.statSync(p('dangling')), { code: 'ENOENT' });
    assert.ok(fs.lstatSync(p('dangling')).isSymbolicLink());
    fs.symlinkSync('loop2', p('loop1'));
    fs.symlinkSync('loop1', p('loop2'));
    assert.throws(() => fs.readFileSync(p('loop1')), { code: 'ELOOP' });
    assert.throws(() => fs.readlinkSync(p('target')), { code: 'EINVAL' });
    assert.throws(() => fs.symlinkSync('x', p('l')), { code: 'EEXIST' });
    const long = `${'d/'.repeat(2047)}x`;
    fs.symlinkSync(long, p('long'));
    assert.equal(fs.readlinkSync(p('long')), long, 'a 4095-byte target is kept whole');
    fs.unlinkSync(p('l'));
    assert.equal(fs.readFileSync(p('target'), 'utf8'), 'through the link', 'unlinking a link leaves its target');
  });

  await t.test('unlink of an open file: gone from the listing, still usable by its descriptor', () => {
    const d = fresh('unlink');
    const f = path.join(d, 'open');
    fs.writeFileSync(f, 'still here');
    const fd = fs.openSync(f, 'r+');
    fs.unlinkSync(f);
    assert.deepEqual(fs.readdirSync(d), []);
    assert.throws(() => fs.statSync(f), { code: 'ENOENT' });
    assert.equal(fs.fstatSync(fd).nlink, 0);
    assert.equal(fs.readFileSync(fd, 'utf8'), 'still here');
    fs.writeSync(fd, ' and written', 10);
    assert.equal(fs.readSync(fd, Buffer.alloc(100), 0, 100, 0), 22);
    fs.closeSync(fd);
    fs.writeFileSync(f, 'new');
    assert.equal(fs.readFileSync(f, 'utf8'), 'new', 'the name can be used again');
    assert.throws(() => fs.unlinkSync(path.join(d, 'missing')), { code: 'ENOENT' });
    fs.mkdirSync(path.join(d, 'dir'));
    assert.throws(() => fs.unlinkSync(path.join(d, 'dir')), { code: 'EISDIR' });
  });
});
