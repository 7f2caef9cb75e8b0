/**
 * The driver against the real kernel: a small in-memory file system is
 * mounted and used through node:fs (python3 for xattrs). The file system is
 * served by this process's event loop, so every file operation here must be
 * asynchronous: a synchronous call would wait on a reply that can never come.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { type Dirent, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { abortConnection, clearStaleMount, isMounted } from './mount.js';
import { errnoOf, FuseSession, type SessionOptions } from './session.js';
import { type Attr, type Entry, FuseError, type FuseOperations, type Request } from './types.js';

const SUBTYPE = 'drivertest';
const E = os.constants.errno;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const O_TRUNC = 0o1000;
const T = { timeout: 60_000 };
const STATFS = { blocks: 1000, bfree: 500, bavail: 400, files: 100, ffree: 50 };

// ---- an in-memory file system ------------------------------------------------

interface Node {
  ino: bigint;
  mode: number;
  /** file contents, or a symlink's target */
  data: Buffer;
  children?: Map<string, Node>;
  xattrs: Map<string, Buffer>;
  atime: bigint;
  mtime: bigint;
  /** reads wait until the request is interrupted */
  hang?: boolean;
  directIo?: boolean;
}

const fail = (code: string): never => {
  throw new FuseError(code);
};

function resized(b: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  b.copy(out, 0, 0, Math.min(size, b.length));
  return out;
}

class MemFs {
  readonly nodes = new Map<bigint, Node>();
  /** lookup of these names fails with `err`, thrown synchronously if `sync` */
  readonly faults = new Map<string, { err: unknown; sync?: boolean }>();
  readonly calls: Record<string, number> = {};
  /** entry and attribute timeouts, seconds */
  timeout = 0;
  /** reads answer with buffers of at most this many bytes */
  pieceSize = 100_003;
  maxPieces = 0;
  interrupted = false;
  private nextIno = 1n;
  readonly root = this.make(S_IFDIR | 0o755);

  private make(mode: number, data: Buffer = Buffer.alloc(0)): Node {
    const now = BigInt(Date.now()) * 1_000_000n;
    const n: Node = { ino: this.nextIno++, mode, data, xattrs: new Map(), atime: now, mtime: now };
    if ((mode & S_IFMT) === S_IFDIR) n.children = new Map();
    this.nodes.set(n.ino, n);
    return n;
  }

  add(parent: Node, name: string, mode: number, data?: Buffer): Node {
    const dir = parent.children ?? fail('ENOTDIR');
    if (dir.has(name)) fail('EEXIST');
    const n = this.make(mode, data);
    dir.set(name, n);
    return n;
  }

