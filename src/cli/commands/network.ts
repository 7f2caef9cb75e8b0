/** wormhole network create | set; wormhole invite; wormhole join */
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../../config/units.js';
import { UsageError } from '../../core/errors.js';
import type { PodInfo } from '../../daemon/pod.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

interface PodPlace {
  role?: string;
  zone?: string;
  capacity?: string;
  affinity?: string;
  mount?: string;
  data?: string;
  pod?: string;
  listen?: string;
  advertise?: string;
  json?: boolean;
}

function place(opts: PodPlace): Record<string, string | number> {
  return {
    ...(opts.mount ? { mount: path.resolve(opts.mount) } : {}),
    ...(opts.data ? { data: path.resolve(opts.data) } : {}),
    ...(opts.pod ? { pod: opts.pod } : {}),
    ...(opts.listen ? { listen: opts.listen } : {}),
    ...(opts.advertise ? { advertise: opts.advertise } : {}),
    ...(opts.role ? { role: opts.role } : {}),
    ...(opts.zone ? { zone: opts.zone } : {}),
    ...(opts.capacity ? { capacity: opts.capacity } : {}),
    ...(opts.affinity !== undefined ? { affinity: parseAffinity(opts.affinity) } : {}),
  };
}

export function parseAffinity(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n > 1000)
    throw new UsageError(`invalid --affinity ${v} (expected a number from 0 to 1000)`);
  return n;
}

function reportPod(ctx: Context, pod: PodInfo, what: string): void {
  ctx.say(`${what} ${pod.network} as pod ${pod.name}`);
  if (pod.mount) ctx.say(`mounted at ${pod.mount}`);
  if (pod.listen) ctx.say(`listening on ${pod.listen}`);
  ctx.say(`data in ${pod.data}`);
}

async function create(ctx: Context, name: string, opts: PodPlace & { conflict?: string }) {
  const body = { name, ...place(opts), ...(opts.conflict ? { conflict: opts.conflict } : {}) };
  const pod = await request<PodInfo>(ctx.client(), 'POST', '/v1/networks', body);
  if (opts.json) return printJson(pod);
  reportPod(ctx, pod, 'created network');
  ctx.say(`conflicts: ${pod.conflict}; invite other pods with: wormhole invite ${pod.network}`);
}

async function invite(ctx: Context, network: string, opts: { expires?: string; json?: boolean }) {
  const ms = parseDuration(opts.expires ?? '24h');
  if (ms === undefined || ms <= 0)
    throw new UsageError(`invalid --expires ${opts.expires} (expected e.g. 30m, 24h, 7d)`);
  const r = await request<{ token: string; expires: number }>(ctx.client(), 'POST', '/v1/invite', {
    network,
    expires: ms,
  });
  if (opts.json) return printJson(r);
  ctx.say(r.token);
  process.stderr.write(`one-time invite to ${network}, valid until ${new Date(r.expires).toISOString()}\n`);
  process.stderr.write(`on the new pod: wormhole join <token> --mount DIR\n`);
}

async function join(ctx: Context, token: string, opts: PodPlace) {
  const pod = await request<PodInfo>(ctx.client(), 'POST', '/v1/join', { token, ...place(opts) });
  if (opts.json) return printJson(pod);
  reportPod(ctx, pod, 'joined network');
}

async function set(ctx: Context, network: string, key: string, value: string, opts: { json?: boolean }) {
  const r = await request<{ settings: Record<string, string> }>(ctx.client(), 'POST', '/v1/network-config', {
    network,
    key,
    value,
  });
  if (opts.json) return printJson(r.settings);
  ctx.say(`${network}: ${key} = ${r.settings[key] ?? value}`);
}

async function show(ctx: Context, network: string, opts: { json?: boolean }) {
  const r = await request<{ settings: Record<string, string> }>(
    ctx.client(),
    'GET',
    `/v1/network-config?network=${encodeURIComponent(network)}`,
  );
  if (opts.json) return printJson(r.settings);
  for (const [k, v] of Object.entries(r.settings)) ctx.say(`${k} = ${v}`);
}

function podPlaceOptions(c: Command): Command {
  return c
    .option('--mount <dir>', 'where to mount the network folder')
    .option('--data <dir>', "where the pod keeps its data (default: in the daemon's home)")
    .option('--pod <name>', 'name of this pod (default: host name and a random suffix)')
    .option('--listen <host:port>', 'where this pod accepts the other pods (default 127.0.0.1 and a free port)')
    .option('--advertise <host:port>', 'where the other pods should dial this one, if not the listen address')
    .option('--role <role>', 'storage (holds replicas, default), cache, client (stores nothing durable) or backup')
    .option('--zone <name>', 'datacenter or site: replicas go to distinct zones first (default: default)')
    .option('--capacity <size>', 'bytes this pod may hold for replicas, e.g. 500GiB (default: its disk)')
    .option('--affinity <n>', 'share of replicas relative to the other pods (default 1; 0: only when needed)')
    .option('--json', 'print the pod as JSON');
}

export function register(program: Command, ctx: Context): void {
  const n = program.command('network').description('create and configure networks');
  podPlaceOptions(
    n
      .command('create')
      .description('create a network (its certificate authority) with this node as its first pod')
      .argument('<name>', 'network name (letters, digits, ".", "_", "-")')
      .option('--conflict <policy>', 'how concurrent edits resolve: copy (keep both) or newest', 'copy'),
  ).action((name, opts) => ctx.run(() => create(ctx, name, opts)));
  n.command('set')
    .description(
      'change a network setting, on every pod: conflict newest|copy; redundancy N (replicas of each chunk); grace DURATION (how long a silent pod is waited for before its data is rebuilt elsewhere); reaction.favorable|reaction.mitigated|reaction.grave LIST (of rebuild, read-only, cut)',
    )
    .argument('<network>')
    .argument('<key>', 'conflict, redundancy, grace, reaction.favorable, reaction.mitigated or reaction.grave')
    .argument('<value>', 'e.g. newest, 3, 10m, rebuild,read-only')
    .option('--json', 'print every setting as JSON')
    .action((network, key, value, opts) => ctx.run(() => set(ctx, network, key, value, opts)));
  n.command('show')
    .description("print the network's settings")
    .argument('<network>')
    .option('--json', 'print as JSON')
    .action((network, opts) => ctx.run(() => show(ctx, network, opts)));
  program
    .command('invite')
    .description('print a one-time token that lets another pod join a network')
    .argument('<network>')
    .option('--expires <duration>', 'how long the token is valid', '24h')
    .option('--json', 'print the token and its expiry as JSON')
    .action((network, opts) => ctx.run(() => invite(ctx, network, opts)));
  podPlaceOptions(
    program
      .command('join')
      .description('join a network with an invite token')
      .argument('<token>', 'from wormhole invite'),
  ).action((token, opts) => ctx.run(() => join(ctx, token, opts)));
}
