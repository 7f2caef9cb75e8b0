/**
 * File helpers for end-to-end tests: deterministic data, hashes, python3
 * snippets for the calls node:fs lacks (xattrs, renameat2), and a manifest of
 * a tree to compare what tools copied.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type RunResult, run } from './pods.js';

/** Deterministic pseudo-random bytes: AES-128-CTR over zeros, keyed by `seed`. */
export class SeededBytes {
  private readonly cipher: crypto.Cipher;
  constructor(seed: string) {
    const key = crypto.createHash('sha256').update(seed).digest().subarray(0, 16);
    this.cipher = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }
  next(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }
}

export function seededBytes(seed: string, n: number): Buffer {
  return new SeededBytes(seed).next(n);
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of a file, read in 1 MiB pieces. */
export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Runs a python3 snippet; `args` arrive as sys.argv[1:]. */
export function python(script: string, args: string[] = [], opts: { cwd?: string } = {}): Promise<RunResult> {
  return run('python3', ['-c', script, ...args], opts);
}

/** Runs a python3 snippet and returns its stdout, failing with its stderr if it exits non-zero. */
export async function pythonOk(script: string, args: string[] = [], opts: { cwd?: string } = {}): Promise<string> {
  const r = await python(script, args, opts);
  if (r.code !== 0) throw new Error(`python3 exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Runs a command and fails with its output if it exits non-zero. */
export async function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface ManifestEntry {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
  mode: string;
  uid: number;
  gid: number;
  /** Size of files and symlinks (directory sizes differ between file systems). */
  size?: number;
  mtimeNs?: string;
  sha256?: string;
  target?: string;
  /** Device number of device nodes. */
  rdev?: number;
  /** Paths of the other names of a hard-linked file, sorted, when it has more than one. */
  links?: string[];
  xattrs?: Record<string, string>;
}

export interface ManifestOptions {
  /** Include modification times, to the nanosecond (default true). */
  mtimes?: boolean;
  /** Read user.* xattrs (via python3). */
  xattrs?: boolean;
}

/** Everything cp -a, tar and rsync should carry over, keyed by path relative to `root`. */
export async function manifest(root: string, opts: ManifestOptions = {}): Promise<Record<string, ManifestEntry>> {
  const out: Record<string, ManifestEntry> = {};
  const byIno = new Map<bigint, string[]>();
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = fs.lstatSync(p, { bigint: true });
      const e: ManifestEntry = {
        type: st.isFile()
          ? 'file'
          : st.isDirectory()
            ? 'dir'
            : st.isSymbolicLink()
              ? 'symlink'
              : st.isFIFO()
                ? 'fifo'
                : st.isCharacterDevice()
                  ? 'chardev'
                  : st.isBlockDevice()
                    ? 'blockdev'
                    : 'socket',
        mode: (Number(st.mode) & 0o7777).toString(8),
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
      if (opts.mtimes !== false) e.mtimeNs = st.mtimeNs.toString();
      if (e.type === 'symlink') {
        e.target = fs.readlinkSync(p);
        e.mode = '777';
        e.size = Number(st.size);
      }
      if (e.type === 'chardev' || e.type === 'blockdev') e.rdev = Number(st.rdev);
      if (e.type === 'file') {
        e.size = Number(st.size);
        e.sha256 = sha256File(p);
        if (st.nlink > 1n) {
          const group = byIno.get(st.ino) ?? [];
          group.push(rel);
          byIno.set(st.ino, group);
        }
      }
      out[rel] = e;
      if (e.type === 'dir') walk(p);
    }
  };
  walk(root);
  for (const group of byIno.values()) {
    if (group.length < 2) continue;
    for (const rel of group) (out[rel] as ManifestEntry).links = group.filter((g) => g !== rel).sort();
  }
  if (opts.xattrs) {
    const files = Object.keys(out).filter((k) => out[k]?.type === 'file' || out[k]?.type === 'dir');
    const text = await pythonOk(
      `import os, sys, json
root = sys.argv[1]
res = {}
for rel in sys.argv[2:]:
    p = os.path.join(root, rel)
    res[rel] = {n: os.getxattr(p, n).hex() for n in sorted(os.listxattr(p)) if n.startswith('user.')}
print(json.dumps(res))`,
      [root, ...files],
    );
    const xs = JSON.parse(text) as Record<string, Record<string, string>>;
    for (const [rel, x] of Object.entries(xs)) {
      if (Object.keys(x).length > 0) (out[rel] as ManifestEntry).xattrs = x;
    }
  }
  return out;
}

/** Prepended to python3 snippets: `code(fn)` returns 'ok' or the errno name fn raised. */
export const PY_PRELUDE = `import os, sys, errno, json, ctypes
def code(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
`;

/** What differs between two manifests, one line per path, so a failure names the few paths that differ. */
export function manifestDiff(actual: Record<string, ManifestEntry>, expected: Record<string, ManifestEntry>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const a = actual[k];
    const e = expected[k];
    if (!a) out.push(`${k}: missing`);
    else if (!e) out.push(`${k}: unexpected`);
    else {
      for (const f of new Set([...Object.keys(e), ...Object.keys(a)]) as Set<keyof ManifestEntry>) {
        const av = JSON.stringify(a[f]);
        const ev = JSON.stringify(e[f]);
        if (av !== ev) out.push(`${k}: ${f} is ${av}, expected ${ev}`);
      }
    }
  }
  return out;
}

/** Bytes [offset, offset + length) of the stream SeededBytes(seed) produces (AES-CTR seeks by block). */
export function seededSlice(seed: string, offset: number, length: number): Buffer {
  const key = crypto.createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
  const skip = offset % 16;
  return crypto
    .createCipheriv('aes-128-ctr', key, iv)
    .update(Buffer.alloc(skip + length))
    .subarray(skip);
}
