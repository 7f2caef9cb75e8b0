/**
 * The rest of POSIX through the mount: FIFOs, devices and sockets, extended
 * attributes, name lengths, renameat2's flags, fsync, fallocate, statfs,
 * mmap, sparse files and large offsets, and everything surviving a remount.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { manifest, manifestDiff, PY_PRELUDE, pythonOk, seededBytes, sh, sha256, sha256File } from '../helpers/files.js';
import { isMounted, run, startPod } from '../helpers/pods.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1 << 20;

const RENAMEAT2 = `${PY_PRELUDE}
libc = ctypes.CDLL(None, use_errno=True)
def r2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) == 0:
        return 'ok'
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
print(r2(sys.argv[1], sys.argv[2], int(sys.argv[3])))`;
const NOREPLACE = 1;
const EXCHANGE = 2;

test('special files, xattrs, names, renameat2, sync, space and mmap through the mount', async (t) => {
  const pod = await startPod(t);
  const fresh = (name: string) => {
    const d = path.join(pod.mount, name);
    fs.mkdirSync(d);
    return d;
  };

  await t.test('mkfifo, a character device (mknod c 1 3) and a unix socket', async () => {
    const d = fresh('nodes');
    const fifo = path.join(d, 'fifo');
    await sh('mkfifo', ['-m', '0640', fifo]);
    const st = fs.statSync(fifo);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(
      await sh('sh', ['-c', 'printf "through the pipe" > "$1" & cat "$1"; wait', 'sh', fifo]),
      'through the pipe',
    );

    const dev = path.join(d, 'null');
    await sh('mknod', ['-m', '0666', dev, 'c', '1', '3']);
    const ds = fs.statSync(dev);
    assert.ok(ds.isCharacterDevice());
    assert.equal(ds.rdev, (1 << 8) | 3, 'rdev is makedev(1, 3)');
    assert.equal(ds.mode & 0o7777, 0o666);
    fs.writeFileSync(dev, 'discarded');
    assert.equal(fs.readFileSync(dev).length, 0, 'the node opens the null device');
    await sh('mknod', [path.join(d, 'loop'), 'b', '7', '0']);
    assert.ok(fs.statSync(path.join(d, 'loop')).isBlockDevice());
    assert.throws(() => fs.mkdirSync(dev), { code: 'EEXIST' });

    const sock = path.join(d, 'sock');
    const out = await pythonOk(
      `import socket, os, stat, sys
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(p)
a, _ = s.accept(); c.sendall(b'ping'); print(a.recv(4).decode(), stat.S_ISSOCK(os.lstat(p).st_mode))`,
      [sock],
    );
    assert.equal(out.trim(), 'ping True');
    assert.deepEqual(fs.readdirSync(d).sort(), ['fifo', 'loop', 'null', 'sock']);
  });

  await t.test('xattrs: set, get, list, remove, flags, ENODATA, ERANGE, sizes', async () => {
    const d = fresh('xattr');
    const f = path.join(d, 'f');
    fs.writeFileSync(f, 'x');
    const out = await pythonOk(
      `${PY_PRELUDE}
p = sys.argv[1]
r = {}
os.setxattr(p, 'user.color', b'blue')
r['get'] = os.getxattr(p, 'user.color').decode()
os.setxattr(p, 'user.bin', bytes(range(256)))
r['bin'] = os.getxattr(p, 'user.bin') == bytes(range(256))
r['list'] = sorted(os.listxattr(p))
r['create_existing'] = code(lambda: os.setxattr(p, 'user.color', b'x', os.XATTR_CREATE))
r['replace_missing'] = code(lambda: os.setxattr(p, 'user.nope', b'x', os.XATTR_REPLACE))
os.setxattr(p, 'user.color', b'red', os.XATTR_REPLACE)
r['replaced'] = os.getxattr(p, 'user.color').decode()
r['get_missing'] = code(lambda: os.getxattr(p, 'user.nope'))
r['remove_missing'] = code(lambda: os.removexattr(p, 'user.nope'))
os.removexattr(p, 'user.bin')
r['after_remove'] = code(lambda: os.getxattr(p, 'user.bin'))
r['list2'] = sorted(os.listxattr(p))
os.setxattr(p, 'user.empty', b'')
r['empty'] = os.getxattr(p, 'user.empty').hex()
os.setxattr(p, 'user.big', b'v' * 65536)
r['big'] = len(os.getxattr(p, 'user.big'))
r['too_big'] = code(lambda: os.setxattr(p, 'user.huge', b'v' * 65537))
import struct
acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', tag, perm, ident) for tag, perm, ident in
    [(0x01, 6, 0xffffffff), (0x02, 4, 1234), (0x04, 4, 0xffffffff), (0x10, 4, 0xffffffff), (0x20, 4, 0xffffffff)])
r['acl'] = code(lambda: os.setxattr(p, 'system.posix_acl_access', acl))
os.setxattr(p, 'trusted.root_only', b't')
r['trusted'] = os.getxattr(p, 'trusted.root_only').decode()
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(2)
r['size_probe'] = libc.getxattr(p.encode(), b'user.color', None, 0)
n = libc.getxattr(p.encode(), b'user.color', buf, 2)
r['small_buffer'] = errno.errorcode[ctypes.get_errno()] if n < 0 else n
d = os.path.dirname(p)
os.setxattr(d, 'user.on_dir', b'd')
r['dir'] = os.getxattr(d, 'user.on_dir').decode()
print(json.dumps(r))`,
      [f],
    );
    assert.deepEqual(JSON.parse(out), {
      get: 'blue',
      bin: true,
      list: ['user.bin', 'user.color'],
      create_existing: 'EEXIST',
      replace_missing: 'ENODATA',
      replaced: 'red',
      get_missing: 'ENODATA',
      remove_missing: 'ENODATA',
      after_remove: 'ENODATA',
      list2: ['user.color'],
      empty: '',
      big: 65536,
      too_big: 'E2BIG',
      acl: 'ENOTSUP',
      trusted: 't',
      size_probe: 3,
      small_buffer: 'ERANGE',
      dir: 'd',
    });
  });

  await t.test('names: 255 bytes work everywhere, 256 give ENAMETOOLONG', () => {
    const d = fresh('names');
    const p = (n: string) => path.join(d, n);
    const n255 = 'a'.repeat(255);
    const euro85 = '€'.repeat(85);
    fs.writeFileSync(p(n255), '255');
    fs.writeFileSync(p(euro85), 'euro');
    fs.mkdirSync(p('d'.repeat(255)));
    fs.symlinkSync(n255, p('s'.repeat(255)));
    assert.equal(fs.readFileSync(p('s'.repeat(255)), 'utf8'), '255');
    fs.renameSync(p(n255), p('b'.repeat(255)));
    fs.linkSync(p('b'.repeat(255)), p('h'.repeat(255)));
    assert.equal(fs.readFileSync(p('h'.repeat(255)), 'utf8'), '255');
    assert.equal(fs.readFileSync(p(euro85), 'utf8'), 'euro', '85 three-byte characters are 255 bytes');
    assert.deepEqual(
      fs.readdirSync(d).sort(),
      ['b', 'd', 'h', 's']
        .map((c) => c.repeat(255))
        .concat(euro85)
        .sort(),
    );

    const n256 = 'c'.repeat(256);
    const euro86 = '€'.repeat(86);
    assert.throws(() => fs.writeFileSync(p(n256), ''), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.writeFileSync(p(euro86), ''), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.statSync(p(n256)), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.mkdirSync(p(n256)), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.symlinkSync('x', p(n256)), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.renameSync(p(euro85), p(n256)), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.linkSync(p(euro85), p(n256)), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.mkdirSync(p(`${n256}/x`), { recursive: true }), { code: 'ENAMETOOLONG' });
    assert.equal(fs.readdirSync(d).length, 5, 'nothing was made by the failed calls');
  });

  await t.test('renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE', async () => {
    const d = fresh('renameat2');
    const p = (n: string) => path.join(d, n);
    const r2 = async (a: string, b: string, flags: number) =>
      (await pythonOk(RENAMEAT2, [p(a), p(b), String(flags)])).trim();
    fs.writeFileSync(p('a'), 'A');
    fs.writeFileSync(p('b'), 'B');
    assert.equal(await r2('a', 'b', NOREPLACE), 'EEXIST');
    assert.equal(fs.readFileSync(p('a'), 'utf8'), 'A');
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'B');
    assert.equal(await r2('a', 'c', NOREPLACE), 'ok');
    assert.throws(() => fs.statSync(p('a')), { code: 'ENOENT' });
    assert.equal(fs.readFileSync(p('c'), 'utf8'), 'A');

    assert.equal(await r2('c', 'b', EXCHANGE), 'ok');
    assert.equal(fs.readFileSync(p('c'), 'utf8'), 'B');
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'A');
    assert.equal(await r2('c', 'missing', EXCHANGE), 'ENOENT');
    assert.equal(await r2('c', 'b', NOREPLACE | EXCHANGE), 'EINVAL');

    fs.mkdirSync(p('dir'));
    fs.writeFileSync(p('dir/inside'), 'in');
    assert.equal(await r2('b', 'dir', EXCHANGE), 'ok', 'a file and a directory swap');
    assert.ok(fs.statSync(p('b')).isDirectory());
    assert.equal(fs.readFileSync(p('b/inside'), 'utf8'), 'in');
    assert.equal(fs.readFileSync(p('dir'), 'utf8'), 'A');

    fs.mkdirSync(p('x'));
    fs.mkdirSync(p('y'));
    fs.writeFileSync(p('x/one'), '1');
    fs.mkdirSync(p('y/sub'));
    assert.equal(await r2('x/one', 'y/sub', EXCHANGE), 'ok', 'across directories');
    assert.ok(fs.statSync(p('x/one')).isDirectory());
    assert.equal(fs.readFileSync(p('y/sub'), 'utf8'), '1');
    assert.equal(fs.statSync(p('x/one/..'), { bigint: true }).ino, fs.statSync(p('x'), { bigint: true }).ino);
    assert.equal(await r2('x', 'x/one', EXCHANGE), 'EINVAL', 'a directory cannot swap with its own child');
    assert.deepEqual(fs.readdirSync(d).sort(), ['b', 'c', 'dir', 'x', 'y']);
  });

  await t.test('fsync, fdatasync, fsync of a directory and sync -f', async () => {
    const d = fresh('fsync');
    const f = path.join(d, 'f');
    const data = seededBytes('fsync', MiB + 3);
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
    assert.equal(fs.fstatSync(fd).size, data.length);
    fs.writeSync(fd, 'tail');
    fs.fdatasyncSync(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    assert.ok(fs.readFileSync(f).equals(Buffer.concat([data, Buffer.from('tail')])));
    const dfd = fs.openSync(d, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    await sh('sync', ['-f', f]);
  });

  await t.test('fallocate: grow, keep size, punch a hole, zero a range, unsupported modes', async () => {
    const d = fresh('fallocate');
    const f = path.join(d, 'f');
    await sh('fallocate', ['-l', '1MiB', f]);
    assert.equal(fs.statSync(f).size, MiB);
    assert.ok(fs.readFileSync(f).every((b) => b === 0));
    const data = seededBytes('fallocate', 3 * 4096);
    fs.writeFileSync(f, data);
    await sh('fallocate', ['-o', '8192', '-l', '1MiB', f]);
    assert.equal(fs.statSync(f).size, 8192 + MiB);
    assert.ok(fs.readFileSync(f).subarray(0, 8192).equals(data.subarray(0, 8192)), 'fallocate keeps the data');
    assert.ok(
      fs
        .readFileSync(f)
        .subarray(8192, 3 * 4096)
        .equals(data.subarray(8192)),
    );
    await sh('fallocate', ['-n', '-o', '0', '-l', '16MiB', f]);
    assert.equal(fs.statSync(f).size, 8192 + MiB, '--keep-size leaves the size');
    await sh('fallocate', ['-p', '-o', '0', '-l', '4096', f]);
    await sh('fallocate', ['-z', '-o', '8192', '-l', '4096', f]);
    const back = fs.readFileSync(f);
    assert.equal(back.length, 8192 + MiB);
    assert.ok(
      back.subarray(0, 4096).every((b) => b === 0),
      'the punched hole reads as zeros',
    );
    assert.ok(back.subarray(4096, 8192).equals(data.subarray(4096, 8192)));
    assert.ok(
      back.subarray(8192).every((b) => b === 0),
      'the zeroed range reads as zeros',
    );
    const r = await run('fallocate', ['-c', '-o', '0', '-l', '4096', f]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not supported/i);
  });

  await t.test('statfs via fs.statfsSync, df and stat -f', async () => {
    const s = fs.statfsSync(pod.mount);
    assert.equal(s.bsize, 4096);
    assert.ok(s.blocks > 0);
    assert.ok(s.bfree <= s.blocks && s.bavail <= s.bfree, JSON.stringify(s));
    assert.ok(s.files > 0 && s.ffree > 0 && s.ffree <= s.files, JSON.stringify(s));
    const df = (await sh('df', ['-P', pod.mount])).trim().split('\n');
    assert.equal(df.length, 2);
    assert.match(
      df[1] as string,
      new RegExp(`^wormhole:${pod.network}\\s+\\d+\\s+\\d+\\s+\\d+\\s+\\d+%\\s+${pod.mount}$`),
    );
    assert.equal((await sh('stat', ['-f', '-c', '%l', pod.mount])).trim(), '255');
  });

  await t.test('mmap: shared writes reach the file, also when unmapped after close', async () => {
    const f = path.join(fresh('mmap'), 'f');
    fs.writeFileSync(f, 'committed before the map');
    const out = await pythonOk(
      `import mmap, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
os.ftruncate(fd, 3 * 4096)
m = mmap.mmap(fd, 3 * 4096)
seen = m[0:9].decode()
m[0:5] = b'hello'
m[8192:8197] = b'world'
m.flush()
os.close(fd)
m[4096:4101] = b'after'
m.close()
print(seen)`,
      [f],
    );
    assert.equal(out.trim(), 'committed');
    const back = fs.readFileSync(f);
    assert.equal(back.length, 3 * 4096);
    assert.equal(back.subarray(0, 24).toString(), 'hellotted before the map');
    assert.equal(back.subarray(4096, 4101).toString(), 'after', 'pages dirtied after close() are written at munmap');
    assert.equal(back.subarray(8192, 8197).toString(), 'world');
  });

  await t.test('sparse files: offsets past 4 GiB, a 1 TiB size, blocks count only stored data', () => {
    const d = fresh('sparse');
    const f = path.join(d, 'f');
    const fd = fs.openSync(f, 'w+');
    const far = 5 * 1024 * MiB + 3;
    fs.writeSync(fd, 'far', far);
    assert.equal(fs.fstatSync(fd).size, far + 3);
    const buf = Buffer.alloc(10);
    assert.equal(fs.readSync(fd, buf, 0, 10, far - 7), 10);
    assert.equal(buf.toString('latin1'), '\0\0\0\0\0\0\0far');
    fs.closeSync(fd);
    assert.equal(fs.statSync(f).size, far + 3);
    fs.truncateSync(f, 2 ** 40);
    assert.equal(fs.statSync(f).size, 2 ** 40);
    const st = fs.statSync(f);
    assert.ok(
      st.blocks * 512 < 64 * MiB,
      `st_blocks counts what is stored, not the holes: ${st.blocks} blocks of 512 bytes for 3 bytes of data`,
    );
    const g = path.join(d, 'g');
    fs.writeFileSync(g, seededBytes('blocks', MiB));
    assert.ok(fs.statSync(g).blocks * 512 >= MiB, 'a full file counts all its blocks');
  });
});

test('data, metadata and xattrs are the same after the daemon stops and starts again', async (t) => {
  const pod = await startPod(t);
  const m = (n: string) => path.join(pod.mount, n);
  const data = seededBytes('remount', 5 * MiB + 12345);
  fs.writeFileSync(m('random.bin'), data);
  const fd = fs.openSync(m('random.bin'), 'r+');
  fs.writeSync(fd, Buffer.from('patched'), 0, 7, 3 * MiB);
  fs.closeSync(fd);
  data.write('patched', 3 * MiB);
  const sparse = fs.openSync(m('sparse'), 'w');
  fs.writeSync(sparse, Buffer.from('end'), 0, 3, 3 * MiB);
  fs.closeSync(sparse);
  fs.writeFileSync(m('cut'), seededBytes('cut', MiB));
  fs.truncateSync(m('cut'), 1000);
  fs.writeFileSync(m('owned'), 'owned', { mode: 0o751 });
  fs.chownSync(m('owned'), 1234, 5678);
  await sh('touch', ['-d', '2001-02-03 04:05:06.123456789 +0000', m('owned')]);
  fs.symlinkSync('random.bin', m('link'));
  fs.linkSync(m('owned'), m('hardlink'));
  await sh('mkfifo', [m('fifo')]);
  await sh('mknod', [m('null'), 'c', '1', '3']);
  fs.mkdirSync(m('many'));
  for (let i = 0; i < 200; i++) fs.writeFileSync(m(`many/${i}`), `file ${i}`);
  fs.rmSync(m('many/7'));
  fs.renameSync(m('many/8'), m('many/eight'));
  await pythonOk(
    "import os, sys; os.setxattr(sys.argv[1], 'user.kept', b'across restarts'); os.setxattr(sys.argv[2], 'user.d', b'dir')",
    [m('owned'), m('many')],
  );
  const before = await manifest(pod.mount, { xattrs: true });
  const inodes = Object.fromEntries(
    Object.keys(before).map((k) => [k, fs.lstatSync(m(k), { bigint: true }).ino.toString()]),
  );

  await pod.daemon.stop();
  assert.equal(isMounted(pod.mount), false);
  await pod.daemon.start();
  await waitFor('the remount', () => isMounted(pod.mount));

  assert.equal(sha256File(m('random.bin')), sha256(data));
  const sp = fs.readFileSync(m('sparse'));
  assert.equal(sp.length, 3 * MiB + 3);
  assert.ok(sp.subarray(0, 3 * MiB).every((b) => b === 0));
  assert.equal(sp.subarray(3 * MiB).toString(), 'end');
  assert.equal(fs.statSync(m('cut')).size, 1000);
  assert.deepEqual(manifestDiff(await manifest(pod.mount, { xattrs: true }), before), []);
  assert.deepEqual(
    Object.fromEntries(Object.keys(before).map((k) => [k, fs.lstatSync(m(k), { bigint: true }).ino.toString()])),
    inodes,
    'inode numbers are stable across a restart',
  );
});
