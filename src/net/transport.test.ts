import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Prng, waitFor, withDeadline } from '../core/testing.js';
import type { Peer } from './connection.js';
import { captureLog, podIdentity, RawClient, startPod, type TestPod } from './testing.js';
import { Transport, type TransportOptions } from './transport.js';

type Extra = Partial<Omit<TransportOptions, 'identity' | 'log'>>;

/** Pods `a` and `b` of one network, `a` dialing `b`, both connected. */
async function pair(t: TestContext, extra: Extra = {}): Promise<{ a: TestPod; b: TestPod; ab: Peer; ba: Peer }> {
  const a = await startPod(t, await podIdentity('net', 'a'), extra);
  const b = await startPod(t, await podIdentity('net', 'b'), extra);
  a.transport.connect('b', b.address);
  const ab = await waitFor('a to reach b', () => a.transport.peer('b'));
  const ba = await waitFor('b to accept a', () => b.transport.peer('a'));
  return { a, b, ab, ba };
}

test('two pods connect; requests are answered and messages delivered', async (t) => {
  const { a, b, ab, ba } = await pair(t);
  b.transport.handle<{ x: number }>('double', (body, peer) => ({ x: body.x * 2, from: peer.podId }));
  a.transport.handle('hi', () => 'hello');
  assert.deepEqual(await ab.request('double', { x: 21 }), { x: 42, from: 'a' });
  assert.equal(await ba.request('hi', {}), 'hello');

  const got: unknown[] = [];
  b.transport.on('message', (type: string, body: unknown, peer: Peer) => got.push([type, body, peer.podId]));
  await ab.send('note', { n: 1 });
  await ab.send('note', { n: 2 });
  await waitFor('two messages', () => got.length === 2);
  assert.deepEqual(got, [
    ['note', { n: 1 }, 'a'],
    ['note', { n: 2 }, 'a'],
  ]);

  const [status] = a.transport.peers();
  assert.equal(status?.podId, 'b');
  assert.equal(status?.state, 'connected');
  assert.equal(status?.address, b.address);
  await waitFor('an RTT', () => ab.rtt !== null);
  assert.ok(ab.rtt! >= 0 && ab.rtt! < 1000);
  assert.deepEqual(
    b.transport.peers().map((p) => [p.podId, p.address, p.state]),
    [['a', null, 'connected']],
  );
});

test('4 MiB buffers travel both ways', async (t) => {
  const { b, ab } = await pair(t);
  const up = new Prng(1).bytes(4 * 1024 * 1024);
  const down = new Prng(2).bytes(4 * 1024 * 1024);
  b.transport.handle<{ data: Buffer }>('swap', (body) => {
    assert.ok(body.data.equals(up));
    return { data: down };
  });
  const res = await ab.request<{ data: Buffer }>('swap', { data: up });
  assert.ok(Buffer.isBuffer(res.data) && res.data.equals(down));
});

test('sends wait for the socket to drain: memory stays bounded, all arrive in order', async (t) => {
  const { b, ab } = await pair(t);
  const block = Buffer.alloc(256 * 1024, 7);
  let received = 0;
  let inOrder = true;
  b.transport.on('message', (_type: string, body: { i: number }) => {
    if (body.i !== received) inOrder = false;
    received++;
  });
  const n = 400; // 100 MiB, all queued at once
  let maxBuffered = 0;
  const sends = Array.from({ length: n }, (_, i) =>
    ab.send('blob', { i, block }).then(() => {
      maxBuffered = Math.max(maxBuffered, ab.writableLength);
    }),
  );
  await withDeadline('all sends', Promise.all(sends), 20_000);
  await waitFor('every message', () => received === n, 20_000);
  assert.ok(inOrder);
  assert.ok(maxBuffered < 2 * block.length, `socket buffered up to ${maxBuffered} bytes`);
});

test('a handler error comes back as RemoteError with its name, message and code', async (t) => {
  const { b, ab } = await pair(t);
  b.transport.handle('fail', () => {
    throw Object.assign(new Error('no such chunk'), { name: 'MissingChunkError', code: 'EIO' });
  });
  b.transport.handle('reject', async () => Promise.reject(new TypeError('bad body')));
  await assert.rejects(ab.request('fail', {}), {
    name: 'RemoteError',
    remoteName: 'MissingChunkError',
    remoteMessage: 'no such chunk',
    remoteCode: 'EIO',
  });
  await assert.rejects(ab.request('reject', {}), { name: 'RemoteError', remoteName: 'TypeError' });
  await assert.rejects(ab.request('nobody', {}), { name: 'RemoteError', remoteName: 'NoHandlerError' });
  assert.equal(ab.closed, false, 'errors do not close the connection');
});

