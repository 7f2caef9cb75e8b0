/** Joining a network whose log was already compacted: the new pod starts from a snapshot of the tree. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readMaybe, startNetwork } from '../helpers/network.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function logSize(daemon: { ok(args: string[]): Promise<string> }): Promise<number> {
  const s = JSON.parse(await daemon.ok(['status', '--json'])) as { pods: Array<{ sync: { log: number } | null }> };
  return s.pods[0]?.sync?.log ?? -1;
}

test('a pod joining after the log was compacted receives the whole tree (snapshot) and reads content from the others', async (t) => {
  const net = await startNetwork(t, 1);
  const a = net.pods[0];
  if (!a) throw new Error('no pod');
  fs.mkdirSync(path.join(a.mount, 'docs/deep'), { recursive: true });
  fs.writeFileSync(path.join(a.mount, 'docs/readme.txt'), 'hello from before the join\n');
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  fs.writeFileSync(path.join(a.mount, 'docs/deep/big.bin'), big);
  fs.symlinkSync('docs/readme.txt', path.join(a.mount, 'link'));
  // Alone in its network, the pod forgets its operations once they are stable.
  await net.waitFor('the first pod to compact its log', async () => (await logSize(a.daemon)) === 0, 60_000);

  const b = await net.add();
  await net.waitFor(
    'the tree on the new pod',
    () => readMaybe(path.join(b.mount, 'docs/readme.txt')) === 'hello from before the join\n',
  );
  assert.equal(
    sha(fs.readFileSync(path.join(b.mount, 'docs/deep/big.bin'))),
    sha(big),
    'content fetched from the first pod',
  );
  assert.equal(fs.readlinkSync(path.join(b.mount, 'link')), 'docs/readme.txt');
  assert.match(b.daemon.log(), /installed a snapshot/);

  // And from there on it follows the log both ways.
  fs.writeFileSync(path.join(b.mount, 'docs/after'), 'after');
  await net.waitFor(
    'a change from the new pod on the first',
    () => readMaybe(path.join(a.mount, 'docs/after')) === 'after',
  );
  fs.writeFileSync(path.join(a.mount, 'docs/after2'), 'after2');
  await net.waitFor(
    'a change from the first pod on the new',
    () => readMaybe(path.join(b.mount, 'docs/after2')) === 'after2',
  );
});
