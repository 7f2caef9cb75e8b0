/**
 * Network partitions and crashes between pods. Pods run in network
 * namespaces; `cut(i)` takes a pod's link down, so both sides change the
 * same files without seeing each other. After `heal(i)` every pod must
 * reach the same tree, resolved by the network's conflict policy:
 * `copy` keeps the losing version as `NAME (conflict POD DATE).EXT` (none
 * when both versions hold the same bytes), `newest` keeps only the later
 * write. An edit against a delete keeps the edit; two renames of one file
 * leave it under one name. A pod killed with -9 while operations stream in
 * ends with exactly the others' tree once restarted.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { type NetPod, readMaybe, startNetwork, type TestNetwork } from '../helpers/network.js';
import { isMounted } from '../helpers/pods.js';

interface Node {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  sha256?: string;
  target?: string;
}

type Snapshot = Record<string, Node>;

/** Every name under `root` (recursively), with its type, size and the SHA-256 of its content. */
function snapshot(root: string): Snapshot {
  const out: Snapshot = {};
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out[rel] = { type: 'dir', size: 0 };
        walk(p);
      } else if (st.isFile()) {
        const data = fs.readFileSync(p);
        // The size the kernel reports and the bytes a read returns must agree (a mismatch shows as a negative size).
        out[rel] = { type: 'file', size: data.length === st.size ? st.size : -data.length, sha256: sha(data) };
      } else if (st.isSymbolicLink()) {
        out[rel] = { type: 'symlink', size: st.size, target: fs.readlinkSync(p) };
      } else {
        out[rel] = { type: 'other', size: st.size };
      }
    }
  };
  walk(root);
  return out;
}

