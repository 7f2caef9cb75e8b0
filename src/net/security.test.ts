/**
 * Who gets in. Every refusal must happen before any handler runs, send
 * nothing to the refused peer, and leave one log line naming the remote
 * address and the reason.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../core/testing.js';
import type { Peer } from './connection.js';
import { createAuthority } from './pki.js';
import { podIdentity, RawClient, startPod, type TestPod } from './testing.js';

const DAY = 86_400_000;

/** Pod `b` of network `net` with a handler and listeners that record whether anything got through. */
async function guarded(t: TestContext, extra = {}): Promise<TestPod & { ran: string[] }> {
  const b = await startPod(t, await podIdentity('net', 'b'), extra);
  const ran: string[] = [];
  b.transport.handle('echo', (body) => {
    ran.push('handler');
    return body;
  });
  b.transport.on('message', () => ran.push('message'));
  b.transport.on('peer-up', (p: Peer) => ran.push(`peer-up ${p.podId}`));
  return { ...b, ran };
}

/** A raw client with `identity` tries to talk; it must be cut off with nothing received. */
async function expectRefused(
  t: TestContext,
  b: TestPod & { ran: string[] },
  identity: Awaited<ReturnType<typeof podIdentity>> | undefined,
  reason: RegExp,
) {
  const c = await RawClient.connect(t, b.address, identity);
  c.send({ t: 'hello', v: 1 });
  c.send({ t: 'req', id: 1, type: 'echo', body: { x: 1 } });
  c.send({ t: 'msg', type: 'echo', body: {} });
  await c.waitClosed();
  assert.equal(c.received, 0, 'nothing was sent to the refused peer');
  const line = await b.logs.line(/^net: refused connection/);
  assert.match(line.msg, new RegExp(`from 127\\.0\\.0\\.1:${c.localPort}: `));
  assert.match(String(line.reason), reason);
  assert.equal(line.remote, `127.0.0.1:${c.localPort}`);
  assert.deepEqual(b.ran, [], 'no handler ran');
  assert.equal(b.transport.peers().length, 0);
}

test('a client without a certificate is refused when the pod serves no joins', async (t) => {
  await expectRefused(t, await guarded(t), undefined, /^no certificate$/);
});

test('a client without a certificate may ask join, and nothing else', async (t) => {
  const joins: unknown[] = [];
  const b = await guarded(t, { onJoin: async (body: unknown) => joins.push(body) });
  const c = await RawClient.connect(t, b.address);
  c.send({ t: 'req', id: 1, type: 'echo', body: { x: 1 } });
  await c.waitClosed();
  assert.equal(c.received, 0);
  const line = await b.logs.line(/^net: refused connection/);
  assert.match(line.msg, /no certificate, and req echo is not a join request/);
  assert.deepEqual(b.ran, []);
  assert.deepEqual(joins, []);

  const hello = await RawClient.connect(t, b.address);
  hello.send({ t: 'hello', v: 1 });
  await hello.waitClosed();
  assert.equal(hello.received, 0);

  const twice = await RawClient.connect(t, b.address);
  twice.send({ t: 'req', id: 1, type: 'join', body: { n: 1 } });
  twice.send({ t: 'req', id: 2, type: 'echo', body: {} });
  await twice.waitClosed();
  await b.logs.line(/more than its join request/);
  assert.deepEqual(b.ran, []);
});

test('a certificate from another network is refused', async (t) => {
  const b = await guarded(t);
  await expectRefused(t, b, await podIdentity('elsewhere', 'x'), /^other network \(elsewhere\)$/);
});

test('a certificate from another CA of the same network name is refused', async (t) => {
  const b = await guarded(t);
  const impostor = await podIdentity('net', 'x', { ca: await createAuthority('net') });
  await expectRefused(t, b, impostor, /^unknown authority$/);
});

test('an expired certificate is refused', async (t) => {
  const b = await guarded(t);
  const expired = await podIdentity('net', 'x', {
    notBefore: new Date(Date.now() - 2 * DAY),
    notAfter: new Date(Date.now() - DAY),
  });
  await expectRefused(t, b, expired, /^expired$/);
});

