/** wormhole where PATH; wormhole config get|set PATH: commands about a file or folder of a mount. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { PodInfo, WhereReport } from '../../daemon/pod.js';
import { request } from '../client.js';
import type { Context } from '../context.js';
import { formatBytes, printJson, table } from '../output.js';

/** Which network a path of a mount belongs to, and the path inside it. */
export async function locate(ctx: Context, p: string): Promise<{ network: string; rel: string }> {
  const abs = path.resolve(p);
  const pods = await request<PodInfo[]>(ctx.client(), 'GET', '/v1/pods');
  for (const pod of pods) {
    if (!pod.mount) continue;
    if (abs === pod.mount || abs.startsWith(`${pod.mount}/`))
      return { network: pod.network, rel: abs.slice(pod.mount.length) || '/' };
  }
  throw new UsageError(`${abs} is not inside the mount of any pod of this daemon`);
}

async function where(ctx: Context, p: string, opts: { json?: boolean }): Promise<void> {
  const { network, rel } = await locate(ctx, p);
  const q = new URLSearchParams({ network, path: rel });
  const r = await request<WhereReport>(ctx.client(), 'GET', `/v1/where?${q}`);
  if (opts.json) return printJson(r);
  const chunks = r.ranges.reduce((a, x) => a + x.chunks, 0);
  ctx.say(`${r.path}: ${formatBytes(r.size)} in ${chunks} chunks, redundancy ${r.redundancy}`);
  if (r.ranges.length === 0) return;
  ctx.say(
    table(
      ['RANGE', 'CHUNKS', 'HELD BY', 'TARGETS'],
      r.ranges.map((x) => [
        `${x.start}-${x.end - 1}`,
        String(x.chunks),
        x.holders.join(', ') || '(nobody reachable)',
        x.targets.join(', '),
      ]),
    ),
  );
}

interface FolderConfig {
  path: string;
  set: { redundancy?: number };
  redundancy: number;
}

async function configGet(ctx: Context, p: string, opts: { json?: boolean }): Promise<void> {
  const { network, rel } = await locate(ctx, p);
  const q = new URLSearchParams({ network, path: rel });
  const r = await request<FolderConfig>(ctx.client(), 'GET', `/v1/folder-config?${q}`);
  if (opts.json) return printJson(r);
  ctx.say(`${r.path}: redundancy ${r.redundancy}${r.set.redundancy ? ' (set here)' : ' (inherited)'}`);
}

async function configSet(ctx: Context, p: string, key: string, value: string, opts: { json?: boolean }) {
  const { network, rel } = await locate(ctx, p);
  const r = await request<FolderConfig>(ctx.client(), 'POST', '/v1/folder-config', { network, path: rel, key, value });
  if (opts.json) return printJson(r);
  ctx.say(`${r.path}: redundancy ${r.redundancy}${r.set.redundancy ? ' (set here)' : ' (inherited)'}`);
}

export function register(program: Command, ctx: Context): void {
  program
    .command('where')
    .description('list, for each range of a file, the pods that hold its chunks and the pods that should')
    .argument('<path>', 'a file in a mount')
    .option('--json', 'print as JSON')
    .action((p, opts) => ctx.run(() => where(ctx, p, opts)));
  const c = program.command('config').description('settings of a folder or file of a mount');
  c.command('get')
    .description('show the settings that apply to a folder or file')
    .argument('<path>')
    .option('--json', 'print as JSON')
    .action((p, opts) => ctx.run(() => configGet(ctx, p, opts)));
  c.command('set')
    .description(
      'set a folder or file setting for everything under it: redundancy N (replicas of each chunk), or inherit',
    )
    .argument('<path>')
    .argument('<key>', 'redundancy')
    .argument('<value>', 'a number from 1 to 16, or inherit')
    .option('--json', 'print as JSON')
    .action((p, key, value, opts) => ctx.run(() => configSet(ctx, p, key, value, opts)));
}
