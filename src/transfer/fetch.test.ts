import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { PodLink } from '../core/link.js';
import { silentLogger } from '../core/log.js';
import { ChunkFetcher } from './fetch.js';

const log = silentLogger();
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

/** A pod answering chunk.get from `held`, or as `behave` says; counts the requests it got. */
function pod(
  podId: string,
  held: Map<string, Buffer>,
  behave: 'ok' | 'corrupt' | 'hang' | 'fail' = 'ok',
  rtt = 1,
): PodLink & { asked: number } {
  return {
    podId,
    rtt,
    asked: 0,
    async send() {},
    request<T>(type: string, body: object, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<T> {
      this.asked++;
      assert.equal(type, 'chunk.get');
      const hash = (body as { hash: Buffer }).hash;
      if (behave === 'fail') return Promise.reject(new Error('connection closed'));
      if (behave === 'hang')
        return new Promise((_, reject) => {
          const t = setTimeout(
            () => reject(Object.assign(new Error('timed out'), { name: 'TimeoutError' })),
            opts?.timeoutMs ?? 1000,
          );
          opts?.signal?.addEventListener('abort', () => {
            clearTimeout(t);
            reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          });
        });
      const data = held.get(hash.toString('hex')) ?? null;
      if (behave === 'corrupt' && data) return Promise.resolve({ data: Buffer.from(data).fill(0, 0, 1) } as T);
      return Promise.resolve({ data } as T);
    },
  };
}

function fetcher(peers: PodLink[], timeoutMs = 200): ChunkFetcher {
  const f = new ChunkFetcher({ peers: () => peers, handle: () => {}, log, local: async () => null, timeoutMs });
  return f;
}

const chunk = Buffer.from('the bytes of a chunk');
const key = sha(chunk).toString('hex');
const held = new Map([[key, chunk]]);

test('a chunk comes from a pod that holds it, verified; known holders are asked first', async () => {
  const empty = pod('e', new Map(), 'ok', 0.1);
  const holder = pod('h', held, 'ok', 5);
  const f = fetcher([empty, holder]);
  f.heard(sha(chunk), 'h');
  assert.deepEqual(await f.fetch(sha(chunk)), chunk);
  assert.equal(holder.asked, 1);
  assert.equal(empty.asked, 0, 'the faster pod that does not hold it was not asked');
  assert.equal(f.fetched, 1);
  assert.equal(f.fetchedBytes, chunk.length);
});

test('a corrupt answer, a failure or a timeout moves on to the next pod', async () => {
  for (const bad of ['corrupt', 'fail', 'hang'] as const) {
    const first = pod('a', held, bad, 1);
    const second = pod('b', held, 'ok', 2);
    const f = fetcher([first, second], 100);
    assert.deepEqual(await f.fetch(sha(chunk)), chunk, bad);
    assert.equal(first.asked, 1, bad);
    assert.equal(second.asked, 1, bad);
  }
});

test('no pod has it: MissingChunkError; only corrupt copies: CorruptChunkError', async () => {
  await assert.rejects(fetcher([pod('a', new Map()), pod('b', new Map())]).fetch(sha(chunk)), {
    name: 'MissingChunkError',
  });
  await assert.rejects(fetcher([pod('a', held, 'corrupt')]).fetch(sha(chunk)), { name: 'CorruptChunkError' });
  await assert.rejects(fetcher([]).fetch(sha(chunk)), { name: 'MissingChunkError' });
});

test('concurrent reads of one chunk share one request', async () => {
  const holder = pod('h', held);
  const f = fetcher([holder]);
  const all = await Promise.all([f.fetch(sha(chunk)), f.fetch(sha(chunk)), f.fetch(sha(chunk))]);
  for (const d of all) assert.deepEqual(d, chunk);
  assert.equal(holder.asked, 1);
});

test('an aborted fetch stops at once with AbortError', async () => {
  const f = fetcher([pod('a', held, 'hang')], 10_000);
  const ac = new AbortController();
  const p = f.fetch(sha(chunk), ac.signal);
  ac.abort();
  await assert.rejects(p, { name: 'AbortError' });
});

test('concurrent fetches spread over the pods that hold the chunks', async () => {
  const chunks = Array.from({ length: 8 }, (_, i) => Buffer.from(`chunk number ${i}`));
  const all = new Map(chunks.map((c) => [sha(c).toString('hex'), c]));
  const a = pod('a', all, 'ok', 1);
  const b = pod('b', all, 'ok', 2);
  const f = fetcher([a, b]);
  const got = await Promise.all(chunks.map((c) => f.fetch(sha(c))));
  assert.deepEqual(got, chunks);
  assert.equal(a.asked + b.asked, 8);
  assert.ok(a.asked >= 3 && b.asked >= 3, `a got ${a.asked} requests, b ${b.asked}`);
});
