/**
 * Real tools inside the mount: cp -a, tar, git, rsync, find, du and sqlite.
 * The copying tools take a tree with odd modes, owners, links, special
 * files, sparse files and xattrs in and out, and the result is compared with
 * diff -r and with a manifest of everything the tool promises to keep.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { manifest, manifestDiff, pythonOk, seededBytes, sh } from '../helpers/files.js';
import { ROOT, run, startPod, tempDir } from '../helpers/pods.js';

const MiB = 1 << 20;

/** A tree with what copying tools get wrong. Special files live under special/, which diff -r cannot compare. */
async function buildTree(root: string): Promise<string> {
  const p = (...parts: string[]) => path.join(root, ...parts);
  fs.mkdirSync(root, { recursive: true });
  fs.cpSync(path.join(ROOT, 'src'), p('src'), { recursive: true });
  fs.mkdirSync(p('modes'));
  const modes: Array<[string, number]> = [
    ['exec', 0o755],
    ['private', 0o600],
    ['none', 0o000],
    ['setuid', 0o4755],
    ['setgid', 0o2750],
    ['readonly', 0o444],
  ];
  for (const [name, mode] of modes) {
    fs.writeFileSync(p('modes', name), `mode ${mode.toString(8)}\n`);
    fs.chmodSync(p('modes', name), mode);
  }
  fs.mkdirSync(p('modes', 'sticky'));
  fs.chmodSync(p('modes', 'sticky'), 0o1777);
  fs.mkdirSync(p('modes', 'sgid-dir'));
  fs.chmodSync(p('modes', 'sgid-dir'), 0o2775);
  fs.mkdirSync(p('modes', 'readonly-dir'));
  fs.writeFileSync(p('modes', 'readonly-dir', 'inside'), 'inside a read-only directory\n');
  fs.chmodSync(p('modes', 'readonly-dir'), 0o555);
  fs.mkdirSync(p('owned'));
  fs.writeFileSync(p('owned', 'by-1234'), 'owned\n');
  fs.chownSync(p('owned', 'by-1234'), 1234, 5678);
  fs.chownSync(p('owned'), 1234, 1234);

  fs.mkdirSync(p('links'));
  fs.symlinkSync('../src/fs/core.ts', p('links', 'relative'));
  fs.symlinkSync('/nonexistent/target', p('links', 'dangling'));
  fs.symlinkSync('../src', p('links', 'to-dir'));
  fs.symlinkSync('relative', p('links', 'to-link'));
  fs.lchownSync(p('links', 'relative'), 1234, 1234);
  fs.mkdirSync(p('hard', 'sub'), { recursive: true });
  fs.writeFileSync(p('hard', 'a'), 'one inode, three names\n');
  fs.linkSync(p('hard', 'a'), p('hard', 'b'));
  fs.linkSync(p('hard', 'a'), p('hard', 'sub', 'c'));

  fs.mkdirSync(p('names'));
  for (const name of ['with space', 'ünïcödé ✓', '-dash', '.hidden', 'x'.repeat(255), 'quote"s', 'new\nline']) {
    fs.writeFileSync(p('names', name), `${name}\n`);
  }
  fs.mkdirSync(p('empty-dir'));
  fs.writeFileSync(p('empty-file'), '');
  fs.writeFileSync(p('big.bin'), seededBytes('tools', 3 * MiB + 123));
  const sparse = fs.openSync(p('sparse.bin'), 'w');
  fs.writeSync(sparse, 'start', 0);
  fs.writeSync(sparse, 'end', 8 * MiB);
  fs.closeSync(sparse);
  fs.mkdirSync(p('special'));
  await sh('mkfifo', [p('special', 'fifo')]);
  await sh('mknod', [p('special', 'null'), 'c', '1', '3']);
  await pythonOk(
    "import os, sys; os.setxattr(sys.argv[1], 'user.tool', b'kept'); os.setxattr(sys.argv[2], 'user.dir', b'\\x00\\xff')",
    [p('big.bin'), p('names')],
  );
  await sh('touch', ['-d', '2001-02-03 04:05:06.123456789 +0000', p('modes', 'exec')]);
  await sh('touch', ['-h', '-d', '2002-03-04 05:06:07.987654321 +0000', p('links', 'relative')]);
  return root;
}

function diffTrees(a: string, b: string): Promise<string> {
  return sh('diff', ['-r', '--no-dereference', '-x', 'special', a, b]);
}

