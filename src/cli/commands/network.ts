/** wormhole network create */
import * as path from 'node:path';
import type { Command } from 'commander';
import type { PodInfo } from '../../daemon/pod.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

async function create(
  ctx: Context,
  name: string,
  opts: { mount?: string; data?: string; pod?: string; json?: boolean },
) {
  const body = {
    name,
    ...(opts.mount ? { mount: path.resolve(opts.mount) } : {}),
    ...(opts.data ? { data: path.resolve(opts.data) } : {}),
    ...(opts.pod ? { pod: opts.pod } : {}),
  };
  const pod = await request<PodInfo>(ctx.client(), 'POST', '/v1/networks', body);
  if (opts.json) return printJson(pod);
  ctx.say(`network ${pod.network} created with pod ${pod.name}`);
  if (pod.mount) ctx.say(`mounted at ${pod.mount}`);
  ctx.say(`data in ${pod.data}`);
}

export function register(program: Command, ctx: Context): void {
  const n = program.command('network').description('create and manage networks');
  n.command('create')
    .description('create a network with this node as its first pod')
    .argument('<name>', 'network name (letters, digits, ".", "_", "-")')
    .option('--mount <dir>', 'where to mount the network folder')
    .option('--data <dir>', "where the pod keeps its data (default: in the daemon's home)")
    .option('--pod <name>', 'name of this pod (default: host name and a random suffix)')
    .option('--json', 'print the pod as JSON')
    .action((name, opts) => ctx.run(() => create(ctx, name, opts)));
}