test('a revoked pod is refused, however valid its certificate', async (t) => {
  const seen: string[] = [];
  const b = await guarded(t, {
    isRevoked: (podId: string, fp: string) => {
      seen.push(`${podId} ${fp.length}`);
      return podId === 'x';
    },
  });
  await expectRefused(t, b, await podIdentity('net', 'x'), /^revoked/);
  assert.deepEqual(seen, ['x 64']);
});

test('dialing a pod that presents another pod certificate is refused on the dialing side', async (t) => {
  const a = await startPod(t, await podIdentity('net', 'a'));
  const b = await guarded(t);
  const ups: string[] = [];
  a.transport.on('peer-up', (p: Peer) => ups.push(p.podId));
  a.transport.connect('c', b.address); // b answers there, not c
  const line = await a.logs.line(/^net: refused connection to c at/);
  assert.match(line.msg, new RegExp(`to c at ${b.address.replace(/\./g, '\\.')}: wrong pod \\(expected c, got b\\)`));
  assert.deepEqual(ups, []);
  assert.equal(a.transport.peer('c'), undefined);
  assert.equal(a.transport.peer('b'), undefined);
  // b saw a valid pod connect and go before saying hello: no handler, no peer-up
  assert.deepEqual(b.ran, []);
  a.transport.disconnect('c');
  assert.deepEqual(a.transport.peers(), []);
});

test('a pod refused by the server never reports it up', async (t) => {
  const b = await guarded(t, { isRevoked: (podId: string) => podId === 'a' });
  const a = await startPod(t, await podIdentity('net', 'a'));
  const ups: string[] = [];
  a.transport.on('peer-up', (p: Peer) => ups.push(p.podId));
  a.transport.connect('b', b.address);
  await b.logs.line(/refused connection from .*: revoked/);
  await a.logs.line(/connection to b failed before hello/);
  assert.deepEqual(ups, []);
  assert.deepEqual(b.ran, []);
});

test('a malformed frame from an authenticated peer closes that connection only', async (t) => {
  const b = await guarded(t);
  const a = await startPod(t, await podIdentity('net', 'a'));
  a.transport.connect('b', b.address);
  const ab = await waitFor('a connected', () => a.transport.peer('b'));

  const bad = await RawClient.connect(t, b.address, await podIdentity('net', 'm'));
  bad.send({ t: 'hello', v: 1 });
  await waitFor('m connected', () => b.transport.peer('m'));
  bad.write(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])); // 0xc1: never used in msgpack
  await bad.waitClosed();
  const line = await b.logs.line(/closing connection to m/);
  assert.match(String(line.reason), /^malformed frame/);

  const huge = await RawClient.connect(t, b.address, await podIdentity('net', 'h'));
  huge.send({ t: 'hello', v: 1 });
  await waitFor('h connected', () => b.transport.peer('h'));
  huge.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await huge.waitClosed();
  await b.logs.line(/closing connection to h .*exceeds the limit/);

  assert.equal(ab.closed, false);
  assert.deepEqual(await ab.request('echo', { still: 'here' }), { still: 'here' });
});

test('revoking a connected pod closes its connection, and it cannot come back', async (t) => {
  const revoked = new Set<string>();
  const b = await guarded(t, { isRevoked: (podId: string) => revoked.has(podId) });
  const a = await startPod(t, await podIdentity('net', 'a'));
  const downs: string[] = [];
  b.transport.on('peer-down', (id: string, reason: string) => downs.push(`${id}: ${reason}`));
  a.transport.connect('b', b.address);
  await waitFor('b sees a', () => b.transport.peer('a'));
  revoked.add('a');
  b.transport.enforceRevocations();
  assert.deepEqual(downs, ['a: revoked']);
  await b.logs.line(/refused connection from .*: revoked \(pod a\)/); // a redials, in vain
  assert.equal(b.transport.peer('a'), undefined);
});
