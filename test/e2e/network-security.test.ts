/**
 * Who gets into a network of real daemons, and what a stranger can do to one:
 * invites are one-time and expire (checked by the inviter, not only by the
 * joiner), clients without a certificate or with one from another CA get no
 * tree data, a removed pod is cut off both ways, and garbage on the listen
 * port never takes a daemon down.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { type TestContext, test } from 'node:test';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import {
  createAuthority,
  createKeyPair,
  decodeInvite,
  encodeFrame,
  encodeInvite,
  type Frame,
  FrameDecoder,
  issuePodCertificate,
} from '../../src/net/index.js';
import { type NetPod, readMaybe, startNetwork, type TestNetwork } from '../helpers/network.js';
import { defer, isMounted, startDaemon, type TestDaemon, tempDir } from '../helpers/pods.js';
import { waitFor } from '../helpers/wait.js';

const DEBUG = 'log_level = "debug"\n';

interface MemberJson {
  id: string;
  name: string;
  address: string | null;
  state: string;
  removed?: boolean;
}

interface PodJson {
  network: string;
  name: string;
  id: string;
  listen: string | null;
  data: string;
  mount: string | null;
  mounted: boolean;
  members: MemberJson[];
}

async function podList(d: TestDaemon): Promise<PodJson[]> {
  return JSON.parse(await d.ok(['pod', 'list', '--json'])) as PodJson[];
}

async function onlyPod(d: TestDaemon): Promise<PodJson> {
  const list = await podList(d);
  assert.equal(list.length, 1, `one pod on ${d.home}`);
  return list[0] as PodJson;
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function logLines(d: TestDaemon): LogLine[] {
  const out: LogLine[] = [];
  for (const l of d.log().split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      // a line being written
    }
  }
  return out;
}

/** Waits for a line of `d`'s log whose message matches. */
function logLine(d: TestDaemon, re: RegExp, ms = 15_000): Promise<LogLine> {
  return waitFor(`a log line ${re} on ${d.home}`, () => logLines(d).find((l) => re.test(l.msg)), ms);
}

/** Never in a healthy daemon's log, whatever it was sent. */
function assertNoCrashLines(d: TestDaemon): void {
  const bad = logLines(d).filter((l) => /uncaught exception|unhandled rejection|a .* listener threw/.test(l.msg));
  assert.deepEqual(
    bad.map((l) => `${l.msg} ${JSON.stringify(l.err ?? '')}`),
    [],
    'no uncaught exception in the log',
  );
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/**
 * A TLS client speaking frames by hand, torn down with the test. It records
 * every byte received, the frames among them, and how the connection ended.
 */
class Raw {
  readonly frames: Frame[] = [];
  received = 0;
  closed = false;
  /** The TLS handshake completed on our side (TLS 1.3: the server judges our certificate after that). */
  secure = false;
  error: Error | undefined;
  localPort = 0;
  private readonly decoder = new FrameDecoder();

  constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      try {
        this.frames.push(...this.decoder.push(d));
      } catch {
        // `received` still counts it
      }
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects; resolves once our side of the handshake is done, or the connection failed. */
  static async connect(t: TestContext, address: string, opts: tls.ConnectionOptions = {}): Promise<Raw> {
    const socket = tls.connect({
      ...hostPort(address),
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...opts,
    });
    defer(t, async () => {
      socket.destroy();
    });
    const raw = new Raw(socket);
    await new Promise<void>((resolve) => {
      socket.once('secureConnect', () => {
        raw.secure = true;
        raw.localPort = socket.localPort ?? 0;
        resolve();
      });
      socket.once('close', () => resolve());
    });
    return raw;
  }

  send(frame: object): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(frame));
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  waitClosed(ms = 15_000): Promise<true> {
    return waitFor('the pod to close the connection', () => this.closed, ms);
  }
}

interface Tcp {
  socket: net.Socket;
  closed: boolean;
  received: number;
}

