/**
 * Convergence under stress, through the mounts: three pods change the same
 * small namespace at once (files created, overwritten, renamed, removed;
 * directories made, removed and moved, also into each other's subtrees), and
 * afterwards every pod shows the same tree, with no directory its own
 * ancestor. Seeded: a failing seed replays with WORMHOLE_STRESS_SEEDS=<seed>.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Prng } from '../../src/core/testing.js';
import { type NetPod, startNetwork, type TestNetwork } from '../helpers/network.js';

const SEEDS = (process.env.WORMHOLE_STRESS_SEEDS ?? '11,23,37,41,59')
  .split(',')
  .map((s) => Number.parseInt(s, 10))
  .filter((n) => Number.isSafeInteger(n));
const OPS = Number(process.env.WORMHOLE_STRESS_OPS ?? 150);
const CONVERGE_MS = 60_000;

/**
 * Errors a file system gives to a program racing others over the same names:
 * the run ignores them. ESTALE too, which NFS clients also see: when another
 * pod moved a directory that this kernel still has a dentry for, a lookup at
 * its new place makes the kernel move that dentry (d_splice_alias), which
 * gives up with ESTALE if a local rename holds the rename lock at that moment.
 */
const EXPECTED = new Set(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'EINVAL', 'ENOTDIR', 'EISDIR', 'ESTALE']);

const FILES = ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'a.txt', 'b.bin'];
const DIRS = ['d0', 'd1', 'd2', 'd3', 'd4'];

interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  sha: string;
}

/**
 * Every entry under `root`, sorted: names, types, sizes, SHA-256 of
 * contents. Throws if a directory is its own ancestor (an inode number seen
 * twice on one path) or two directories share an inode number; the depth is
 * bounded, so the walk ends whatever the tree.
 */
async function snapshot(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const dirInos = new Map<bigint, string>();
  const walk = async (dir: string, rel: string, ancestors: bigint[]): Promise<void> => {
    if (ancestors.length > 64) throw new Error(`directories nested deeper than 64 at ${rel}: a cycle?`);
    const names = (await fs.promises.readdir(dir)).sort();
    for (const name of names) {
      const full = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      // bigint: inode numbers here use all 64 bits, beyond a double's precision.
      const st = await fs.promises.lstat(full, { bigint: true });
      if (st.isDirectory()) {
        assert.ok(!ancestors.includes(st.ino), `directory ${r} (inode ${st.ino}) is its own ancestor`);
        const seen = dirInos.get(st.ino);
        assert.equal(seen, undefined, `directories ${seen} and ${r} share inode ${st.ino}`);
        dirInos.set(st.ino, r);
        out.push({ path: r, type: 'dir', size: 0, sha: '' });
        await walk(full, r, [...ancestors, st.ino]);
      } else if (st.isFile()) {
        const data = await fs.promises.readFile(full);
        assert.equal(BigInt(data.length), st.size, `${r}: size ${st.size} but ${data.length} bytes read`);
        out.push({
          path: r,
          type: 'file',
          size: Number(st.size),
          sha: createHash('sha256').update(data).digest('hex'),
        });
      } else {
        out.push({ path: r, type: st.isSymbolicLink() ? 'symlink' : 'other', size: Number(st.size), sha: '' });
      }
    }
  };
  const rootIno = (await fs.promises.stat(root, { bigint: true })).ino;
  await walk(root, '', [rootIno]);
  return out;
}

function render(entries: Entry[]): string {
  return entries.map((e) => `${e.type} ${e.path} ${e.size} ${e.sha.slice(0, 12)}`).join('\n');
}

/** The first lines where two renderings differ, for a failure message. */
function diff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(x.length, y.length) && out.length < 12; i++) {
    if (x[i] !== y[i]) out.push(`  ${i}: ${x[i] ?? '(none)'}  |  ${y[i] ?? '(none)'}`);
  }
  return out.join('\n');
}

interface Tally {
  ok: number;
  failed: Map<string, number>;
  unexpected: string[];
}

/** The directories and files under `root` as this pod sees them now (relative paths). */
async function listing(root: string): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [''];
  const files: string[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    let ents: fs.Dirent[];
    try {
      ents = await fs.promises.readdir(path.join(root, rel), { withFileTypes: true });
    } catch {
      return; // moved or removed under us
    }
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        dirs.push(r);
        await walk(r, depth + 1);
      } else files.push(r);
    }
  };
  await walk('', 0);
  return { dirs, files };
}

