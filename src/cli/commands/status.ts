/** wormhole status */
import type { Command } from 'commander';
import type { DaemonStatus } from '../../daemon/daemon.js';
import type { HealthReport } from '../../replication/replicator.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { formatBytes, formatDuration, printJson, table } from '../output.js';
import { podRows } from './pod.js';

const STATE_TEXT: Record<HealthReport['state'], string> = {
  favorable: 'favorable: every chunk has its replicas, or room to rebuild them',
  mitigated: 'mitigated: nothing lost, but not enough pods or space to keep every replica',
  grave: 'grave: some chunks have no reachable copy',
  isolated: 'isolated: this pod reaches no other pod; it serves what it holds and queues its changes',
};

/** A progress bar as text: the same drawing as the live bars, for a one-shot status. */
export function bar(done: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  const n = Math.round(f * width);
  return `[${'█'.repeat(n)}${'░'.repeat(width - n)}] ${Math.floor(f * 100)}%`;
}

function healthLines(name: string, h: HealthReport): string[] {
  const out = [`${name}: health ${STATE_TEXT[h.state]}`];
  if (h.access !== 'read-write')
    out.push(`  the mount is ${h.access} (reaction to ${h.state}: ${h.reactions.join(', ')})`);
  out.push(
    `  ${h.chunks} chunks (${formatBytes(h.bytes)}), redundancy ${h.redundancy}, grace period ${formatDuration(h.graceMs / 1000)}`,
  );
  if (h.below) out.push(`  ${h.below} chunks (${formatBytes(h.belowBytes)}) below their redundancy`);
  if (h.unrebuildable) out.push(`  ${h.unrebuildable} of them cannot be rebuilt now (not enough pods or space)`);
  if (h.lost) out.push(`  ${h.lost} chunks (${formatBytes(h.lostBytes)}) with no reachable copy`);
  if (h.repair.active)
    out.push(
      `  repair ${bar(h.repair.done, h.repair.total)} ${h.repair.done}/${h.repair.total} chunks, ${formatBytes(h.repair.bytes)} sent, ${formatBytes(h.repair.rate)}/s`,
    );
  out.push(
    table(
      ['  POD', 'ROLE', 'ZONE', 'STATE', 'CHUNKS', 'HOLDS', 'USED', 'FREE', 'CAPACITY'],
      h.pods.map((p) => [
        `  ${p.name}`,
        p.role,
        p.zone,
        `${p.state}${p.draining ? ', draining' : ''}`,
        p.chunks === null ? '?' : String(p.chunks),
        p.bytes === null ? '?' : formatBytes(p.bytes),
        p.used === null ? '?' : formatBytes(p.used),
        p.free === null ? '?' : formatBytes(p.free),
        formatBytes(p.capacity),
      ]),
    ),
  );
  return out;
}

async function status(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const s = await request<DaemonStatus>(ctx.client(), 'GET', '/v1/status');
  if (opts.json) return printJson(s);
  ctx.say(`daemon ${s.version}, pid ${s.pid}, up ${formatDuration(s.uptime)}, memory ${formatBytes(s.rss)}`);
  ctx.say(`home ${s.home}`);
  ctx.say('');
  ctx.say(s.pods.length ? podRows(s.pods) : 'no pods; create one with: wormhole network create NAME --mount DIR');
  for (const p of s.pods) {
    ctx.say(
      `\n${p.network}/${p.name}: ${p.role} in zone ${p.zone}; ${p.chunks} chunks, ${formatBytes(p.chunkBytes)} stored; RAM cache ${formatBytes(p.cacheBytes)} of ${formatBytes(p.cacheBudget)}`,
    );
    if (p.health?.at) for (const l of healthLines(p.network, p.health)) ctx.say(l);
  }
}

export function register(program: Command, ctx: Context): void {
  program
    .command('status')
    .description('show the daemon, its pods, and the health of their networks (replicas, repair progress, pods)')
    .option('--json', 'print as JSON')
    .action((opts) => ctx.run(() => status(ctx, opts)));
}
