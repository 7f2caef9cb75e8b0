/**
 * Roles and capacity, end to end: three storage pods with small capacity
 * limits and one client pod, redundancy 2.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { SeededBytes, sha256, sha256File } from '../helpers/files.js';
import { health, podInfo, readError, settled, where } from '../helpers/health.js';
import { type NetPod, startNetwork } from '../helpers/network.js';

const MiB = 1024 * 1024;
const CAPACITY = 8 * MiB;

test('a client pod stores no replica and keeps its cache within budget; capacity too small to rebuild is mitigated', {
  timeout: 180_000,
}, async (t) => {
  const net = await startNetwork(t, 4, {
    podArgs: (i) => (i === 3 ? ['--role', 'client'] : ['--capacity', String(CAPACITY)]),
  });
  const [a, , c, client] = net.pods as [NetPod, NetPod, NetPod, NetPod];
  await client.daemon.ok(['pod', 'set', 'cache.ram', '2MiB']);

  // 9 MiB written in the client: 90 files of 100 KiB, one chunk each.
  const files = new Map<string, string>();
  const gen = new SeededBytes('capacity');
  fs.mkdirSync(path.join(client.mount, 'd'));
  for (let i = 0; i < 90; i++) {
    const data = gen.next(100 * 1024);
    fs.writeFileSync(path.join(client.mount, 'd', `f${i}`), data);
    files.set(`d/f${i}`, sha256(data));
  }
  const h = await net.waitFor('every chunk on two storage pods, none on the client', () => settled(a, 4), 60_000);
  assert.equal(h.chunks, 90);
  assert.equal(h.pods.find((p) => p.name === 'pod3')?.chunks, 0, 'the client holds no replica');
  for (const p of h.pods.filter((x) => x.role === 'storage'))
    assert.ok((p.used ?? 0) <= CAPACITY, `${p.name} holds ${p.used} bytes, within its capacity`);
  await net.waitFor(
    'the client dropped its own copies once replicated',
    async () => (await podInfo(client)).chunkBytes === 0,
  );

  // The client reads everything (9 MiB) with a RAM cache of 2 MiB, and keeps nothing on disk.
  for (const [name, sum] of files) assert.equal(sha256File(path.join(client.mount, name)), sum, name);
  const ci = await podInfo(client);
  assert.equal(ci.chunkBytes, 0, 'nothing kept on disk');
  assert.ok(ci.cacheBytes <= ci.cacheBudget, `RAM cache ${ci.cacheBytes} within ${ci.cacheBudget}`);
  assert.equal(ci.cacheBudget, 2 * MiB);

  // A file can ask for more copies than the network's redundancy; the folder keeps its own.
  const f0 = path.join(client.mount, 'd', 'f0');
  await client.daemon.ok(['config', 'set', f0, 'redundancy', '3']);
  const conf = (p: string) => client.daemon.ok(['config', 'get', p, '--json']).then((o) => JSON.parse(o));
  assert.deepEqual(await conf(f0), { path: '/d/f0', set: { redundancy: 3 }, redundancy: 3 });
  assert.deepEqual(await conf(path.join(client.mount, 'd')), { path: '/d', set: {}, redundancy: 2 });
  await net.waitFor('d/f0 on all three storage pods', async () =>
    (await where(client, f0)).ranges.every((r) => r.holders.length === 3),
  );

  // A storage pod is lost; the two left cannot hold 9 MiB each within 8 MiB: mitigated.
  await a.daemon.ok(['network', 'set', net.name, 'reaction.mitigated', 'rebuild,read-only']);
  await a.daemon.ok(['network', 'set', net.name, 'grace', '1s']);
  await c.daemon.kill9();
  const m = await net.waitFor(
    'health mitigated',
    async () => {
      const x = await health(client);
      return x.state === 'mitigated' && x.unrebuildable > 0 && !x.repair.active && x;
    },
    60_000,
  );
  t.diagnostic(`mitigated: ${m.below} chunks below redundancy, ${m.unrebuildable} cannot be rebuilt`);
  assert.equal(m.lost, 0, 'no chunk lost');
  for (const p of (await health(a)).pods.filter((x) => x.role === 'storage' && x.state !== 'lost'))
    assert.ok((p.used ?? 0) <= CAPACITY, `${p.name} stays within its capacity (${p.used} bytes)`);
  for (const [name, sum] of files) assert.equal(sha256File(path.join(client.mount, name)), sum, `${name} still reads`);
  await net.waitFor('the reaction: read-only', async () => (await health(client)).access === 'read-only');
  assert.throws(() => fs.writeFileSync(path.join(client.mount, 'd', 'new'), 'x'), { code: 'EROFS' });
  assert.equal(readError(path.join(client.mount, 'd', 'f0')), null);
});