test('timeouts and aborts settle the call and cancel the remote handler', async (t) => {
  const { b, ab } = await pair(t);
  const aborted: string[] = [];
  b.transport.handle<{ tag: string }>('hang', (body, _peer, signal) => {
    signal.addEventListener('abort', () => aborted.push(body.tag));
    return new Promise(() => {});
  });
  await assert.rejects(ab.request('hang', { tag: 'timeout' }, { timeoutMs: 50 }), { name: 'TimeoutError' });
  await waitFor('the handler told of the timeout', () => aborted.includes('timeout'));

  const ac = new AbortController();
  const call = ab.request('hang', { tag: 'abort' }, { signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(call, { name: 'AbortError' });
  await waitFor('the handler told of the abort', () => aborted.includes('abort'));

  await assert.rejects(ab.request('hang', { tag: 'pre' }, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.ok(!aborted.includes('pre'));
});

test('closing a connection rejects every pending call, on both sides', async (t) => {
  const { a, b, ab } = await pair(t);
  let serverSignal: AbortSignal | undefined;
  b.transport.handle('hang', (_body, _peer, signal) => {
    serverSignal = signal;
    return new Promise(() => {});
  });
  const calls = [ab.request('hang', {}), ab.request('hang', {}), ab.request('hang', {})];
  await waitFor('the handler to run', () => serverSignal);
  const downs: string[] = [];
  a.transport.on('peer-down', (podId: string) => downs.push(podId));
  await b.transport.stop();
  for (const c of calls) await assert.rejects(c, { name: 'ConnectionClosedError' });
  assert.equal(serverSignal!.aborted, true);
  await waitFor('peer-down on a', () => downs.includes('b'));
  await assert.rejects(ab.request('hang', {}), { name: 'ConnectionClosedError' });
  await assert.rejects(ab.send('x', {}), { name: 'ConnectionClosedError' });
});

test('a pod reconnects once the other listens again on the same port', async (t) => {
  const { a, b } = await pair(t);
  const port = b.transport.address!.port;
  const events: string[] = [];
  a.transport.on('peer-up', (p: Peer) => events.push(`up ${p.podId}`));
  a.transport.on('peer-down', (podId: string) => events.push(`down ${podId}`));
  await b.transport.stop();
  await waitFor('a to see b down', () => events.includes('down b'));
  await waitFor('a to retry', () => a.transport.peers()[0]?.state !== 'connected');

  const b2 = await startPod(t, b.identity, { listen: { host: '127.0.0.1', port } });
  b2.transport.handle('ping', () => 'pong');
  const ab = await waitFor('a to reconnect', () => a.transport.peer('b'), 10_000);
  assert.equal(await ab.request('ping', {}), 'pong');
  assert.deepEqual(events, ['down b', 'up b']);
});

test('when both pods dial each other, both keep the one dialed by the smaller id', async (t) => {
  for (let round = 0; round < 5; round++) {
    const a = await startPod(t, await podIdentity('net', 'a'));
    const b = await startPod(t, await podIdentity('net', 'b'));
    const downs: string[] = [];
    a.transport.on('peer-down', (id: string) => downs.push(`a lost ${id}`));
    b.transport.on('peer-down', (id: string) => downs.push(`b lost ${id}`));
    a.transport.connect('b', b.address);
    b.transport.connect('a', a.address);
    // Settled: each side holds the connection a dialed, and no other connection is open.
    await waitFor('one connection', () => {
      const ab = a.transport.peer('b');
      const ba = b.transport.peer('a');
      return ab?.outgoing === true && ba?.outgoing === false && !ab.closed && !ba.closed;
    });
    const ab = a.transport.peer('b')!;
    b.transport.handle('who', (_body, peer) => peer.remoteAddress);
    const seenByB = await ab.request<string>('who', {});
    assert.equal(seenByB, b.transport.peer('a')!.remoteAddress);
    assert.deepEqual(downs, [], `round ${round}`);
    await a.transport.stop();
    await b.transport.stop();
  }
});

test('a pod that stops answering pings is declared down', async (t) => {
  const a = await startPod(t, await podIdentity('net', 'a'), { heartbeatMs: 50 });
  const events: string[] = [];
  a.transport.on('peer-up', (p: Peer) => events.push(`up ${p.podId}`));
  a.transport.on('peer-down', (id: string, reason: string) => events.push(`down ${id}: ${reason}`));
  // A pod that says hello, then hangs: it neither reads nor answers, like a frozen process or a cut cable.
  const frozen = await RawClient.connect(t, a.address, await podIdentity('net', 'c'));
  frozen.send({ t: 'hello', v: 1 });
  await frozen.frame((f) => f.t === 'hello');
  frozen.socket.pause();
  await waitFor('peer-down', () => events.length === 2, 5_000);
  assert.deepEqual(events, ['up c', 'down c: heartbeat lost']);
  await a.logs.line(/connection to c .* is dead: 3 pings unanswered/);
});

test('stop() leaves no socket, server or timer behind', async (t) => {
  const held = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'FSReqCallback');
  const b = await startPod(t, await podIdentity('net', 'b'), { heartbeatMs: 20 });
  b.transport.handle('hang', () => new Promise(() => {}));
  const withB = held();
  // a only dials: once it stops, nothing of it may remain, and b must see its connection go.
  const logs = captureLog();
  const a = new Transport({ identity: await podIdentity('net', 'a'), log: logs.log, heartbeatMs: 20 });
  t.after(() => a.stop());
  await a.start();
  a.connect('b', b.address);
  a.connect('c', '127.0.0.1:1'); // nobody there: a dial in its retry loop
  const ab = await waitFor('a connected', () => a.peer('b'));
  const pending = ab.request('hang', {}).catch((err: Error) => err.name);
  await a.stop();
  assert.equal(await pending, 'ConnectionClosedError');
  assert.deepEqual(a.peers(), []);
  await waitFor('b to see a go', () => b.transport.peer('a') === undefined);
  await waitFor(`resources released (with b alone: ${withB}; now: ${held()})`, () => held().length <= withB.length);
});
