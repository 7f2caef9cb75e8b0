/** wormhole daemon start|stop */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { PodInfo } from '../../daemon/pod.js';
import { type Client, DaemonNotRunningError, request, waitForDaemon } from '../client.js';
import type { Context } from '../context.js';
import { DAEMON_BIN } from '../paths.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function start(ctx: Context, opts: { foreground?: boolean; logLevel?: string }): Promise<void> {
  const c: Client = ctx.client();
  const args = [DAEMON_BIN, '--home', c.home];
  if (opts.logLevel) args.push('--log-level', opts.logLevel);
  if (opts.foreground) {
    const child = spawn(process.execPath, [...args, '--log-stderr'], { stdio: 'inherit' });
    await new Promise<void>((resolve) =>
      child.on('exit', (code) => {
        process.exitCode = code ?? 1;
        resolve();
      }),
    );
    return;
  }
  if (await waitForDaemon(c, 0).catch(() => false)) {
    ctx.say(`the daemon is already running (home ${c.home})`);
    return;
  }
  fs.mkdirSync(c.home, { recursive: true, mode: 0o700 });
  const logFile = ctx.home.logFile;
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? 1;
  });
  child.unref();
  const up = await waitForDaemon(c, 30_000, () => exited === null);
  if (!up) {
    const why = tail(logFile, 5);
    throw new Error(
      `the daemon did not start${exited !== null ? ` (exit code ${exited})` : ''}; its log (${logFile}) ends with:\n${why}`,
    );
  }
  ctx.say(`daemon started (pid ${child.pid}, home ${c.home})`);
  const pods = await request<PodInfo[]>(c, 'GET', '/v1/pods');
  for (const p of pods.filter((x) => x.state === 'failed')) {
    process.stderr.write(`wormhole: warning: pod ${p.network}/${p.name} did not start: ${p.error}\n`);
  }
}

async function stop(ctx: Context): Promise<void> {
  const c = ctx.client();
  const pid = readPid(ctx.home.pidFile);
  try {
    await request(c, 'POST', '/v1/stop');
  } catch (err) {
    if (err instanceof DaemonNotRunningError) {
      ctx.say('the daemon is not running');
      return;
    }
    throw err;
  }
  const end = Date.now() + 60_000;
  let delay = 20;
  while (pid !== undefined && pidAlive(pid) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  if (pid !== undefined && pidAlive(pid)) throw new Error(`the daemon (pid ${pid}) did not stop within 60s`);
  ctx.say('daemon stopped');
}

export function register(program: Command, ctx: Context): void {
  const d = program.command('daemon').description('start or stop the local daemon (wormholed)');
  d.command('start')
    .description('start the daemon in the background; it mounts every pod it hosts')
    .option('--foreground', 'run in the foreground, logging to stderr')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace')
    .action((opts) => ctx.run(() => start(ctx, opts)));
  d.command('stop')
    .description('stop the daemon, unmounting its pods')
    .action(() => ctx.run(() => stop(ctx)));
}