test('cp -a into the mount, within it and out again keeps everything', async (t) => {
  const pod = await startPod(t);
  const work = tempDir(t);
  const src = await buildTree(path.join(work, 'src'));
  const expected = await manifest(src, { xattrs: true });

  const copy = path.join(pod.mount, 'copy');
  await sh('cp', ['-a', src, copy]);
  await diffTrees(src, copy);
  assert.deepEqual(manifestDiff(await manifest(copy, { xattrs: true }), expected), []);

  const inside = path.join(pod.mount, 'copy2');
  await sh('cp', ['-a', copy, inside]);
  assert.deepEqual(manifestDiff(await manifest(inside, { xattrs: true }), expected), [], 'a copy within the mount');

  const back = path.join(work, 'back');
  await sh('cp', ['-a', copy, back]);
  await diffTrees(src, back);
  assert.deepEqual(manifestDiff(await manifest(back, { xattrs: true }), expected), [], 'a copy out of the mount');

  await sh('rm', ['-rf', copy, inside]);
  assert.deepEqual(fs.readdirSync(pod.mount), []);
});

test('tar: a tar made outside is extracted inside, and a tar of the mount is extracted outside', async (t) => {
  const pod = await startPod(t);
  const work = tempDir(t);
  const src = await buildTree(path.join(work, 'src'));
  const expected = await manifest(src, { xattrs: true });
  const tar = (...args: string[]) => sh('tar', ['--format=posix', '--xattrs', '--xattrs-include=user.*', ...args]);

  const inTar = path.join(pod.mount, 'tree.tar');
  await tar('-C', src, '-cf', inTar, '.');
  const extracted = path.join(pod.mount, 'extracted');
  fs.mkdirSync(extracted);
  await tar('-C', extracted, '-xpf', inTar);
  await diffTrees(src, extracted);
  assert.deepEqual(manifestDiff(await manifest(extracted, { xattrs: true }), expected), []);

  const outTar = path.join(work, 'mount.tar.gz');
  await tar('-C', extracted, '-czf', outTar, '.');
  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  await tar('-C', out, '-xpzf', outTar);
  await diffTrees(src, out);
  assert.deepEqual(manifestDiff(await manifest(out, { xattrs: true }), expected), []);

  const list = async (f: string, z = '') => (await sh('tar', [`-t${z}f`, f])).split('\n').sort();
  assert.deepEqual(await list(outTar, 'z'), await list(inTar), 'both archives hold the same names');
});

test('git: init, add, commit, log, status, gc, fsck and clone inside the mount', async (t) => {
  const pod = await startPod(t);
  const work = tempDir(t);
  const repo = path.join(pod.mount, 'repo');
  fs.mkdirSync(repo);
  fs.cpSync(path.join(ROOT, 'src'), path.join(repo, 'src'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  fs.symlinkSync('src/fs/core.ts', path.join(repo, 'link'));
  const git = (cwd: string, ...args: string[]) =>
    sh('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], {
      cwd,
    });

  await git(repo, 'init', '-q');
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '-m', 'first');
  assert.equal(await git(repo, 'status', '--porcelain'), '', 'the work tree is clean after a commit');
  const file = path.join(repo, 'src', 'fs', 'core.ts');
  fs.appendFileSync(file, '// changed\n');
  assert.equal(await git(repo, 'status', '--porcelain'), ' M src/fs/core.ts\n');
  await git(repo, 'commit', '-q', '-a', '-m', 'second');
  fs.rmSync(path.join(repo, 'src', 'cli'), { recursive: true });
  assert.match(await git(repo, 'status', '--porcelain'), /^ D src\/cli\//m);
  await git(repo, 'checkout', '-q', '--', '.');
  assert.equal(await git(repo, 'status', '--porcelain'), '', 'checkout restores the deleted files');
  await git(repo, 'branch', 'side', 'HEAD~1');
  await git(repo, 'checkout', '-q', 'side');
  assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /\/\/ changed/);
  await git(repo, 'checkout', '-q', 'main');

  const log = (await git(repo, 'log', '--format=%s')).trim().split('\n');
  assert.deepEqual(log, ['second', 'first']);
  await git(repo, 'gc', '-q', '--prune=now');
  await git(repo, 'fsck', '--full', '--strict', '--no-progress');
  assert.equal(await git(repo, 'status', '--porcelain'), '', 'still clean after gc');

  const clone = path.join(pod.mount, 'clone');
  await git(pod.mount, 'clone', '-q', repo, clone);
  await git(clone, 'fsck', '--full', '--no-progress');
  assert.equal(await git(clone, 'status', '--porcelain'), '');
  const outside = path.join(work, 'outside');
  await git(work, 'clone', '-q', repo, outside);
  assert.equal(await git(outside, 'rev-parse', 'HEAD'), await git(repo, 'rev-parse', 'HEAD'));
  await sh('diff', ['-r', '-x', '.git', repo, outside]);
  assert.equal(fs.statSync(path.join(clone, 'run.sh')).mode & 0o777, 0o755, 'the executable bit is checked out');
});

