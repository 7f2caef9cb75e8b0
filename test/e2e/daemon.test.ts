/** The daemon's life: start, network create, status, restart with remount, stale mounts, CLI errors. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { isMounted, startDaemon, startPod, tempDir } from '../helpers/pods.js';
import { waitFor } from '../helpers/wait.js';

test('a created network is mounted, listed, and mounted again after a restart', async (t) => {
  const pod = await startPod(t, { network: 'alpha' });
  fs.writeFileSync(path.join(pod.mount, 'hello.txt'), 'hello\n');

  const list = JSON.parse(await pod.daemon.ok(['pod', 'list', '--json']));
  assert.equal(list.length, 1);
  assert.equal(list[0].network, 'alpha');
  assert.equal(list[0].state, 'running');
  assert.equal(list[0].mount, pod.mount);
  assert.equal(list[0].mounted, true);

  const human = await pod.daemon.ok(['status']);
  assert.match(human, /alpha/);
  assert.match(human, /running/);

  await pod.daemon.stop();
  assert.equal(isMounted(pod.mount), false, 'stop unmounts');
  await pod.daemon.start();
  await waitFor('the remount', () => isMounted(pod.mount));
  assert.equal(fs.readFileSync(path.join(pod.mount, 'hello.txt'), 'utf8'), 'hello\n');
});

test('a stale mount left by a killed daemon is cleared on start', async (t) => {
  const pod = await startPod(t);
  fs.writeFileSync(path.join(pod.mount, 'kept'), 'kept');
  await pod.daemon.kill9();
  assert.equal(isMounted(pod.mount), true, 'the dead mount is still there');
  assert.throws(() => fs.statSync(path.join(pod.mount, 'kept')), { code: 'ENOTCONN' });
  await pod.daemon.start();
  await waitFor('the remount', () => {
    try {
      return fs.readFileSync(path.join(pod.mount, 'kept'), 'utf8') === 'kept';
    } catch {
      return false;
    }
  });
});

test('CLI errors name what is wrong and never print a stack trace', async (t) => {
  const d = await startDaemon(t);
  const cases: Array<[string[], RegExp]> = [
    [['network', 'create', 'bad name!', '--mount', '/tmp/x'], /name/],
    [['network', 'create', 'ok', '--mount', 'relative/dir/../../../..'], /mount point|absolute|not empty|already has/],
    [['pod', 'list', '--bogus'], /unknown option/],
    [['nosuchcommand'], /unknown command/],
  ];
  for (const [args, re] of cases) {
    const r = await d.cli(args);
    assert.notEqual(r.code, 0, `wormhole ${args.join(' ')} should fail`);
    assert.match(r.stderr, re, `wormhole ${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const dir = tempDir(t);
  const busy = path.join(dir, 'busy');
  fs.mkdirSync(busy);
  fs.writeFileSync(path.join(busy, 'file'), 'x');
  const r = await d.cli(['network', 'create', 'n1', '--mount', busy]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not empty/);
  const again = await d.cli(['network', 'create', 'n2', '--mount', path.join(dir, 'm2')]);
  assert.equal(again.code, 0, again.stderr);
  const dup = await d.cli(['network', 'create', 'n2', '--mount', path.join(dir, 'm3')]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
});

test('the CLI says when the daemon is not running', async (t) => {
  const dir = tempDir(t);
  const r = await new (await import('../helpers/pods.js')).TestDaemon(dir).cli(['status']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /daemon is not running/);
});

test('an invalid pod config is reported by name and does not stop the daemon', async (t) => {
  const pod = await startPod(t, { network: 'good' });
  await pod.daemon.stop();
  const bad = path.join(pod.daemon.home, 'pods', 'broken');
  fs.mkdirSync(bad, { recursive: true });
  fs.writeFileSync(
    path.join(bad, 'pod.toml'),
    'network = "broken"\nname = "p"\ndata = "/tmp/x"\ncache = { ram = "lots" }\nbogus = 1\n',
  );
  await pod.daemon.start();
  await waitFor('the good pod', () => isMounted(pod.mount));
  const log = pod.daemon.log();
  assert.match(log, /cache\.ram: invalid size/);
  assert.match(log, /unknown key bogus/);
});
