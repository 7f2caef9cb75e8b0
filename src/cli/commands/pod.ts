/** wormhole pod list | remove */
import type { Command } from 'commander';
import type { MemberStatus } from '../../daemon/network.js';
import type { PodInfo } from '../../daemon/pod.js';
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

function stateOf(m: MemberStatus): string {
  if (m.state === 'unreachable' && m.since)
    return `unreachable since ${formatDuration((Date.now() - m.since) / 1000)} ago`;
  if (m.state === 'connected' && m.rtt !== null) return `connected (${m.rtt.toFixed(1)} ms)`;
  return m.state;
}

export function memberRows(network: string, members: MemberStatus[]): string {
  return table(
    ['NETWORK', 'POD', 'ADDRESS', 'STATE', 'ROLE'],
    members.map((m) => [network, m.self ? `${m.name} (this)` : m.name, m.address ?? '-', stateOf(m), 'storage']),
  );
}

async function list(ctx: Context, opts: { json?: boolean; network?: string }): Promise<void> {
  const pods = (await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods')).filter(
    (p) => !opts.network || p.network === opts.network,
  );
  if (opts.json) return printJson(pods.map((p) => ({ ...p, members: p.members })));
  if (pods.length === 0) return ctx.say('no pods; create one with: wormhole network create NAME --mount DIR');
  ctx.say(podRows(pods));
  for (const p of pods.filter((x) => x.members.length > 0)) ctx.say(`\n${memberRows(p.network, p.members)}`);
}

async function remove(ctx: Context, pod: string, opts: { network?: string }): Promise<void> {
  const pods = await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods');
  const network = opts.network ?? (pods.length === 1 ? pods[0]?.network : undefined);
  if (!network) throw new Error('this daemon has several networks: say which with --network NAME');
  await request(ctx.client(), 'POST', '/v1/remove', { network, pod });
  ctx.say(`pod ${pod} removed from ${network}: every pod now refuses it`);
}

export function register(program: Command, ctx: Context): void {
  const p = program.command('pod').description('the pods of your networks');
  p.command('list')
    .description("list this daemon's pods and every member of their networks, with state")
    .option('--network <name>', 'only this network')
    .option('--json', 'print as JSON')
    .action((opts) => ctx.run(() => list(ctx, opts)));
  p.command('remove')
    .description('remove a pod from its network: its certificate is refused everywhere from then on')
    .argument('<pod>', 'pod name or id')
    .option('--network <name>', 'the network (needed when this daemon has several)')
    .action((pod, opts) => ctx.run(() => remove(ctx, pod, opts)));
}
