/** wormhole pod list */
import type { Command } from 'commander';
import type { PodInfo } from '../../daemon/pod.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { formatBytes, printJson, table } from '../output.js';

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

async function list(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const pods = await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods');
  if (opts.json) return printJson(pods);
  if (pods.length === 0) return ctx.say('no pods; create one with: wormhole network create NAME --mount DIR');
  ctx.say(podRows(pods));
}

export function register(program: Command, ctx: Context): void {
  const p = program.command('pod').description('the pods of your networks');
  p.command('list')
    .description('list pods with their state and mount')
    .option('--json', 'print as JSON')
    .action((opts) => ctx.run(() => list(ctx, opts)));
}
