/**
 * Networks of real daemons for end-to-end tests: N daemons, each with its
 * own home and mount, joined into one network through the CLI (create,
 * invite, join), torn down at the end of the test whatever happens.
 *
 * With `netns`, each daemon runs in a network namespace of its own, linked
 * to a bridge by a veth pair: `cut(i)` takes pod i's link down, `heal(i)`
 * brings it back. Mounts and the control socket are not affected (they are
 * not network namespaced).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { defer, isMounted, run, startDaemon, type TestDaemon, tempDir } from './pods.js';
import { waitFor } from './wait.js';

export interface NetPod {
  daemon: TestDaemon;
  name: string;
  mount: string;
  /** Network namespace, when the network uses them. */
  ns?: string;
  address: string;
}

export interface TestNetwork {
  name: string;
  pods: NetPod[];
  /** Takes pod i's network link down (netns networks only). */
  cut(i: number): Promise<void>;
  heal(i: number): Promise<void>;
  /** Starts one more pod and joins it (the inviter is pod 0 unless said). */
  add(opts?: { via?: number }): Promise<NetPod>;
  /** waitFor, whose timeout error carries every pod's view (listing, members, log tail). */
  waitFor<T>(
    what: string,
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    ms?: number,
  ): Promise<T>;
  /** Every pod's view of the network, for failure messages. */
  dump(): Promise<string>;
}

let counter = 0;

async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

interface Netns {
  id: string;
  bridge: string;
  ns: (i: number) => string;
  veth: (i: number) => string;
  ip: (i: number) => string;
}

async function makeNetns(t: TestContext): Promise<Netns> {
  const id = `wh${process.pid % 10000}x${++counter}`;
  const n: Netns = {
    id,
    bridge: `${id}br`,
    ns: (i) => `${id}n${i}`,
    veth: (i) => `${id}v${i}`,
    ip: (i) => `10.${(process.pid % 200) + 20}.${counter % 250}.${i + 10}`,
  };
  await sh('ip', ['link', 'add', n.bridge, 'type', 'bridge']);
  defer(t, async () => {
    await run('ip', ['link', 'del', n.bridge]);
  });
  await sh('ip', ['link', 'set', n.bridge, 'up']);
  return n;
}

async function addNs(t: TestContext, n: Netns, i: number): Promise<void> {
  const ns = n.ns(i);
  const veth = n.veth(i);
  await sh('ip', ['netns', 'add', ns]);
  defer(t, async () => {
    await run('ip', ['netns', 'del', ns]);
  });
  await sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  defer(t, async () => {
    await run('ip', ['link', 'del', veth]);
  });
  await sh('ip', ['link', 'set', `${veth}p`, 'netns', ns]);
  await sh('ip', ['link', 'set', veth, 'master', n.bridge]);
  await sh('ip', ['link', 'set', veth, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${n.ip(i)}/16`, 'dev', `${veth}p`]);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', `${veth}p`, 'up']);
  await sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
}

/** Starts `size` pods joined into one network. */
export async function startNetwork(
  t: TestContext,
  size: number,
  opts: {
    netns?: boolean;
    conflict?: 'newest' | 'copy';
    name?: string;
    /** Extra arguments for pod i's create or join (e.g. --zone, --role, --capacity). */
    podArgs?: (i: number) => string[];
  } = {},
): Promise<TestNetwork> {
  const name = opts.name ?? 'net';
  const nn = opts.netns ? await makeNetns(t) : undefined;
  const pods: NetPod[] = [];

  const start = async (i: number): Promise<NetPod> => {
    const dir = tempDir(t);
    let daemon: TestDaemon;
    let ns: string | undefined;
    let host = '127.0.0.1';
    if (nn) {
      await addNs(t, nn, i);
      ns = nn.ns(i);
      host = nn.ip(i);
      daemon = await startDaemon(t, dir, { netns: ns, config: 'log_level = "debug"\n' });
    } else {
      daemon = await startDaemon(t, dir, { config: 'log_level = "debug"\n' });
    }
    // In its own namespace each pod has its own port space: one well-known port does.
    return { daemon, name: `pod${i}`, mount: path.join(dir, 'mnt'), ns, address: `${host}:7420` };
  };

  const first = await start(0);
  const create = ['network', 'create', name, '--mount', first.mount, '--pod', first.name];
  if (opts.conflict) create.push('--conflict', opts.conflict);
  create.push(...(opts.podArgs?.(0) ?? []));
  create.push('--listen', nn ? `${first.address}` : '127.0.0.1:0');
  await first.daemon.ok(create);
  await waitFor('the first mount', () => isMounted(first.mount));
  pods.push(first);

  const add = async (o: { via?: number } = {}): Promise<NetPod> => {
    const i = pods.length;
    const p = await start(i);
    const inviter = pods[o.via ?? 0] as NetPod;
    const token = (await inviter.daemon.ok(['invite', name])).trim();
    await p.daemon.ok([
      'join',
      token,
      '--mount',
      p.mount,
      '--pod',
      p.name,
      '--listen',
      nn ? p.address : '127.0.0.1:0',
      ...(opts.podArgs?.(i) ?? []),
    ]);
    await waitFor(`the mount of ${p.name}`, () => isMounted(p.mount));
    pods.push(p);
    return p;
  };
  for (let i = 1; i < size; i++) await add();

  // Everyone connected to everyone before the test starts.
  await waitFor(
    'every pod connected to every other',
    async () => {
      for (const p of pods) {
        const list = JSON.parse(await p.daemon.ok(['pod', 'list', '--json'])) as Array<{
          members: Array<{ state: string }>;
        }>;
        const states = list[0]?.members.map((m) => m.state) ?? [];
        if (states.length !== pods.length || states.some((s) => s !== 'self' && s !== 'connected')) return false;
      }
      return true;
    },
    60_000,
  );

  const linkCmd = async (i: number, state: 'up' | 'down') => {
    if (!nn) throw new Error('cut/heal need a network started with netns');
    await sh('ip', ['link', 'set', nn.veth(i), state]);
  };
  const dump = async (): Promise<string> => {
    const out: string[] = [];
    for (const p of pods) {
      let listing: string;
      try {
        listing = (fs.readdirSync(p.mount, { recursive: true }) as string[]).slice(0, 100).join(' ');
      } catch (err) {
        listing = String(err);
      }
      const members = await p.daemon.cli(['pod', 'list', '--json']).then(
        (r) => r.stdout.trim(),
        (err) => String(err),
      );
      const log = p.daemon
        .log()
        .split('\n')
        .filter((l) => !l.includes('"level":10'))
        .slice(-40)
        .join('\n');
      out.push(`--- ${p.name}: ${listing}\n${members}\n${log}`);
    }
    return out.join('\n');
  };
  const netWaitFor: TestNetwork['waitFor'] = async (what, probe, ms) => {
    try {
      return await waitFor(what, probe, ms);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await dump()}`);
    }
  };
  return { name, pods, cut: (i) => linkCmd(i, 'down'), heal: (i) => linkCmd(i, 'up'), add, waitFor: netWaitFor, dump };
}

/** Reads a file, or undefined if it is not there (yet). */
export function readMaybe(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