/** A plain TCP connection, torn down with the test. */
async function tcp(t: TestContext, address: string): Promise<Tcp> {
  const socket = net.connect(hostPort(address));
  const c: Tcp = { socket, closed: false, received: 0 };
  socket.on('data', (d: Buffer) => {
    c.received += d.length;
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    c.closed = true;
  });
  defer(t, async () => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return c;
}

/** The bytes of a real TLS 1.3 ClientHello, captured on a local server. */
async function clientHello(t: TestContext): Promise<Buffer> {
  const server = net.createServer();
  defer(t, () => new Promise<void>((r) => server.close(() => r())));
  const got = new Promise<Buffer>((resolve) => {
    server.on('connection', (s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const c = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  assert.equal(hello[0], 0x16, 'a TLS handshake record');
  return hello;
}

/** Where a pod of the network really listens (the helper's `address` is only right with netns). */
async function listenOf(p: NetPod): Promise<string> {
  const info = await onlyPod(p.daemon);
  assert.ok(info.listen, `${p.name} listens`);
  return info.listen;
}

/** A file written in `from` shows up in each of `to`: the network still works. */
type Place = { name: string; mount: string };
async function propagates(net: TestNetwork, from: Place, to: Place[], name: string, ms = 60_000): Promise<void> {
  const content = `${name} ${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(path.join(from.mount, name), content);
  for (const p of to) {
    await net.waitFor(
      `${name} from ${from.name} on ${p.name}`,
      () => readMaybe(path.join(p.mount, name)) === content,
      ms,
    );
  }
}

/** A daemon of its own (debug log), not yet in any network. */
async function spareDaemon(t: TestContext): Promise<{ daemon: TestDaemon; mount: string }> {
  const dir = tempDir(t);
  const daemon = await startDaemon(t, dir, { config: DEBUG });
  return { daemon, mount: path.join(dir, 'mnt') };
}

/** Nothing of `network` on a daemon whose join was refused: no pod, no mount, no data. */
async function assertNotJoined(d: { daemon: TestDaemon; mount: string }, network: string): Promise<void> {
  assert.deepEqual(await podList(d.daemon), [], 'the refused daemon has no pod');
  assert.equal(isMounted(d.mount), false, 'the refused daemon mounted nothing');
  const entries = fs.existsSync(d.mount) ? fs.readdirSync(d.mount) : [];
  assert.deepEqual(entries, [], 'no tree under the mount point');
  assert.equal(fs.existsSync(path.join(d.daemon.home, 'pods', network)), false, 'no pod directory was kept');
}

test('an invite is good for one join only: the second daemon using it is refused, and gets nothing', async (t) => {
  const net = await startNetwork(t, 1);
  const a = net.pods[0] as NetPod;
  fs.mkdirSync(path.join(a.mount, 'private'));
  fs.writeFileSync(path.join(a.mount, 'private', 'secret.txt'), 'for members only');
  const token = (await a.daemon.ok(['invite', net.name])).trim();

  const b = await spareDaemon(t);
  await b.daemon.ok(['join', token, '--mount', b.mount, '--pod', 'podB', '--listen', '127.0.0.1:0']);
  await waitFor('the mount of podB', () => isMounted(b.mount));
  await net.waitFor(
    'the tree on podB',
    () => readMaybe(path.join(b.mount, 'private', 'secret.txt')) === 'for members only',
  );

  const c = await spareDaemon(t);
  const r = await c.daemon.cli(['join', token, '--mount', c.mount, '--pod', 'podC', '--listen', '127.0.0.1:0']);
  assert.notEqual(r.code, 0, `the reused invite is refused (stdout: ${r.stdout})`);
  assert.match(r.stderr, /invite already used/, 'the message says why');
  assert.match(r.stderr, new RegExp(`joining ${net.name} through 127\\.0\\.0\\.1:\\d+ failed`));
  await assertNotJoined(c, net.name);

  const refused = await logLine(a.daemon, /^join refused$/);
  assert.equal(refused.reason, 'invite already used', "the inviter's log names the reason");
  const members = (await onlyPod(a.daemon)).members.map((m) => m.name).sort();
  assert.deepEqual(members, ['pod0', 'podB'], 'the refused daemon is no member');
  // And the pod that did join is a full member: a change reaches it.
  await propagates(net, a, [{ name: 'podB', mount: b.mount }], 'after');
});

test('an expired invite is refused by the joiner and, with a forged expiry, by the inviter', async (t) => {
  const net = await startNetwork(t, 1);
  const a = net.pods[0] as NetPod;
  fs.writeFileSync(path.join(a.mount, 'inside'), 'inside');
  const issued = JSON.parse(await a.daemon.ok(['invite', net.name, '--expires', '1s', '--json'])) as {
    token: string;
    expires: number;
  };
  assert.ok(issued.expires <= Date.now() + 1_000, 'valid for one second at most');
  await waitFor('the invite to expire', () => Date.now() > issued.expires + 5, 5_000);

  const c = await spareDaemon(t);
  const r = await c.daemon.cli(['join', issued.token, '--mount', c.mount, '--pod', 'podC', '--listen', '127.0.0.1:0']);
  assert.notEqual(r.code, 0, 'the expired invite is refused');
  assert.match(r.stderr, /invite has expired/, 'the message says why');
  await assertNotJoined(c, net.name);

  // The expiry in the token is only informative: a joiner that lies about it must meet the inviter's own check.
  const forged = encodeInvite({ ...decodeInvite(issued.token), expiresAt: Date.now() + 3_600_000 });
  const f = await c.daemon.cli(['join', forged, '--mount', c.mount, '--pod', 'podC', '--listen', '127.0.0.1:0']);
  assert.notEqual(f.code, 0, 'the inviter refuses an expired secret whatever the token says');
  assert.match(f.stderr, /invite expired/, 'the message says why');
  await assertNotJoined(c, net.name);
  const refused = await logLine(a.daemon, /^join refused$/);
  assert.equal(refused.reason, 'invite expired');

  // The refusals left nothing behind: the same daemon joins with a fresh invite.
  const fresh = (await a.daemon.ok(['invite', net.name])).trim();
  await c.daemon.ok(['join', fresh, '--mount', c.mount, '--pod', 'podC', '--listen', '127.0.0.1:0']);
  await waitFor('the mount of podC', () => isMounted(c.mount));
  await net.waitFor('the tree on podC', () => readMaybe(path.join(c.mount, 'inside')) === 'inside');
});

test('clients without a certificate or with one of another CA get no tree data', async (t) => {
  const net = await startNetwork(t, 2);
  const [a, b] = net.pods as [NetPod, NetPod];
  fs.writeFileSync(path.join(a.mount, 'data'), 'tree data');
  await net.waitFor('data on b', () => readMaybe(path.join(b.mount, 'data')) === 'tree data');
  const address = await listenOf(a);
  const bInfo = await onlyPod(b.daemon);
  const pull = { t: 'req', id: 1, type: 'tree.pull', body: { vv: [], limit: 1000 } };

  // No certificate, asking for the tree: closed, nothing sent back.
  const anon = await Raw.connect(t, address);
  assert.ok(anon.secure, 'the handshake without a certificate completes (so that joins can be served)');
  anon.send(pull);
  await anon.waitClosed();
  assert.equal(anon.received, 0, 'nothing was sent to the client without a certificate');
  let line = await logLine(a.daemon, new RegExp(`^net: refused connection from 127\\.0\\.0\\.1:${anon.localPort}: `));
  assert.match(line.msg, /no certificate, and req tree\.pull is not a join request/);

  // No certificate, hello then pull, as a pod would: the same.
  const anonHello = await Raw.connect(t, address);
  anonHello.send({ t: 'hello', v: 1 });
  anonHello.send({ ...pull, id: 2 });
  await anonHello.waitClosed();
  assert.equal(anonHello.received, 0);
  line = await logLine(a.daemon, new RegExp(`^net: refused connection from 127\\.0\\.0\\.1:${anonHello.localPort}: `));
  assert.match(line.msg, /no certificate, and hello is not a join request/);

  // No certificate: the join endpoint is the one thing that answers (here: a malformed join).
  const joiner = await Raw.connect(t, address);
  joiner.send({ t: 'req', id: 7, type: 'join', body: { nothing: true } });
  await joiner.waitClosed();
  assert.equal(joiner.frames.length, 1, 'one answer');
  const answer = joiner.frames[0] as Frame & { ok?: boolean; error?: { message?: string } };
  assert.equal(answer.t, 'res');
  assert.equal(answer.id, 7);
  assert.equal(answer.ok, false);
  assert.match(String(answer.error?.message), /malformed join request/);
  assert.equal('body' in answer, false, 'no body in a refusal');

  /** A client that says hello and asks for the tree: it gets nothing, is closed, and the pod logs why. */
  const refusedAfterHello = async (client: typeof anon) => {
    client.send({ t: 'hello', v: 1 });
    client.send(pull);
    await client.waitClosed();
    assert.equal(client.received, 0, 'nothing was sent to it');
    return logLine(a.daemon, new RegExp(`^net: refused connection from 127\\.0\\.0\\.1:${client.localPort}: `));
  };

  // A certificate from another CA, naming the network and pod b: an impostor of b.
  const otherCa = await createAuthority(net.name);
  const keys = await createKeyPair();
  const impostorCert = await issuePodCertificate(otherCa, {
    podId: bInfo.id,
    network: net.name,
    publicKey: keys.publicKey,
  });
  const impostor = await Raw.connect(t, address, { key: keys.key, cert: `${impostorCert}${otherCa.caCert}` });
  line = await refusedAfterHello(impostor);
  assert.equal(line.reason, 'unknown authority');

  // A certificate of another network.
  const elsewhereCa = await createAuthority('elsewhere');
  const elsewhereCert = await issuePodCertificate(elsewhereCa, {
    podId: 'abcdef0123456789',
    network: 'elsewhere',
    publicKey: keys.publicKey,
  });
  const stranger = await Raw.connect(t, address, { key: keys.key, cert: `${elsewhereCert}${elsewhereCa.caCert}` });
  line = await refusedAfterHello(stranger);
  assert.equal(line.reason, 'other network (elsewhere)');

  // A self-signed certificate made by openssl, not a pod certificate at all.
  const dir = tempDir(t);
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    path.join(dir, 'k.pem'),
    '-out',
    path.join(dir, 'c.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=mallory',
  ]);
  const selfSigned = await Raw.connect(t, address, {
    key: fs.readFileSync(path.join(dir, 'k.pem')),
    cert: fs.readFileSync(path.join(dir, 'c.pem')),
  });
  line = await refusedAfterHello(selfSigned);
  assert.equal(line.reason, 'unknown authority');

  // None of them became a member or disturbed the real ones.
  const members = (await onlyPod(a.daemon)).members;
  assert.deepEqual(members.map((m) => `${m.name} ${m.state}`).sort(), ['pod0 self', 'pod1 connected']);
  await propagates(net, a, [b], 'still-fine');
  assertNoCrashLines(a.daemon);
});

test('a removed pod is cut off both ways, shown as removed, and told so', async (t) => {
  const net = await startNetwork(t, 3);
  const [a, b, c] = net.pods as [NetPod, NetPod, NetPod];
  await propagates(net, a, [b, c], 'before');
  const cId = (await onlyPod(c.daemon)).id;

  const out = await a.daemon.ok(['pod', 'remove', c.name, '--force']);
  assert.match(out, /removed/);
  for (const p of [a, b]) {
    await net.waitFor(`${p.name} to show ${c.name} removed`, async () => {
      const m = (await onlyPod(p.daemon)).members.find((x) => x.name === c.name);
      return m?.state === 'removed' && m.removed === true;
    });
  }
  // c reaches nobody any more (it keeps trying).
  await net.waitFor(
    `${c.name} connected to no one`,
    async () => (await onlyPod(c.daemon)).members.every((m) => m.state !== 'connected'),
    30_000,
  );

  fs.writeFileSync(path.join(c.mount, 'from-c'), 'from the removed pod');
  fs.writeFileSync(path.join(a.mount, 'from-a'), 'from a member');
  // Controls: changes between the remaining members still travel, both ways, after those two.
  await propagates(net, a, [b], 'control-ab');
  await propagates(net, b, [a], 'control-ba');
  assert.equal(readMaybe(path.join(a.mount, 'from-c')), undefined, "c's change does not reach a");
  assert.equal(readMaybe(path.join(b.mount, 'from-c')), undefined, "c's change does not reach b");
  assert.equal(readMaybe(path.join(c.mount, 'from-a')), undefined, "a's change does not reach c");
  assert.equal(readMaybe(path.join(c.mount, 'control-ab')), undefined);
  assert.equal(readMaybe(path.join(c.mount, 'before')) !== undefined, true, 'c keeps what it had');

  // Both members refuse it, each with a log line naming the reason.
  for (const p of [a, b]) {
    const line = await logLine(p.daemon, /^net: refused connection from .*: revoked/, 30_000);
    assert.match(String(line.reason), new RegExp(`^revoked \\(pod ${cId}\\)$`));
  }
  // And c's own log says why it is cut off (not only that connections were lost).
  await logLine(c.daemon, /^(?!net: refused connection from).*(revoked|removed|refused)/, 30_000);
});

/** Random bytes that a TLS server rejects at once: no record type it would wait on. */
function noise(i: number): Buffer {
  const b = randomBytes(5 + ((i * 7919) % 70_000));
  b[0] = (b[0] as number) & 0x7f;
  if ((b[0] as number) >= 0x14 && (b[0] as number) <= 0x18) b[0] = 0;
  return b;
}

test('garbage on the listen port never takes a daemon down', async (t) => {
  const net = await startNetwork(t, 2);
  const [a, b] = net.pods as [NetPod, NetPod];
  const address = await listenOf(a);
  const pidBefore = a.daemon.pid();
  assert.ok(pidBefore);

  // Random bytes, many connections at once.
  const noisy = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const s = await tcp(t, address);
      s.socket.write(noise(i));
      return s;
    }),
  );
  for (const s of noisy) await waitFor('the pod to close a noisy connection', () => s.closed, 15_000);
  await logLine(a.daemon, /^net: refused connection from .*: TLS handshake failed/);

  // A TLS record header announcing a record longer than TLS allows.
  const huge = await tcp(t, address);
  huge.socket.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0xff, 0xfb]));
  huge.socket.write(randomBytes(1000));
  await waitFor('the pod to close the oversized record', () => huge.closed, 15_000);

  // A real ClientHello cut in the middle, then the end of the connection.
  const hello = await clientHello(t);
  const cut = await tcp(t, address);
  cut.socket.end(hello.subarray(0, Math.floor(hello.length / 2)));
  await waitFor('the cut hello to be closed', () => cut.closed, 15_000);

  // Without a certificate: a huge frame length, and an undecodable frame.
  const anonHuge = await Raw.connect(t, address);
  anonHuge.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await anonHuge.waitClosed();
  assert.equal(anonHuge.received, 0);
  let line = await logLine(
    a.daemon,
    new RegExp(
      `^net: refused connection from 127\\.0\\.0\\.1:${anonHuge.localPort}: unauthenticated peer sent a malformed frame`,
    ),
  );
  assert.match(line.msg, /exceeds the limit/);
  const anonJunk = await Raw.connect(t, address);
  const junk = randomBytes(300);
  junk[0] = 0xc1; // never valid msgpack
  anonJunk.write(Buffer.concat([Buffer.from([0, 0, 1, 44]), junk]));
  await anonJunk.waitClosed();
  assert.equal(anonJunk.received, 0);

  // With a valid certificate: pod b's own, from its home.
  const bInfo = await onlyPod(b.daemon);
  assert.ok(bInfo.data.startsWith(b.daemon.home), "b's data is in its daemon's home");
  const creds = podCredentials(bInfo);
  // A huge length prefix before any hello.
  const certHuge = await Raw.connect(t, address, creds);
  assert.ok(certHuge.secure);
  certHuge.write(Buffer.from([0xff, 0xff, 0xff, 0xf0]));
  certHuge.write(randomBytes(64 * 1024));
  await certHuge.waitClosed();
  line = await logLine(
    a.daemon,
    new RegExp(`^net: closing connection to ${bInfo.id} \\(127\\.0\\.0\\.1:${certHuge.localPort}\\): malformed frame`),
  );
  assert.match(line.msg, /frame length 4294967280 exceeds the limit/);
  // A hello, then a frame that is no frame of ours.
  const certJunk = await Raw.connect(t, address, creds);
  certJunk.send({ t: 'hello', v: 1 });
  certJunk.send({ t: 'req', id: -1, type: 42 });
  await certJunk.waitClosed();
  // A hello, then requests and messages with nonsense bodies, then a huge length.
  const certJunk2 = await Raw.connect(t, address, creds);
  certJunk2.send({ t: 'hello', v: 1 });
  certJunk2.send({ t: 'msg', type: 'tree.ops', body: { ops: 'not ops', chunks: [{ hash: 1, data: null }] } });
  certJunk2.send({ t: 'msg', type: 'tree.state', body: { vv: { x: 'y' }, floor: null } });
  certJunk2.send({ t: 'req', id: 1, type: 'tree.snapshot', body: { id: 5, offset: -1 } });
  certJunk2.send({ t: 'req', id: 2, type: 'no.such.request', body: null });
  certJunk2.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  await certJunk2.waitClosed();
  // A truncated frame, then the end of the connection.
  const certCut = await Raw.connect(t, address, creds);
  certCut.send({ t: 'hello', v: 1 });
  certCut.socket.end(encodeFrame({ t: 'req', id: 3, type: 'tree.pull', body: { vv: [] } }).subarray(0, 10));
  await certCut.waitClosed();

  // Still the same daemon, answering, and the network still carries changes both ways.
  assert.equal(a.daemon.pid(), pidBefore, 'the daemon was not restarted');
  const status = JSON.parse(await a.daemon.ok(['status', '--json'])) as { pid: number; pods: unknown[] };
  assert.equal(status.pid, pidBefore);
  assert.equal(status.pods.length, 1);
  await propagates(net, a, [b], 'after-garbage-ab');
  await propagates(net, b, [a], 'after-garbage-ba');
  await net.waitFor('a and b connected again', async () => {
    const m = (await onlyPod(a.daemon)).members;
    return m.every((x) => x.state === 'self' || x.state === 'connected');
  });
  assertNoCrashLines(a.daemon);
});

/** A pod's key, certificate and CA, as its daemon keeps them. */
function podCredentials(info: PodJson): { key: Buffer; cert: Buffer; ca: Buffer } {
  const dir = path.join(info.data, 'identity');
  return {
    key: fs.readFileSync(path.join(dir, 'pod.key')),
    cert: fs.readFileSync(path.join(dir, 'pod.crt')),
    ca: fs.readFileSync(path.join(dir, 'ca.crt')),
  };
}

/** The transport's bound on TCP + TLS + hello (connectTimeoutMs), which the daemon does not change. */
const CONNECT_TIMEOUT_MS = 10_000;

test('silent and stalled connections are closed within the connection timeout', async (t) => {
  const net = await startNetwork(t, 2);
  const [a, b] = net.pods as [NetPod, NetPod];
  const address = await listenOf(a);
  const hello = await clientHello(t);
  const creds = podCredentials(await onlyPod(b.daemon));

  const opened = Date.now();
  const oneByte = await tcp(t, address);
  oneByte.socket.write(Buffer.from([0x16]));
  const halfHello = await tcp(t, address);
  halfHello.socket.write(hello.subarray(0, Math.floor(hello.length / 2)));
  const stalled: Array<{ what: string; c: { closed: boolean } }> = [
    { what: 'a TCP connection that sends nothing', c: await tcp(t, address) },
    { what: 'one byte of a TLS record', c: oneByte },
    { what: 'half a ClientHello', c: halfHello },
    { what: 'a TLS client without a certificate that sends nothing', c: await Raw.connect(t, address) },
    { what: "a TLS client with b's certificate that sends no hello", c: await Raw.connect(t, address, creds) },
  ];

  const deadline = CONNECT_TIMEOUT_MS * 2.5;
  await waitFor('the silent connections to be closed', () => stalled.every((s) => s.c.closed), deadline).catch(
    (err: Error) => {
      const open = stalled.filter((s) => !s.c.closed).map((s) => s.what);
      throw new Error(`${err.message}; still open after ${Date.now() - opened} ms: ${open.join('; ')}`);
    },
  );
  await logLine(a.daemon, /TLS handshake failed \(ERR_TLS_HANDSHAKE_TIMEOUT\)/);
  await logLine(a.daemon, /no join request within/);
  // And the pod still works.
  await propagates(net, a, [b], 'after-silence');
  assertNoCrashLines(a.daemon);
});