/** One pod's share of the run: `ops` random operations under `root`, errors of racing tallied. */
async function worker(root: string, seed: number, ops: number, tally: Tally): Promise<void> {
  const r = new Prng(seed);
  let known = await listing(root);
  const somePath = (pool: string[], names: readonly string[]): string => {
    if (pool.length > 0 && r.float() < 0.7) return r.pick(pool);
    const dir = r.pick(known.dirs);
    return dir ? `${dir}/${r.pick(names)}` : r.pick(names);
  };
  const freshPath = (names: readonly string[]): string => {
    const dir = r.pick(known.dirs);
    return dir ? `${dir}/${r.pick(names)}` : r.pick(names);
  };
  const content = (): Buffer => {
    const x = r.float();
    const n = x < 0.6 ? r.int(0, 2048) : x < 0.95 ? r.int(0, 100_000) : r.int(0, 600_000);
    return r.bytes(n);
  };
  const abs = (p: string) => path.join(root, p);

  for (let i = 0; i < ops; i++) {
    if (i % 10 === 0) known = await listing(root);
    const x = r.float();
    let what = '';
    try {
      if (x < 0.22) {
        what = 'create';
        await fs.promises.writeFile(abs(freshPath(FILES)), content());
      } else if (x < 0.34) {
        what = 'overwrite';
        const fh = await fs.promises.open(abs(somePath(known.files, FILES)), 'r+');
        try {
          const data = content().subarray(0, 1 + r.int(0, 50_000));
          await fh.write(data, 0, data.length, r.int(0, 70_000));
          if (r.float() < 0.3) await fh.truncate(r.int(0, 80_000));
        } finally {
          await fh.close();
        }
      } else if (x < 0.4) {
        what = 'append';
        await fs.promises.appendFile(abs(somePath(known.files, FILES)), r.bytes(1 + r.int(0, 3000)));
      } else if (x < 0.52) {
        what = 'mkdir';
        await fs.promises.mkdir(abs(freshPath(DIRS)));
      } else if (x < 0.64) {
        what = 'rename file';
        await fs.promises.rename(abs(somePath(known.files, FILES)), abs(freshPath(FILES)));
      } else if (x < 0.78) {
        what = 'rename dir';
        const from = somePath(known.dirs.filter(Boolean), DIRS);
        // Often into another directory's subtree, or its own (EINVAL): the concurrent moves that make cycles.
        const into = r.float() < 0.6 ? r.pick(known.dirs) : '';
        await fs.promises.rename(abs(from), abs(into ? `${into}/${r.pick(DIRS)}` : r.pick(DIRS)));
      } else if (x < 0.9) {
        what = 'unlink';
        await fs.promises.unlink(abs(somePath(known.files, FILES)));
      } else {
        what = 'rmdir';
        await fs.promises.rmdir(abs(somePath(known.dirs.filter(Boolean), DIRS)));
      }
      tally.ok++;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Node names no code for ESTALE (errno 116): "Unknown system error -116".
      const code = e.errno === -116 ? 'ESTALE' : (e.code ?? String(err));
      tally.failed.set(code, (tally.failed.get(code) ?? 0) + 1);
      if (!EXPECTED.has(code)) tally.unexpected.push(`${what}: ${(err as Error).message}`);
    }
  }
}

async function converge(net: TestNetwork, dir: string): Promise<{ entries: Entry[]; ms: number }> {
  const t0 = Date.now();
  let last: string[] = [];
  let agreed: string | undefined;
  try {
    const entries = await net.waitFor(
      `the three trees under ${dir} to be identical (twice in a row)`,
      async () => {
        const snaps = await Promise.all(net.pods.map((p) => snapshot(path.join(p.mount, dir))));
        last = snaps.map(render);
        const same = last.every((s) => s === last[0]);
        const stable = same && agreed === last[0];
        agreed = same ? last[0] : undefined;
        return stable ? (snaps[0] as Entry[]) : undefined;
      },
      CONVERGE_MS,
    );
    return { entries, ms: Date.now() - t0 };
  } catch (err) {
    const d = last.slice(1).map((s, i) => `pod0 | pod${i + 1}:\n${diff(last[0] ?? '', s)}`);
    throw new Error(`${(err as Error).message}\n${d.join('\n')}`);
  }
}

test('three pods changing one tree at once through their mounts converge to the same tree', async (t) => {
  const net = await startNetwork(t, 3);
  const pods = net.pods as NetPod[];
  const [a] = pods as [NetPod];
  const report: string[] = [];

  for (const seed of SEEDS) {
    const dir = `seed-${seed}`;
    fs.mkdirSync(path.join(a.mount, dir));
    for (const p of pods) await net.waitFor(`${dir} on ${p.name}`, () => fs.existsSync(path.join(p.mount, dir)));

    const tallies: Tally[] = pods.map(() => ({ ok: 0, failed: new Map(), unexpected: [] }));
    const t0 = Date.now();
    await Promise.all(pods.map((p, i) => worker(path.join(p.mount, dir), seed * 1000 + i, OPS, tallies[i] as Tally)));
    const ranMs = Date.now() - t0;

    const { entries, ms } = await converge(net, dir);
    const ok = tallies.reduce((n, x) => n + x.ok, 0);
    const failed = new Map<string, number>();
    for (const x of tallies) for (const [k, v] of x.failed) failed.set(k, (failed.get(k) ?? 0) + v);
    const line =
      `seed ${seed}: ${pods.length}x${OPS} operations in ${ranMs} ms, ${ok} succeeded, ` +
      `refused: ${[...failed].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; ` +
      `converged in ${ms} ms on ${entries.filter((e) => e.type === 'dir').length} directories and ` +
      `${entries.filter((e) => e.type === 'file').length} files`;
    report.push(line);
    t.diagnostic(line);
    assert.deepEqual(
      tallies.flatMap((x) => x.unexpected),
      [],
      `seed ${seed}: no error a racing program should not see`,
    );
    assert.ok(ok > OPS, `seed ${seed}: most operations did something (${ok} of ${pods.length * OPS})`);
    assert.ok(
      entries.some((e) => e.type === 'file'),
      `seed ${seed}: files survived the run (the walk saw something)`,
    );

    // Clean up through the mount; the removal converges too.
    await fs.promises.rm(path.join(a.mount, dir), { recursive: true });
    for (const p of pods) {
      await net.waitFor(`${dir} removed on ${p.name}`, () => !fs.existsSync(path.join(p.mount, dir)), CONVERGE_MS);
    }
  }
  t.diagnostic(`all ${SEEDS.length} seeds converged`);
  assert.equal(report.length, SEEDS.length);
});
