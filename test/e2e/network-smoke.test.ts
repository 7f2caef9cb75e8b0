import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readMaybe, startNetwork } from '../helpers/network.js';

test('three pods in network namespaces: a file appears everywhere; a cut pod catches up after healing', async (t) => {
  const net = await startNetwork(t, 3, { netns: true });
  const [a, b, c] = net.pods as [any, any, any];
  fs.writeFileSync(path.join(a.mount, 'one'), 'one');
  for (const p of [b, c]) await net.waitFor(`one on ${p.name}`, () => readMaybe(path.join(p.mount, 'one')) === 'one');
  await net.cut(2);
  fs.writeFileSync(path.join(a.mount, 'two'), 'two');
  await net.waitFor('two on b', () => readMaybe(path.join(b.mount, 'two')) === 'two');
  assert.equal(readMaybe(path.join(c.mount, 'two')), undefined, 'c is cut off');
  await net.heal(2);
  await net.waitFor('two on c after healing', () => readMaybe(path.join(c.mount, 'two')) === 'two', 60_000);
});