  private hit(op: string): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
  }

  node(ino: bigint): Node {
    return this.nodes.get(ino) ?? fail('ENOENT');
  }

  private dir(ino: bigint): Map<string, Node> {
    return this.node(ino).children ?? fail('ENOTDIR');
  }

  private child(parent: bigint, name: Buffer): Node {
    return this.dir(parent).get(name.toString()) ?? fail('ENOENT');
  }

  attr(n: Node): Attr {
    const size = n.data.length;
    const times = { atime: n.atime, mtime: n.mtime, ctime: n.mtime };
    const ids = { uid: 0, gid: 0, rdev: 0, blksize: 4096 };
    const nlink = n.children ? 2 : 1;
    return { ino: n.ino, size, blocks: Math.ceil(size / 512), ...times, mode: n.mode, nlink, ...ids };
  }

  entry(n: Node): Entry {
    return { nodeid: n.ino, generation: 0n, entryTimeout: this.timeout, attrTimeout: this.timeout, attr: this.attr(n) };
  }

  private listing(ino: bigint, offset: bigint): Array<[Buffer, Node, bigint, boolean]> {
    const self = this.node(ino);
    const all: Array<[string, Node]> = [['.', self], ['..', self], ...this.dir(ino)];
    return all
      .slice(Number(offset))
      .map(([name, n], i) => [Buffer.from(name), n, offset + BigInt(i + 1), name.startsWith('.')]);
  }

  private async read(req: Request, ino: bigint, offset: number, size: number): Promise<Buffer[]> {
    const n = this.node(ino);
    if (n.hang) {
      this.hit('hang');
      const aborted = new Promise((_, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason)));
      await aborted.finally(() => (this.interrupted = true));
    }
    const bytes = n.data.subarray(offset, offset + size);
    const pieces: Buffer[] = [];
    for (let o = 0; o < bytes.length; o += this.pieceSize) pieces.push(bytes.subarray(o, o + this.pieceSize));
    this.maxPieces = Math.max(this.maxPieces, pieces.length);
    return pieces;
  }

  private rename(parent: bigint, name: Buffer, newParent: bigint, newName: Buffer, flags: number): void {
    const n = this.child(parent, name);
    const target = this.dir(newParent).get(newName.toString());
    if (flags & ~1) fail('EINVAL');
    if (target && flags & 1) fail('EEXIST');
    if (target?.children?.size) fail('ENOTEMPTY');
    this.dir(parent).delete(name.toString());
    this.dir(newParent).set(newName.toString(), n);
  }

  private remove(parent: bigint, name: Buffer): void {
    if (this.child(parent, name).children?.size) fail('ENOTEMPTY');
    this.dir(parent).delete(name.toString());
  }

  /** Every operation but those in `omit`. */
  ops(omit: Array<keyof FuseOperations> = []): FuseOperations {
    const reply = (n: Node) => ({ attr: this.attr(n), timeout: this.timeout });
    const ops: FuseOperations = {
      lookup: (_req, parent, name) => {
        const f = this.faults.get(name.toString());
        if (f?.sync) throw f.err;
        return f ? Promise.reject(f.err) : Promise.resolve(this.entry(this.child(parent, name)));
      },
      forget: () => this.hit('forget'),
      getattr: async (_req, ino) => reply(this.node(ino)),
      setattr: async (_req, ino, c) => {
        const n = this.node(ino);
        const now = BigInt(Date.now()) * 1_000_000n;
        if (c.mode !== undefined) n.mode = (n.mode & S_IFMT) | (c.mode & 0o7777);
        if (c.size !== undefined) n.data = resized(n.data, c.size);
        if (c.atime !== undefined) n.atime = c.atime === 'now' ? now : c.atime;
        if (c.mtime !== undefined) n.mtime = c.mtime === 'now' ? now : c.mtime;
        return reply(n);
      },
      readdir: async (_req, ino, _fh, offset, out) => {
        this.hit('readdir');
        for (const [name, n, next] of this.listing(ino, offset)) if (!out.add(name, n.ino, n.mode, next)) break;
      },
      readdirplus: async (_req, ino, _fh, offset, out) => {
        this.hit('readdirplus');
        for (const [name, n, next, dot] of this.listing(ino, offset)) {
          if (!out.add(name, dot ? null : this.entry(n), n.ino, n.mode, next)) break;
        }
      },
      open: async (_req, ino, flags) => {
        const n = this.node(ino);
        if (flags & O_TRUNC) n.data = Buffer.alloc(0);
        return { fh: ino, directIo: n.directIo };
      },
      read: (req, ino, _fh, offset, size) => this.read(req, ino, offset, size),
      write: async (_req, ino, _fh, offset, data) => {
        const n = this.node(ino);
        if (offset + data.length > n.data.length) n.data = resized(n.data, offset + data.length);
        data.copy(n.data, offset);
        return data.length;
      },
      create: async (_req, parent, name, mode) => {
        const n = this.add(this.node(parent), name.toString(), mode);
        return { entry: this.entry(n), open: { fh: n.ino } };
      },
      mkdir: async (_req, parent, name, mode) =>
        this.entry(this.add(this.node(parent), name.toString(), S_IFDIR | (mode & 0o7777))),
      unlink: async (_req, parent, name) => this.remove(parent, name),
      rmdir: async (_req, parent, name) => this.remove(parent, name),
      rename: async (_req, parent, name, newParent, newName, flags) =>
        this.rename(parent, name, newParent, newName, flags),
      readlink: async (_req, ino) => this.node(ino).data,
      symlink: async (_req, parent, name, target) =>
        this.entry(this.add(this.node(parent), name.toString(), S_IFLNK | 0o777, Buffer.from(target))),
      statfs: async () => ({ ...STATFS, bsize: 4096, frsize: 4096, namelen: 255 }),
      setxattr: async (_req, ino, name, value, flags) => {
        const x = this.node(ino).xattrs;
        if (flags & 1 && x.has(name.toString())) fail('EEXIST');
        if (flags & 2 && !x.has(name.toString())) fail('ENODATA');
        x.set(name.toString(), Buffer.from(value));
      },
      getxattr: async (_req, ino, name) => this.node(ino).xattrs.get(name.toString()) ?? fail('ENODATA'),
      listxattr: async (_req, ino) => [...this.node(ino).xattrs.keys()].map((k) => Buffer.from(k)),
      removexattr: async (_req, ino, name) => {
        if (!this.node(ino).xattrs.delete(name.toString())) fail('ENODATA');
      },
    };
    for (const k of omit) delete ops[k];
    return ops;
  }
}

