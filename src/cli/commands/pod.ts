/** wormhole pod list | set | drain | remove */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { MemberStatus } from '../../daemon/network.js';
import type { PodInfo } from '../../daemon/pod.js';
import type { PodHealth } from '../../replication/replicator.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { formatBytes, formatDuration, printJson, table } from '../output.js';

export function podRows(pods: PodInfo[]): string {
  return table(
    ['NETWORK', 'POD', 'STATE', 'FILES', 'SIZE', 'MOUNT'],
    pods.map((p) => [
      p.network,
      p.name,
      p.state === 'failed' ? `failed: ${p.error ?? ''}` : p.state,
      String(p.files),
      formatBytes(p.bytes),
      p.mount ? `${p.mount}${p.mounted ? '' : ' (not mounted)'}` : '-',
    ]),
  );
}

function stateOf(m: MemberStatus, h: PodHealth | undefined): string {
  let s: string = m.state;
  if (h?.state === 'lost')
    s = `lost (silent past the grace period, since ${formatDuration((Date.now() - (h.silentSince ?? Date.now())) / 1000)})`;
  else if (m.state === 'unreachable' && m.since)
    s = `unreachable since ${formatDuration((Date.now() - m.since) / 1000)} ago`;
  else if (m.state === 'connected' && m.rtt !== null) s = `connected (${m.rtt.toFixed(1)} ms)`;
  return h?.draining ? `${s}, draining` : s;
}

export function memberRows(network: string, members: MemberStatus[], health: PodHealth[] = []): string {
  const by = new Map(health.map((h) => [h.number, h]));
  return table(
    ['NETWORK', 'POD', 'ADDRESS', 'ROLE', 'ZONE', 'STATE'],
    members.map((m) => {
      const h = by.get(m.number);
      return [
        network,
        m.self ? `${m.name} (this)` : m.name,
        m.address ?? '-',
        h?.role ?? '-',
        h?.zone ?? '-',
        stateOf(m, h),
      ];
    }),
  );
}

async function list(ctx: Context, opts: { json?: boolean; network?: string }): Promise<void> {
  const pods = (await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods')).filter(
    (p) => !opts.network || p.network === opts.network,
  );
  if (opts.json) return printJson(pods.map((p) => ({ ...p, members: p.members })));
  if (pods.length === 0) return ctx.say('no pods; create one with: wormhole network create NAME --mount DIR');
  ctx.say(podRows(pods));
  for (const p of pods.filter((x) => x.members.length > 0))
    ctx.say(`\n${memberRows(p.network, p.members, p.health?.pods)}`);
}

async function networkOf(ctx: Context, network: string | undefined): Promise<string> {
  if (network) return network;
  const pods = await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods');
  if (pods.length === 1) return pods[0]?.network as string;
  throw new UsageError(
    pods.length ? 'this daemon has several networks: say which with --network NAME' : 'this daemon has no pods',
  );
}

async function remove(ctx: Context, pod: string, opts: { network?: string; force?: boolean }): Promise<void> {
  const network = await networkOf(ctx, opts.network);
  const r = await request<{ lost: number; lostBytes: number; below: number }>(ctx.client(), 'POST', '/v1/remove', {
    network,
    pod,
    force: !!opts.force,
  });
  ctx.say(`pod ${pod} removed from ${network}: every pod now refuses it`);
  if (r.lost) ctx.say(`${r.lost} chunks (${formatBytes(r.lostBytes)}) had no other copy and are lost`);
  if (r.below) ctx.say(`${r.below} chunks are below their redundancy until they are rebuilt`);
}

async function set(ctx: Context, key: string, value: string, opts: { network?: string; json?: boolean }) {
  const network = await networkOf(ctx, opts.network);
  const pod = await request<PodInfo>(ctx.client(), 'POST', '/v1/pod-config', { network, key, value });
  if (opts.json) return printJson(pod);
  ctx.say(`${network}/${pod.name}: ${key} = ${value}`);
}

/** The drained pod's share of the tree, from this daemon's view. */
async function drainState(ctx: Context, network: string, pod: string) {
  const pods = await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods');
  const info = pods.find((p) => p.network === network);
  const h = info?.health?.pods.find((x) => x.name === pod);
  return { h, repair: info?.health?.repair };
}

async function drain(
  ctx: Context,
  pod: string,
  opts: { network?: string; wait?: boolean; cancel?: boolean; json?: boolean },
): Promise<void> {
  const network = await networkOf(ctx, opts.network);
  await request(ctx.client(), 'POST', '/v1/drain', { network, pod, cancel: !!opts.cancel });
  if (opts.cancel) return ctx.say(`${pod} is no longer drained: it takes its share of replicas again`);
  if (opts.wait === false) return ctx.say(`draining ${pod}; follow it with: wormhole status`);
  let first: number | null = null;
  const tty = process.stderr.isTTY && !opts.json;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: `draining ${pod} [{bar}] {percentage}% | {value}/{total} chunks moved | {left} left` },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  for (;;) {
    const { h } = await drainState(ctx, network, pod);
    if (!h) throw new Error(`${pod} is not a member of ${network}`);
    if (h.state === 'unreachable' || h.state === 'lost') {
      bar?.stop();
      throw new Error(`${pod} is ${h.state}: its chunks move only while it is reachable (or after the grace period)`);
    }
    if (h.chunks !== null) {
      if (first === null) {
        first = h.chunks;
        bar?.start(Math.max(1, first), 0, { left: formatBytes(h.bytes ?? 0) });
      }
      bar?.update(Math.max(0, first - h.chunks), { left: formatBytes(h.bytes ?? 0) });
      if (h.chunks === 0) break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  bar?.stop();
  if (opts.json) return printJson({ pod, network, drained: true, moved: first });
  ctx.say(`${pod} holds no chunk of ${network} any more: safe to remove (wormhole pod remove ${pod})`);
}

export function register(program: Command, ctx: Context): void {
  const p = program.command('pod').description('the pods of your networks');
  p.command('list')
    .description("list this daemon's pods and every member of their networks, with role, zone and state")
    .option('--network <name>', 'only this network')
    .option('--json', 'print as JSON')
    .action((opts) => ctx.run(() => list(ctx, opts)));
  p.command('set')
    .description(
      "change this daemon's pod at runtime: role storage|cache|client|backup, zone NAME, capacity SIZE, affinity N",
    )
    .argument('<key>', 'role, zone, capacity or affinity')
    .argument('<value>')
    .option('--network <name>', 'the network (needed when this daemon has several)')
    .option('--json', 'print the pod as JSON')
    .action((key, value, opts) => ctx.run(() => set(ctx, key, value, opts)));
  p.command('drain')
    .description('move every chunk a pod holds to the other pods, and wait until it is safe to remove')
    .argument('<pod>', 'pod name or id')
    .option('--network <name>', 'the network (needed when this daemon has several)')
    .option('--no-wait', 'start draining and return at once')
    .option('--cancel', 'stop draining: the pod takes its share again')
    .option('--json', 'print the result as JSON')
    .action((pod, opts) => ctx.run(() => drain(ctx, pod, opts)));
  p.command('remove')
    .description(
      'remove a pod from its network: its certificate is refused everywhere from then on. Refused if it would lose data or break redundancy, unless --force',
    )
    .argument('<pod>', 'pod name or id')
    .option('--network <name>', 'the network (needed when this daemon has several)')
    .option('--force', 'remove it even if chunks would be lost or fall below their redundancy')
    .action((pod, opts) => ctx.run(() => remove(ctx, pod, opts)));
}