test('rsync -aHX into the mount and back keeps everything; a second run has nothing to do', async (t) => {
  const which = await run('which', ['rsync']);
  assert.equal(
    which.code,
    0,
    'rsync is not installed: run scripts/test.sh, which installs it (apt-get install -y rsync)',
  );
  const pod = await startPod(t);
  const work = tempDir(t);
  const src = await buildTree(path.join(work, 'src'));
  const expected = await manifest(src, { xattrs: true });
  const rsync = (...args: string[]) => sh('rsync', ['-aHX', '--modify-window=-1', ...args]);

  const dst = path.join(pod.mount, 'r');
  await rsync(`${src}/`, `${dst}/`);
  await diffTrees(src, dst);
  assert.deepEqual(manifestDiff(await manifest(dst, { xattrs: true }), expected), []);
  assert.equal(await rsync('--itemize-changes', `${src}/`, `${dst}/`), '', 'sizes and times match: nothing to send');

  const back = path.join(work, 'back');
  await rsync(`${dst}/`, `${back}/`);
  await diffTrees(src, back);
  assert.deepEqual(manifestDiff(await manifest(back, { xattrs: true }), expected), []);

  const big = path.join(src, 'big.bin');
  const fd = fs.openSync(big, 'r+');
  fs.writeSync(fd, 'changed in the middle', MiB);
  fs.closeSync(fd);
  fs.rmSync(path.join(src, 'names', 'with space'));
  fs.writeFileSync(path.join(src, 'added'), 'added');
  const changes = await rsync('--delete', '--no-whole-file', '--inplace', '--itemize-changes', `${src}/`, `${dst}/`);
  assert.deepEqual(changes.trim().split('\n').sort(), [
    '*deleting   names/with space',
    '.d..t...... ./',
    '.d..t...... names/',
    '>f+++++++++ added',
    '>f..t...... big.bin',
  ]);
  assert.deepEqual(manifestDiff(await manifest(dst, { xattrs: true }), await manifest(src, { xattrs: true })), []);
});

test('find and du see the tree as it is', async (t) => {
  const pod = await startPod(t);
  const work = tempDir(t);
  const src = await buildTree(path.join(work, 'src'));
  const copy = path.join(pod.mount, 'copy');
  await sh('cp', ['-a', src, copy]);

  const find = async (root: string, ...args: string[]) =>
    (await sh('find', [root, '-mindepth', '1', ...args, '-printf', '%P\\n'])).split('\n').filter(Boolean).sort();
  for (const q of [
    [],
    ['-type', 'f'],
    ['-type', 'd'],
    ['-type', 'l'],
    ['-type', 'p'],
    ['-type', 'c'],
    ['-perm', '-4000'],
    ['-user', '1234'],
    ['-size', '+1M'],
    ['-links', '3'],
    ['-empty'],
    ['-name', '*.ts', '-newer', path.join(src, 'modes', 'exec')],
    ['-xtype', 'l'],
  ]) {
    assert.deepEqual(await find(copy, ...q), await find(src, ...q), `find ${q.join(' ')}`);
  }
  assert.deepEqual(await find(copy, '-type', 'f', '-links', '3'), ['hard/a', 'hard/b', 'hard/sub/c']);

  const sizes = (await sh('find', [path.join(copy, 'src'), '-type', 'f', '-printf', '%s\\n']))
    .split('\n')
    .filter(Boolean)
    .reduce((a, b) => a + Number(b), 0);
  const du = (...args: string[]) => sh('du', args).then((o) => Number(o.split('\t')[0]));
  assert.equal(await du('-sb', path.join(copy, 'src')), sizes, 'du -sb sums the file sizes (directories are 0 bytes)');
  assert.equal(await du('-sb', path.join(copy, 'hard')), 'one inode, three names\n'.length, 'hard links count once');
  assert.ok((await du('-sk', copy)) * 1024 >= sizes, 'du -sk counts the blocks in use');
  assert.equal((await find(copy)).length, (await find(src)).length);
});

test('sqlite in rollback and WAL journal modes: transactions, vacuum, integrity check', async (t) => {
  const pod = await startPod(t);
  const out = await pythonOk(
    `import sqlite3, os, sys, json
res = {}
for mode in ['delete', 'wal']:
    path = os.path.join(sys.argv[1], mode + '.db')
    db = sqlite3.connect(path)
    db.execute('pragma journal_mode=' + mode)
    db.execute('create table t(id integer primary key, v text)')
    for i in range(20):
        with db:
            db.executemany('insert into t(v) values (?)', [(os.urandom(50).hex(),) for _ in range(500)])
    with db:
        db.execute('delete from t where id % 3 = 0')
    try:
        with db:
            db.execute('insert into t(v) values (?)', ('rolled back',))
            raise RuntimeError()
    except RuntimeError:
        pass
    db.execute('vacuum')
    db.close()
    db = sqlite3.connect(path)
    res[mode] = [db.execute('select count(*) from t').fetchone()[0], db.execute('pragma integrity_check').fetchone()[0]]
    db.close()
print(json.dumps(res))`,
    [pod.mount],
  );
  assert.deepEqual(JSON.parse(out), { delete: [6667, 'ok'], wal: [6667, 'ok'] });
});