// ---- harness -----------------------------------------------------------------

const run = promisify(execFile);

/** Polls `probe` with backoff until it returns something truthy. */
async function waitFor<V>(what: string, probe: () => V | false | Promise<V | false>, timeoutMs = 10_000): Promise<V> {
  const end = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const v = await probe();
    if (v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(delay);
  }
}

/** `p`, or a rejection once `ms` have passed. */
async function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  const late = Symbol('late');
  const v = await Promise.race([p, sleep(ms, late, { ref: false })]);
  if (v === late) throw new Error(`${what}: over ${ms} ms`);
  return v as V;
}

/** The device number of a FUSE mount of ours on `dir`, which names its fusectl connection. */
function fuseDev(dir: string): number | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === dir && line.includes(` - fuse.${SUBTYPE} `)) return Number(f[2]?.split(':')[1]);
  }
  return undefined;
}

/**
 * A fresh directory under the temp dir, unmounted and removed when the test
 * ends. A mount left behind is aborted first, so no process stays stuck on it.
 */
async function mountPoint(t: TestContext, cleanup?: () => Promise<unknown>): Promise<string> {
  const dir = await fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), 'fuse-driver-')));
  t.after(async () => {
    try {
      await cleanup?.();
    } finally {
      const dev = fuseDev(dir);
      if (dev !== undefined) await abortConnection(dev);
      if (isMounted(dir)) await run('umount', ['-l', dir]).catch(() => undefined); // it may have just gone
      await fsp.rmdir(dir);
    }
  });
  return dir;
}

/** A child process; its output is collected. */
function child(t: TestContext, cmd: string, args: string[]) {
  const c = spawn(cmd, args, { stdio: 'pipe' });
  const proc = { c, out: '', exited: new Promise<NodeJS.Signals | null>((r) => c.on('exit', (_, sig) => r(sig))) };
  c.stdout.on('data', (d: Buffer) => (proc.out += d));
  c.stderr.on('data', (d: Buffer) => (proc.out += d));
  t.after(() => c.kill('SIGKILL'));
  return proc;
}