/** What differs between two snapshots, one line per name. */
function diff(actual: Snapshot, expected: Snapshot): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort()) {
    const x = JSON.stringify(actual[k]);
    const e = JSON.stringify(expected[k]);
    if (x !== e) out.push(`${k}: ${x ?? 'missing'}, expected ${e ?? 'nothing'}`);
  }
  return out;
}

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Waits until every pod shows the same tree, twice in a row; returns it. */
async function converged(net: TestNetwork, what: string, ms = 60_000): Promise<Snapshot> {
  let previous: string | undefined;
  let last = '';
  try {
    return await net.waitFor(
      what,
      () => {
        const views = net.pods.map((p) => JSON.stringify(snapshot(p.mount)));
        last = views.map((v, i) => `${net.pods[i]?.name}: ${v}`).join('\n');
        const same = views.every((v) => v === views[0]);
        const stable = same && views[0] === previous;
        previous = same ? views[0] : undefined;
        return stable ? (JSON.parse(views[0] as string) as Snapshot) : false;
      },
      ms,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast views:\n${last}`);
  }
}

/** Content of a file in a snapshot must be `text`. */
function assertHolds(snap: Snapshot, name: string, text: string, message: string): void {
  const n = snap[name];
  assert.ok(n, `${message}: ${name} is missing (tree: ${Object.keys(snap).join(', ')})`);
  assert.deepEqual(n, { type: 'file', size: Buffer.byteLength(text), sha256: sha(text) }, `${message}: ${name}`);
}

const pad = (n: number) => String(n).padStart(2, '0');
/** The DATE of a conflict name, as milliseconds (UTC, to the second). */
function conflictDate(name: string): number {
  const m = / (\d{4})-(\d{2})-(\d{2}) (\d{2})(\d{2})(\d{2})\)/.exec(name);
  assert.ok(m, `no date in ${name}`);
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}
const utc = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
};

/** Asserts the date of a conflict copy falls in the window [from, to] during which its version was written. */
function assertDateWithin(name: string, from: number, to: number): void {
  const when = conflictDate(name);
  assert.ok(
    when >= Math.floor(from / 1000) * 1000 && when <= to + 1000,
    `${name}: its date should be when the losing version was written, between ${utc(from)} and ${utc(to)}`,
  );
}

const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `STEM (conflict POD YYYY-MM-DD HHMMSS).EXT` */
const conflictPattern = (stem: string, pod: string, ext: string) =>
  new RegExp(`^${quote(stem)} \\(conflict ${quote(pod)} \\d{4}-\\d{2}-\\d{2} \\d{6}\\)${quote(ext)}$`);

function at(p: NetPod, name: string): string {
  return path.join(p.mount, name);
}

async function everywhere(net: TestNetwork, name: string, text: string): Promise<void> {
  for (const p of net.pods) await net.waitFor(`${name} on ${p.name}`, () => readMaybe(at(p, name)) === text, 30_000);
}

/** Makes sure a change made on one side of the cut reached the other pod of that side, and not the cut pod. */
async function assertCutOff(net: TestNetwork, from: NetPod, peer: NetPod, cut: NetPod, name: string, text: string) {
  await net.waitFor(`${name} from ${from.name} on ${peer.name}`, () => readMaybe(at(peer, name)) === text);
  assert.notEqual(readMaybe(at(cut, name)), text, `${cut.name} is cut off: it must not see ${name} from ${from.name}`);
}

test('partition under the copy policy: conflicts keep both versions, edits beat deletes, renames converge', {
  timeout: 150_000,
}, async (t) => {
  const net = await startNetwork(t, 3, { netns: true, conflict: 'copy' });
  const [a, b, c] = net.pods as [NetPod, NetPod, NetPod];
  const info = JSON.parse(await b.daemon.ok(['pod', 'list', '--json'])) as Array<{ conflict: string }>;
  assert.equal(info[0]?.conflict, 'copy', 'the network was created with the copy policy');

  const base: Record<string, string> = {
    'edit.txt': 'edit: the original\n',
    'kept-a.txt': 'kept-a: the original\n',
    'kept-b.txt': 'kept-b: the original\n',
    'moving.txt': 'moving: the original\n',
    'same.txt': 'same: the original\n',
  };
  for (const [name, text] of Object.entries(base)) fs.writeFileSync(at(a, name), text);
  for (const [name, text] of Object.entries(base)) await everywhere(net, name, text);

  await net.cut(2);

  // Written in this order in time: each write returned before the next started.
  // c deletes kept-b before a edits it (the edit comes later and must bring it back).
  fs.unlinkSync(at(c, 'kept-b.txt'));
  const aFrom = Date.now();
  fs.writeFileSync(at(a, 'edit.txt'), 'edit: from pod0, the earlier write\n');
  fs.writeFileSync(at(a, 'new.txt'), 'new: made on pod0, earlier\n');
  fs.writeFileSync(at(a, 'kept-a.txt'), 'kept-a: edited on pod0\n');
  fs.writeFileSync(at(a, 'kept-b.txt'), 'kept-b: edited on pod0\n');
  fs.renameSync(at(a, 'moving.txt'), at(a, 'moved-by-pod0.txt'));
  fs.writeFileSync(at(a, 'same.txt'), 'same: written identically on both sides\n');
  const aTo = Date.now();
  await assertCutOff(net, a, b, c, 'new.txt', 'new: made on pod0, earlier\n');

  fs.writeFileSync(at(c, 'edit.txt'), 'edit: from pod2, the later write\n');
  fs.writeFileSync(at(c, 'new.txt'), 'new: made on pod2, later and longer\n');
  // c deletes kept-a after a edited it (the delete had not seen the edit: the edit survives).
  fs.unlinkSync(at(c, 'kept-a.txt'));
  fs.renameSync(at(c, 'moving.txt'), at(c, 'moved-by-pod2.txt'));
  fs.writeFileSync(at(c, 'same.txt'), 'same: written identically on both sides\n');
  assert.equal(readMaybe(at(a, 'edit.txt')), 'edit: from pod0, the earlier write\n', 'pod0 is cut off from pod2');
  assert.equal(readMaybe(at(b, 'moved-by-pod2.txt')), undefined, 'pod1 is cut off from pod2');

  await net.heal(2);
  const tree = await converged(net, 'the same tree on every pod after healing');
  const names = Object.keys(tree);

  /** `base.txt` holds the later side's bytes; exactly one copy (returned), named after pod0 and a date in its window, holds the earlier side's. */
  const oneCopy = (base: string, later: string, earlier: string, what: string) => {
    assertHolds(tree, `${base}.txt`, later, `${what}: the later one keeps the name`);
    const copies = names.filter((n) => n.startsWith(`${base} (`));
    assert.equal(copies.length, 1, `one conflict copy of ${base}.txt: ${names.join(', ')}`);
    const copy = copies[0] as string;
    assert.match(copy, conflictPattern(base, 'pod0', '.txt'));
    assertHolds(tree, copy, earlier, `${what}: the conflict copy holds the other one`);
    assertDateWithin(copy, aFrom, aTo);
    return copy;
  };
  // Concurrent edits: the later one is the file, the earlier one a copy named after its pod and date.
  const editCopy = oneCopy(
    'edit',
    'edit: from pod2, the later write\n',
    'edit: from pod0, the earlier write\n',
    'concurrent edits',
  );
  // The same new name on both sides: both kept, the earlier one renamed.
  const newCopy = oneCopy(
    'new',
    'new: made on pod2, later and longer\n',
    'new: made on pod0, earlier\n',
    'the same new name',
  );

  // Edit against delete: the edit survives, whichever came first.
  assertHolds(tree, 'kept-a.txt', 'kept-a: edited on pod0\n', 'a delete after a concurrent edit does not happen');
  assertHolds(tree, 'kept-b.txt', 'kept-b: edited on pod0\n', 'an edit after a concurrent delete brings the file back');

  // Rename against rename: one name, the later rename's.
  const moved = names.filter((n) => n.startsWith('mov'));
  assert.deepEqual(moved, ['moved-by-pod2.txt'], 'the renamed file exists under exactly one name, the later one');
  assertHolds(tree, 'moved-by-pod2.txt', base['moving.txt'] as string, 'the renamed file keeps its content');

  assert.deepEqual(
    names.filter((n) => !n.startsWith('same')).sort(),
    [editCopy, 'edit.txt', 'kept-a.txt', 'kept-b.txt', 'moved-by-pod2.txt', newCopy, 'new.txt'].sort(),
    'nothing else in the tree',
  );

  // The same bytes written on both sides (each with open(O_TRUNC), write, close): no conflict copy.
  assertHolds(tree, 'same.txt', 'same: written identically on both sides\n', 'identical edits');
  assert.deepEqual(
    names.filter((n) => n.startsWith('same')),
    ['same.txt'],
    'no conflict copy when both sides wrote the same bytes',
  );
});

test('partition under the newest policy (set with `network set`): the later write wins everywhere, no copy', {
  timeout: 150_000,
}, async (t) => {
  const net = await startNetwork(t, 3, { netns: true, conflict: 'copy' });
  const [a, b, c] = net.pods as [NetPod, NetPod, NetPod];
  await b.daemon.ok(['network', 'set', net.name, 'conflict', 'newest']);
  for (const p of net.pods) {
    await net.waitFor(`the newest policy on ${p.name}`, async () => {
      const info = JSON.parse(await p.daemon.ok(['pod', 'list', '--json'])) as Array<{ conflict: string }>;
      return info[0]?.conflict === 'newest';
    });
  }

  fs.writeFileSync(at(a, 'one.txt'), 'one: the original\n');
  fs.writeFileSync(at(a, 'two.txt'), 'two: the original\n');
  await everywhere(net, 'one.txt', 'one: the original\n');
  await everywhere(net, 'two.txt', 'two: the original\n');

  await net.cut(2);
  // one.txt: pod0 first, pod2 later. two.txt and fresh.txt (made on both sides): pod2 first, pod0 later.
  fs.writeFileSync(at(a, 'one.txt'), 'one: pod0, earlier\n');
  fs.writeFileSync(at(c, 'one.txt'), 'one: pod2, the later write\n');
  fs.writeFileSync(at(c, 'two.txt'), 'two: pod2, earlier\n');
  fs.writeFileSync(at(c, 'fresh.txt'), 'fresh: made on pod2, earlier\n');
  fs.writeFileSync(at(a, 'two.txt'), 'two: pod0, the later write\n');
  fs.writeFileSync(at(a, 'fresh.txt'), 'fresh: made on pod0, the later one\n');
  await assertCutOff(net, a, b, c, 'fresh.txt', 'fresh: made on pod0, the later one\n');
  assert.equal(readMaybe(at(a, 'one.txt')), 'one: pod0, earlier\n', 'pod0 is cut off from pod2');

  await net.heal(2);
  const tree = await converged(net, 'the same tree on every pod after healing');
  assertHolds(tree, 'one.txt', 'one: pod2, the later write\n', 'the later write wins (pod2)');
  assertHolds(tree, 'two.txt', 'two: pod0, the later write\n', 'the later write wins (pod0)');
  assertHolds(tree, 'fresh.txt', 'fresh: made on pod0, the later one\n', 'the later of two new files wins');
  assert.deepEqual(Object.keys(tree).sort(), ['fresh.txt', 'one.txt', 'two.txt'], 'one file each, no conflict copy');
});

test('kill -9 of a pod while operations stream in: restarted, it ends with exactly the tree of the writer', {
  timeout: 150_000,
}, async (t) => {
  const net = await startNetwork(t, 3);
  const [a, , c] = net.pods as [NetPod, NetPod, NetPod];
  fs.mkdirSync(at(a, 'stream'));
  await net.waitFor('the stream folder on pod2', () => fs.existsSync(at(c, 'stream')));

  const COUNT = 300;
  const written = new Map<string, string>();
  const received = () => {
    try {
      return fs.readdirSync(at(c, 'stream')).length;
    } catch {
      return -1;
    }
  };
  let atKill = 0;
  let restarted: Promise<void> | undefined;
  for (let i = 0; i < COUNT; i++) {
    const name = `stream/f${String(i).padStart(3, '0')}.txt`;
    const text = `file ${i} of the stream, written on pod0\n`.repeat(1 + (i % 7));
    await fs.promises.writeFile(at(a, name), text);
    written.set(name, text);
    if (i === 100) {
      // pod2 is following the stream when it dies.
      await net.waitFor('pod2 to receive part of the stream', () => received() > 0);
      atKill = received();
      await c.daemon.kill9();
    }
    if (i === 200) {
      restarted = (async () => {
        await c.daemon.start();
        // The dead mount stays until the new daemon replaces it: wait for a listing that works.
        await net.waitFor('the remount of pod2', () => isMounted(c.mount) && Array.isArray(fs.readdirSync(c.mount)));
      })();
    }
  }
  await restarted;
  t.diagnostic(`pod2 had ${atKill} of ${COUNT} files when killed`);
  assert.ok(atKill < COUNT, 'pod2 was killed before it had the whole stream');

  const expected: Snapshot = { stream: { type: 'dir', size: 0 } };
  for (const [name, text] of written)
    expected[name] = { type: 'file', size: Buffer.byteLength(text), sha256: sha(text) };
  assert.deepEqual(diff(snapshot(a.mount), expected), [], "pod0's tree is what it wrote");
  let differences: string[] = [];
  const failure = await net
    .waitFor(
      "pod2's tree to match pod0's",
      () => {
        differences = diff(snapshot(c.mount), expected);
        return differences.length === 0;
      },
      60_000,
    )
    .then(
      () => '',
      (err: Error) => err.message,
    );
  assert.deepEqual(differences, [], `pod2 ends with exactly pod0's tree\n${failure}`);
});
