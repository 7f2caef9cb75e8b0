import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeInvite, encodeInvite, type Invite } from './invite.js';
import { joinNetwork } from './join.js';
import { createAuthority, fingerprint } from './pki.js';
import { authority, podIdentity, startPod } from './testing.js';

test('joinNetwork reaches onJoin with the body when the CA fingerprint matches', async (t) => {
  const seen: Array<[unknown, string]> = [];
  const b = await startPod(t, await podIdentity('net', 'b'), {
    onJoin: async (body, remote) => {
      seen.push([body, remote]);
      return { cert: 'PEM…', podId: 'new' };
    },
  });
  const caFingerprint = fingerprint((await authority('net')).caCert);
  const answer = await joinNetwork({ address: b.address, caFingerprint, body: { secret: 's3cret', key: 'PUB' } });
  assert.deepEqual(answer, { cert: 'PEM…', podId: 'new' });
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]![0], { secret: 's3cret', key: 'PUB' });
  assert.match(seen[0]![1], /^127\.0\.0\.1:\d+$/);
  // the colon-separated upper-case form that openssl prints is accepted too
  const colons = caFingerprint.toUpperCase().replace(/(..)(?!$)/g, '$1:');
  assert.ok(await joinNetwork({ address: b.address, caFingerprint: colons, body: {} }));
});

test('joinNetwork refuses a server whose CA is not the invited one', async (t) => {
  let ran = false;
  const b = await startPod(t, await podIdentity('net', 'b'), {
    onJoin: async () => {
      ran = true;
    },
  });
  const other = fingerprint((await createAuthority('net')).caCert);
  await assert.rejects(joinNetwork({ address: b.address, caFingerprint: other, body: { secret: 'x' } }), {
    name: 'AuthenticationError',
    reason: 'unknown authority',
  });
  assert.equal(ran, false, 'the body never left the joiner');
});

test('a join refused by onJoin, or not served, fails with a named error', async (t) => {
  const caFingerprint = fingerprint((await authority('net')).caCert);
  const b = await startPod(t, await podIdentity('net', 'b'), {
    onJoin: async () => {
      throw Object.assign(new Error('this invite has expired'), { name: 'InvalidInviteError' });
    },
  });
  await assert.rejects(joinNetwork({ address: b.address, caFingerprint, body: {} }), {
    name: 'RemoteError',
    remoteName: 'InvalidInviteError',
    remoteMessage: 'this invite has expired',
  });
  const closed = await startPod(t, await podIdentity('net', 'c'));
  await assert.rejects(joinNetwork({ address: closed.address, caFingerprint, body: {} }), {
    name: 'ConnectionClosedError',
  });
  await assert.rejects(joinNetwork({ address: b.address, caFingerprint, body: {}, signal: AbortSignal.abort() }), {
    name: 'AbortError',
  });
});

test('joinNetwork times out on a server that never answers', async (t) => {
  const caFingerprint = fingerprint((await authority('net')).caCert);
  const b = await startPod(t, await podIdentity('net', 'b'), { onJoin: () => new Promise(() => {}) });
  await assert.rejects(joinNetwork({ address: b.address, caFingerprint, body: {}, timeoutMs: 200 }), {
    name: 'TimeoutError',
  });
});

const invite: Invite = {
  network: 'home',
  address: '192.168.1.20:7070',
  caFingerprint: 'ab'.repeat(32),
  secret: 'Zm9vYmFyYmF6cXV4cXV1eA',
};

test('invites round-trip as a short URL-safe token', () => {
  const token = encodeInvite(invite);
  assert.match(token, /^wh1\.[A-Za-z0-9_-]+$/);
  assert.ok(token.length < 140, `${token.length} characters`);
  assert.deepEqual(decodeInvite(token), invite);
  assert.deepEqual(decodeInvite(`  ${token}\n`), invite);
  const v6 = { ...invite, address: '[fe80::1]:7070', expiresAt: 1_900_000_000_000 };
  assert.deepEqual(decodeInvite(encodeInvite(v6)), v6);
});

test('bad invites are refused with a message naming what is wrong', () => {
  const packr = new Packr({ useRecords: false });
  const token = (m: unknown) => `wh1.${Buffer.from(packr.pack(m)).toString('base64url')}`;
  const f = Buffer.from(invite.caFingerprint, 'hex');
  const good = { n: 'home', a: '10.0.0.1:7070', f, s: invite.secret };
  const cases: Array<[string, RegExp]> = [
    ['', /should start with wh1\./],
    ['https://example.com', /should start with wh1\./],
    ['wh1.', /outside base64url/],
    ['wh1.!!!', /outside base64url/],
    [encodeInvite(invite).slice(0, 30), /cannot be decoded|fingerprint/],
    [`wh1.${'A'.repeat(3000)}`, /too long/],
    [token([1, 2, 3]), /does not hold an invite/],
    [token({ ...good, n: 'bad name' }), /network name/],
    [token({ ...good, a: 'nohost' }), /address/],
    [token({ ...good, a: 'host:99999' }), /address/],
    [token({ ...good, f: f.subarray(0, 16) }), /fingerprint/],
    [token({ ...good, f: 'ab'.repeat(32) }), /fingerprint/],
    [token({ ...good, s: 'short' }), /secret/],
    [token({ ...good, s: undefined }), /secret/],
    [token({ ...good, e: 'tomorrow' }), /expiry/],
    [token({ ...good, x: 1 }), /unknown fields x/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => decodeInvite(bad), { name: 'InvalidInviteError', message }, bad);
  }
  assert.throws(() => encodeInvite({ ...invite, caFingerprint: 'zz' }), { name: 'InvalidInviteError' });
});