async function mount(t: TestContext, ops: FuseOperations, opts: Partial<SessionOptions> = {}) {
  let session: FuseSession | undefined;
  const dir = await mountPoint(t, async () => session && within(session.unmount(500), 10_000, 'unmount'));
  session = await FuseSession.mount(ops, { mountpoint: dir, subtype: SUBTYPE, allowOther: true, ...opts });
  return { session, dir, p: (...names: string[]) => path.join(dir, ...names) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type XattrResult = { ret?: number; data?: string; errno?: number };

/** Runs xattr calls on one file; get and list go through libc, so size queries and short buffers reach the kernel. */
const XATTR_PY = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.restype = libc.listxattr.restype = ctypes.c_ssize_t
def call(path, op, *a):
    try:
        if op == 'set': return {'ret': os.setxattr(path, a[0], a[1].encode(), a[2]) or 0}
        if op == 'remove': return {'ret': os.removexattr(path, a[0]) or 0}
    except OSError as e:
        return {'errno': e.errno}
    buf = ctypes.create_string_buffer(a[-1]) if a[-1] else None
    names = (path.encode(), a[0].encode()) if op == 'get' else (path.encode(),)
    r = getattr(libc, op + 'xattr')(*names, buf, ctypes.c_size_t(a[-1]))
    if r < 0: return {'errno': ctypes.get_errno()}
    return {'ret': r, 'data': buf.raw[:r].decode('latin1')} if buf is not None else {'ret': r}
path, calls = json.loads(sys.argv[1])
print(json.dumps([call(path, *c) for c in calls]))
`;

async function xattr(file: string, calls: unknown[][]): Promise<XattrResult[]> {
  const { stdout } = await run('python3', ['-c', XATTR_PY, JSON.stringify([file, calls])]);
  return JSON.parse(stdout) as XattrResult[];
}

// ---- tests -------------------------------------------------------------------

test('files are created, written, read, listed and stat-ed through the kernel', T, async (t) => {
  const mem = new MemFs();
  const m = await mount(t, mem.ops());
  await fsp.writeFile(m.p('hello.txt'), 'hello, world\n');
  assert.equal(await fsp.readFile(m.p('hello.txt'), 'utf8'), 'hello, world\n');
  const fh = await fsp.open(m.p('hello.txt'), 'r+');
  await fh.write(Buffer.from('WORLD'), 0, 5, 7);
  await fh.write(Buffer.from('!!'), 0, 2, 13);
  await fh.sync();
  await fh.close();
  assert.equal(mem.root.children?.get('hello.txt')?.data.toString(), 'hello, WORLD\n!!');
  await fsp.writeFile(m.p('hello.txt'), 'short');
  assert.equal(await fsp.readFile(m.p('hello.txt'), 'utf8'), 'short', 'O_TRUNC reaches open');

  const st = await fsp.stat(m.p('hello.txt'));
  assert.equal(st.size, 5);
  assert.equal(st.mode & S_IFMT, S_IFREG);
  assert.equal(st.ino, Number(mem.root.children?.get('hello.txt')?.ino));
  await fsp.mkdir(m.p('sub'));
  await fsp.symlink('hello.txt', m.p('link'));
  const kind = (d: Dirent) => (d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'link' : '?');
  const listed = (await fsp.readdir(m.dir, { withFileTypes: true })).map((d) => `${d.name}:${kind(d)}`);
  assert.deepEqual(listed.sort(), ['hello.txt:file', 'link:link', 'sub:dir']);
  const { bsize, blocks, bfree, bavail, files, ffree } = await fsp.statfs(m.dir);
  assert.deepEqual({ blocks, bfree, bavail, files, ffree }, STATFS);
  assert.equal(bsize, 4096);
});

test('mkdir, rmdir, unlink, rename and symlinks', T, async (t) => {
  const m = await mount(t, new MemFs().ops());
  await fsp.mkdir(m.p('d'));
  await fsp.writeFile(m.p('d', 'f'), 'in d');
  await assert.rejects(fsp.rmdir(m.p('d')), { code: 'ENOTEMPTY' });
  await assert.rejects(fsp.mkdir(m.p('d')), { code: 'EEXIST' });
  await fsp.rename(m.p('d', 'f'), m.p('g'));
  await assert.rejects(fsp.stat(m.p('d', 'f')), { code: 'ENOENT' });
  assert.equal(await fsp.readFile(m.p('g'), 'utf8'), 'in d');
  await fsp.writeFile(m.p('h'), 'replaced');
  await fsp.rename(m.p('h'), m.p('g'));
  assert.equal(await fsp.readFile(m.p('g'), 'utf8'), 'replaced');
  await fsp.rename(m.p('d'), m.p('e'));
  assert.deepEqual((await fsp.readdir(m.dir)).sort(), ['e', 'g']);
  await fsp.rmdir(m.p('e'));
  await fsp.symlink('../g', m.p('s'));
  assert.equal(await fsp.readlink(m.p('s')), '../g');
  assert.ok((await fsp.lstat(m.p('s'))).isSymbolicLink());
  await fsp.symlink('g', m.p('s2'));
  assert.equal(await fsp.readFile(m.p('s2'), 'utf8'), 'replaced', 'a symlink is followed');
  await fsp.unlink(m.p('g'));
  await assert.rejects(fsp.readFile(m.p('s2')), { code: 'ENOENT' });
  await assert.rejects(fsp.unlink(m.p('g')), { code: 'ENOENT' });
  assert.deepEqual((await fsp.readdir(m.dir)).sort(), ['s', 's2']);
});

test('setattr: truncate, chmod, and times before the epoch and to the nanosecond', T, async (t) => {
  const mem = new MemFs();
  const m = await mount(t, mem.ops());
  await fsp.writeFile(m.p('f'), '0123456789');
  await fsp.truncate(m.p('f'), 4);
  assert.equal(await fsp.readFile(m.p('f'), 'utf8'), '0123');
  await fsp.truncate(m.p('f'), 6);
  assert.deepEqual(await fsp.readFile(m.p('f')), Buffer.from('0123\0\0'));
  await fsp.chmod(m.p('f'), 0o640);
  assert.equal((await fsp.stat(m.p('f'))).mode, S_IFREG | 0o640);
  await fsp.utimes(m.p('f'), new Date(-1500), new Date(1_700_000_000_250));
  const st = await fsp.stat(m.p('f'));
  assert.equal(st.atimeMs, -1500);
  assert.equal(st.mtimeMs, 1_700_000_000_250);
  const n = mem.root.children?.get('f') as Node;
  n.atime = -1_000_000_001n;
  n.mtime = 1_234_567_890_123_456_789n;
  const big = await fsp.stat(m.p('f'), { bigint: true });
  assert.equal(big.atimeNs, -1_000_000_001n);
  assert.equal(big.mtimeNs, 1_234_567_890_123_456_789n);
});

test('a directory too large for one reply is listed whole, with readdirplus and with readdir', T, async (t) => {
  for (const omit of [[], ['readdirplus']] as Array<Array<keyof FuseOperations>>) {
    const mem = new MemFs();
    const big = mem.add(mem.root, 'big', S_IFDIR | 0o755);
    // the kernel asks for up to max_pages (1 MiB) of entries at once
    const names = Array.from({ length: 12_000 }, (_, i) => `entry-${i}-${'x'.repeat(i % 200)}`);
    for (const name of names) mem.add(big, name, S_IFREG | 0o644);
    const m = await mount(t, mem.ops(omit));
    const listed = await fsp.readdir(m.p('big'));
    assert.equal(listed.length, names.length);
    assert.deepEqual(listed.sort(), names.sort());
    // with READDIRPLUS_AUTO the kernel asks readdirplus for the first batch only
    const { readdir = 0, readdirplus = 0 } = mem.calls;
    assert.ok(readdir + readdirplus > 1, `${readdir} readdir and ${readdirplus} readdirplus requests`);
    assert.equal(readdirplus > 0, omit.length === 0);
  }
});

test('errors thrown by handlers reach the caller as their errno; anything else is EIO', T, async (t) => {
  const mem = new MemFs();
  const cases: Array<[string, unknown, string, boolean?]> = [
    ['code', { code: 'ENOENT' }, 'ENOENT'],
    ['fuse-error', new FuseError('EACCES'), 'EACCES'],
    ['errno', Object.assign(new Error('x'), { errno: E.ENAMETOOLONG }), 'ENAMETOOLONG'],
    ['negative-errno', { errno: -E.ELOOP }, 'ELOOP'],
    ['plain', new Error('boom'), 'EIO'],
    ['string', 'not an error at all', 'EIO'],
    ['unknown-code', { code: 'ENOTANERRNO' }, 'EIO'],
    ['sync', new FuseError('EPERM'), 'EPERM', true],
    ['sync-plain', new Error('boom'), 'EIO', true],
  ];
  for (const [name, err, , sync] of cases) mem.faults.set(name, { err, sync });
  const m = await mount(t, mem.ops());
  for (const [name, , code] of cases) await assert.rejects(fsp.stat(m.p(name)), { code }, name);
  await assert.rejects(fsp.stat(m.p('missing')), { code: 'ENOENT' });
  // EINTR cannot be seen through node:fs, which retries the call: check the mapping itself
  assert.equal(errnoOf(Object.assign(new Error('aborted'), { name: 'AbortError' })), E.EINTR);
});

test("operations left out get the kernel's fallback", T, async (t) => {
  const mem = new MemFs();
  mem.add(mem.root, 'f', S_IFREG | 0o644, Buffer.from('data'));
  const omit: Array<keyof FuseOperations> = ['setxattr', 'getxattr', 'listxattr', 'removexattr', 'readdirplus'];
  const m = await mount(t, mem.ops(omit), { defaultPermissions: false });
  await fsp.access(m.p('f'), fsp.constants.R_OK | fsp.constants.W_OK);
  const fh = await fsp.open(m.p('f'), 'r+');
  await fh.sync();
  await fh.datasync();
  await fh.close();
  // Linux 6.0 turned link's ENOSYS into EPERM; older kernels pass ENOSYS through
  await assert.rejects(fsp.link(m.p('f'), m.p('hard')), (err: NodeJS.ErrnoException) => {
    assert.match(err.code ?? '', /^(EPERM|ENOSYS)$/);
    return true;
  });
  const [get, list] = await xattr(m.p('f'), [
    ['get', 'user.x', 64],
    ['list', 64],
  ]);
  assert.equal(get?.errno, E.EOPNOTSUPP);
  assert.equal(list?.errno, E.EOPNOTSUPP);
});

test('xattrs: set, get, list, remove, size queries and ERANGE', T, async (t) => {
  const mem = new MemFs();
  const f = mem.add(mem.root, 'f', S_IFREG | 0o644);
  const m = await mount(t, mem.ops());
  const steps: Array<[unknown[], XattrResult]> = [
    [['set', 'user.color', 'blue-green', 0], { ret: 0 }],
    [['set', 'user.color', 'red', 1], { errno: E.EEXIST }], // XATTR_CREATE
    [['set', 'user.shape', 'round', 0], { ret: 0 }],
    [['set', 'user.none', 'x', 2], { errno: E.ENODATA }], // XATTR_REPLACE
    [['get', 'user.color', 0], { ret: 10 }],
    [['get', 'user.color', 4], { errno: E.ERANGE }],
    [['get', 'user.color', 10], { ret: 10, data: 'blue-green' }],
    [['get', 'user.missing', 64], { errno: E.ENODATA }],
    [['list', 0], { ret: 22 }],
    [['list', 21], { errno: E.ERANGE }],
    [['list', 256], { ret: 22, data: 'user.color\0user.shape\0' }],
    [['remove', 'user.color'], { ret: 0 }],
    [['get', 'user.color', 64], { errno: E.ENODATA }],
    [['remove', 'user.color'], { errno: E.ENODATA }],
  ];
  const got = await xattr(
    m.p('f'),
    steps.map(([call]) => call),
  );
  assert.deepEqual(
    got,
    steps.map(([, want]) => want),
  );
  assert.deepEqual([...f.xattrs], [['user.shape', Buffer.from('round')]]);
});

test('4 MiB written through the kernel and read back from replies of several buffers arrive intact', T, async (t) => {
  const mem = new MemFs();
  const data = randomBytes(4 << 20);
  const stored = mem.add(mem.root, 'stored', S_IFREG | 0o644, Buffer.from(data));
  const m = await mount(t, mem.ops());
  await fsp.writeFile(m.p('written'), data);
  assert.equal(sha(mem.root.children?.get('written')?.data ?? Buffer.alloc(0)), sha(data));
  const read = await fsp.readFile(m.p('stored'));
  assert.equal(read.length, stored.data.length);
  assert.equal(sha(read), sha(data));
  assert.ok(mem.maxPieces > 1, `replies had at most ${mem.maxPieces} buffers`);
});

test('a read reply of more buffers than writev takes at once (IOV_MAX) arrives intact', T, async (t) => {
  const mem = new MemFs();
  mem.pieceSize = 64;
  const data = randomBytes(1 << 20);
  // direct I/O: a failed page-cache read would be retried page by page, hiding the failure
  mem.add(mem.root, 'crumbs', S_IFREG | 0o644, Buffer.from(data)).directIo = true;
  const m = await mount(t, mem.ops());
  assert.equal(sha(await fsp.readFile(m.p('crumbs'))), sha(data));
  assert.ok(mem.maxPieces > 1024, `replies had at most ${mem.maxPieces} buffers`);
});

test('notifyInvalInode makes a changed size visible at once despite a 60 s attribute timeout', T, async (t) => {
  const mem = new MemFs();
  mem.timeout = 60;
  const f = mem.add(mem.root, 'grows', S_IFREG | 0o644, Buffer.from('0123456789'));
  const m = await mount(t, mem.ops());
  // no read before the change: a read invalidates the cached atime, and the next stat asks again
  assert.equal((await fsp.stat(m.p('grows'))).size, 10);
  f.data = Buffer.from('abcdefghijklmnopqrst');
  assert.equal((await fsp.stat(m.p('grows'))).size, 10, 'the kernel still trusts its cached attributes');
  assert.equal(await m.session.notifyInvalInode(f.ino), true);
  assert.equal((await fsp.stat(m.p('grows'))).size, 20);
  assert.equal(await fsp.readFile(m.p('grows'), 'utf8'), 'abcdefghijklmnopqrst');
  assert.equal(await m.session.notifyInvalInode(987_654n), false, 'an inode the kernel does not know');
});

test('notifyInvalEntry and notifyDelete make a removed name disappear despite a 60 s entry timeout', T, async (t) => {
  const mem = new MemFs();
  mem.timeout = 60;
  const old = mem.add(mem.root, 'old', S_IFREG | 0o644);
  const gone = mem.add(mem.root, 'gone', S_IFREG | 0o644);
  const m = await mount(t, mem.ops());
  await fsp.stat(m.p('old'));
  await fsp.stat(m.p('gone'));
  mem.root.children?.delete('old');
  mem.root.children?.delete('gone');
  await fsp.stat(m.p('old'));
  await fsp.stat(m.p('gone'));
  assert.equal(await m.session.notifyInvalEntry(mem.root.ino, Buffer.from('old')), true);
  await assert.rejects(fsp.stat(m.p('old')), { code: 'ENOENT' });
  assert.equal(await m.session.notifyDelete(mem.root.ino, gone.ino, Buffer.from('gone')), true);
  await assert.rejects(fsp.stat(m.p('gone')), { code: 'ENOENT' });
  assert.notEqual(old.ino, gone.ino);
});

test("an interrupted request aborts its handler's signal and the caller is let go", T, async (t) => {
  const mem = new MemFs();
  const slow = mem.add(mem.root, 'slow', S_IFREG | 0o644, Buffer.from('never read'));
  slow.hang = true;
  slow.directIo = true; // a synchronous READ, which the kernel interrupts
  const m = await mount(t, mem.ops());
  const cat = child(t, 'cat', [m.p('slow')]);
  await waitFor('the READ to reach the handler', () => (mem.calls.hang ?? 0) > 0);
  cat.c.kill('SIGTERM');
  assert.equal(await within(cat.exited, 10_000, 'cat to exit'), 'SIGTERM');
  assert.equal(mem.interrupted, true);
});

test('unmount resolves closed; a mount another process keeps busy is aborted after the grace period', T, async (t) => {
  const mem = new MemFs();
  mem.add(mem.root, 'f', S_IFREG | 0o644, Buffer.from('x'));
  const idle = await mount(t, mem.ops());
  await fsp.stat(idle.p('f'));
  await idle.session.unmount();
  assert.equal(isMounted(idle.dir), false);
  assert.equal(await idle.session.closed, undefined);
  await within(idle.session.unmount(), 1000, 'a second unmount');

  const busy = await mount(t, mem.ops());
  const holder = child(t, 'sh', ['-c', 'exec 3<"$1" && echo ready && read line && cat <&3', 'sh', busy.p('f')]);
  await waitFor('the file to be held open', () => holder.out.includes('ready'));
  await within(busy.session.unmount(300), 10_000, 'unmount of a busy mount');
  assert.equal(isMounted(busy.dir), false);
  assert.equal(await busy.session.closed, undefined);
  holder.c.stdin.end('go\n');
  await within(holder.exited, 10_000, 'the holder to exit');
  assert.match(holder.out, /not connected/, 'the connection is gone');
});

/** A process serving a file `f`. CommonJS with import(): the driver's reader threads are CommonJS and inherit --input-type. */
const CHILD = `(async () => {
  const [url, dir, mode] = process.argv.slice(1);
  const { FuseSession } = await import(url);
  const attr = (ino, mode) => ({ ino, size: 0, blocks: 0, atime: 0n, mtime: 0n, ctime: 0n, mode, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096 });
  const entry = { nodeid: 2n, generation: 0n, entryTimeout: 0, attrTimeout: 0, attr: attr(2n, 0o100644) };
  const ops = {
    getattr: async (_req, ino) => ({ attr: ino === 1n ? attr(1n, 0o40755) : entry.attr, timeout: 0 }),
    lookup: async () => entry,
    open: async () => ({ fh: 1n }),
    readdir: async () => {},
  };
  const s = await FuseSession.mount(ops, { mountpoint: dir, subtype: '${SUBTYPE}' });
  process.stdout.write('mounted\\n');
  if (mode === 'hold-and-unmount') {
    const fh = await require('node:fs/promises').open(dir + '/f');
    await s.unmount(300);
    process.stdout.write('unmounted\\n');
    await fh.close().catch(() => {});
    process.exit(0);
  }
  setInterval(() => {}, 1 << 30);
})();`;

function serve(t: TestContext, dir: string, mode = 'serve') {
  const session = new URL('./session.js', import.meta.url).href;
  return child(t, process.execPath, ['-e', CHILD, session, dir, mode]);
}

test('unmount returns when the serving process itself holds a file open on the mount', T, async (t) => {
  const dir = await mountPoint(t);
  const server = serve(t, dir, 'hold-and-unmount');
  try {
    await waitFor('the unmount', () => server.out.includes('unmounted'), 5000);
  } catch {
    // Free the process: its event loop waits on a reply only it could send.
    const dev = fuseDev(dir);
    if (dev !== undefined) await abortConnection(dev);
    assert.fail(`unmount() hung (${JSON.stringify(server.out)}); the connection had to be aborted`);
  }
  assert.equal(await within(server.exited, 10_000, 'the server to exit'), null);
  assert.equal(isMounted(dir), false);
});

test('clearStaleMount clears the mount of a killed process and refuses live or foreign ones', T, async (t) => {
  const dir = await mountPoint(t);
  const server = serve(t, dir);
  await waitFor('the child to mount', () => {
    if (server.c.exitCode !== null) throw new Error(`the child exited: ${server.out}`);
    return server.out.includes('mounted');
  });
  assert.ok((await fsp.stat(dir)).isDirectory(), 'served by the child');
  await assert.rejects(clearStaleMount(dir, SUBTYPE), { name: 'MountError', message: /running process/ });
  assert.equal(isMounted(dir), true, 'a live mount is left alone');

  server.c.kill('SIGKILL');
  assert.equal(await within(server.exited, 10_000, 'the child to die'), 'SIGKILL');
  await assert.rejects(fsp.stat(dir), { code: 'ENOTCONN' });
  assert.equal(await clearStaleMount(dir, SUBTYPE), true);
  assert.equal(isMounted(dir), false);
  assert.equal(await clearStaleMount(dir, SUBTYPE), false, 'nothing left to clear');

  const foreign = await mountPoint(t);
  await run('mount', ['-t', 'tmpfs', 'tmpfs', foreign]);
  await assert.rejects(clearStaleMount(foreign, SUBTYPE), { name: 'MountError', message: /tmpfs/ });
  assert.equal(isMounted(foreign), true);
});

test('clearStaleMount leaves alone a live mount whose root answers with an error', T, async (t) => {
  const mem = new MemFs();
  const denied = { ...mem.ops(), getattr: () => Promise.reject(new FuseError('EACCES')) };
  for (const ops of [denied, mem.ops(['readdir', 'readdirplus'])]) {
    const m = await mount(t, ops);
    await assert.rejects(fsp.readdir(m.dir), (err: NodeJS.ErrnoException) => err.code !== 'ENOTCONN');
    await assert.rejects(clearStaleMount(m.dir, SUBTYPE), { name: 'MountError' });
    assert.equal(isMounted(m.dir), true);
  }
});
