import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createAuthority, createKeyPair, fingerprint, inspect, issuePodCertificate } from './pki.js';

const YEAR_MS = 365 * 86_400_000;

test('the authority is a self-signed CA named after its network, valid 10 years', async () => {
  const { caKey, caCert } = await createAuthority('home');
  assert.match(caKey, /^-----BEGIN PRIVATE KEY-----\n/);
  const ca = new X509Certificate(caCert);
  assert.equal(ca.subject, 'CN=wormhole-ca:home');
  assert.equal(ca.issuer, ca.subject);
  assert.equal(ca.ca, true);
  assert.ok(ca.verify(ca.publicKey));
  assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / YEAR_MS;
  assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
});

test('a pod certificate chains to the CA and names the pod for TLS both ways', async () => {
  const authority = await createAuthority('home');
  const { publicKey } = await createKeyPair();
  const pem = await issuePodCertificate(authority, { podId: 'a1b2', network: 'home', publicKey });
  const cert = new X509Certificate(pem);
  const ca = new X509Certificate(authority.caCert);
  assert.ok(cert.checkIssued(ca));
  assert.ok(cert.verify(ca.publicKey));
  assert.equal(cert.ca, false);
  assert.equal(cert.subject, 'CN=pod:a1b2');
  assert.equal(cert.subjectAltName, 'URI:wormhole://home/a1b2');
  assert.deepEqual(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  const other = new X509Certificate((await createAuthority('home')).caCert);
  assert.equal(cert.verify(other.publicKey), false, 'another CA of the same name did not sign it');
  const second = new X509Certificate(
    await issuePodCertificate(authority, { podId: 'a1b2', network: 'home', publicKey }),
  );
  assert.notEqual(second.serialNumber, cert.serialNumber, 'serials are random');
});

test('fingerprint is the SHA-256 of the DER, stable and distinct', async () => {
  const authority = await createAuthority('home');
  const fp = fingerprint(authority.caCert);
  assert.match(fp, /^[0-9a-f]{64}$/);
  assert.equal(fingerprint(authority.caCert), fp);
  assert.equal(fp, new X509Certificate(authority.caCert).fingerprint256.replace(/:/g, '').toLowerCase());
  assert.notEqual(fingerprint((await createAuthority('home')).caCert), fp);
});

test('inspect reads pod, network, validity and fingerprint', async () => {
  const authority = await createAuthority('lab');
  const { publicKey } = await createKeyPair();
  const pem = await issuePodCertificate(authority, { podId: 'p-1', network: 'lab', publicKey, validDays: 30 });
  const info = inspect(pem);
  assert.equal(info.podId, 'p-1');
  assert.equal(info.network, 'lab');
  assert.equal(info.fingerprint, fingerprint(pem));
  const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 29.9 && days < 30.1, `${days} days left`);
  assert.ok(info.notBefore.getTime() <= Date.now());

  const defaults = inspect(await issuePodCertificate(authority, { podId: 'p-2', network: 'lab', publicKey }));
  const years = (defaults.notAfter.getTime() - Date.now()) / YEAR_MS;
  assert.ok(years > 4.9 && years < 5.1, `default validity ${years} years`);

  const notBefore = new Date(Date.now() - 2 * 86_400_000);
  const notAfter = new Date(Date.now() - 86_400_000);
  const expired = inspect(
    await issuePodCertificate(authority, { podId: 'p-3', network: 'lab', publicKey, notBefore, notAfter }),
  );
  assert.equal(expired.notAfter.getTime(), Math.floor(notAfter.getTime() / 1000) * 1000);

  const caInfo = inspect(authority.caCert);
  assert.equal(caInfo.podId, null);
  assert.equal(caInfo.network, null);
});

test('names that do not fit a URI are refused', async () => {
  const authority = await createAuthority('lab');
  const { publicKey } = await createKeyPair();
  await assert.rejects(createAuthority('bad/name'), { name: 'UsageError' });
  await assert.rejects(issuePodCertificate(authority, { podId: 'a b', network: 'lab', publicKey }), {
    name: 'UsageError',
  });
  await assert.rejects(issuePodCertificate(authority, { podId: 'ok', network: '', publicKey }), { name: 'UsageError' });
});
