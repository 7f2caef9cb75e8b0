/** wormhole status */
import type { Command } from 'commander';
import type { DaemonStatus } from '../../daemon/daemon.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { formatBytes, formatDuration, printJson } from '../output.js';
import { podRows } from './pod.js';

async function status(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const s = await request<DaemonStatus>(ctx.client(), 'GET', '/v1/status');
  if (opts.json) return printJson(s);
  ctx.say(`daemon ${s.version}, pid ${s.pid}, up ${formatDuration(s.uptime)}, memory ${formatBytes(s.rss)}`);
  ctx.say(`home ${s.home}`);
  ctx.say('');
  ctx.say(s.pods.length ? podRows(s.pods) : 'no pods; create one with: wormhole network create NAME --mount DIR');
  for (const p of s.pods) {
    ctx.say(
      `\n${p.network}/${p.name}: ${p.chunks} chunks, ${formatBytes(p.chunkBytes)} stored; RAM cache ${formatBytes(p.cacheBytes)} of ${formatBytes(p.cacheBudget)}`,
    );
  }
}

export function register(program: Command, ctx: Context): void {
  program
    .command('status')
    .description('show the daemon and its pods')
    .option('--json', 'print as JSON')
    .action((opts) => ctx.run(() => status(ctx, opts)));
}
