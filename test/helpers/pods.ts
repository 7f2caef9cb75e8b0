/**
 * Starts real daemons (the wormholed binary) with their own temp home and
 * mount, configures them through the CLI, and tears everything down when the
 * test ends, failed or not: daemon stopped (killed if it must be), mount
 * gone, temp files removed.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(ROOT, 'bin', 'wormhole.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function isMounted(dir: string): boolean {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[4] === dir);
}

export class TestDaemon {
  readonly home: string;
  constructor(readonly dir: string) {
    this.home = path.join(dir, 'home');
  }

  /** Network namespace the daemon runs in (tests of partitions). */
  netns: string | undefined;

  cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    // The CLI talks to the daemon over a Unix socket: it needs no namespace; `daemon start` runs the daemon in it.
    if (this.netns && args[0] === 'daemon' && args[1] === 'start') {
      // nsenter, not `ip netns exec`: that one also makes a mount namespace, where the mount would be invisible.
      return run(
        'nsenter',
        [`--net=/run/netns/${this.netns}`, process.execPath, CLI, '--home', this.home, ...args],
        opts,
      );
    }
    return run(process.execPath, [CLI, '--home', this.home, ...args], opts);
  }

  /** Runs the CLI and fails with its output if it exits non-zero. */
  async ok(args: string[]): Promise<string> {
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`wormhole ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  pid(): number | undefined {
    try {
      return Number.parseInt(fs.readFileSync(path.join(this.home, 'wormholed.pid'), 'utf8'), 10);
    } catch {
      return undefined;
    }
  }

  async start(): Promise<void> {
    await this.ok(['daemon', 'start']);
  }

  async stop(): Promise<void> {
    await this.ok(['daemon', 'stop']);
  }

  /** kill -9 and wait until the process is gone. */
  async kill9(): Promise<void> {
    const pid = this.pid();
    if (!pid) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    await waitFor('the daemon to die', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.home, 'wormholed.log'), 'utf8');
    } catch {
      return '';
    }
  }
}

export interface TestPod {
  daemon: TestDaemon;
  mount: string;
  network: string;
}

async function forceUnmount(dir: string): Promise<void> {
  if (!isMounted(dir)) return;
  await run('umount', ['-l', dir]);
}

const stacks = new WeakMap<TestContext, Array<() => Promise<void>>>();

/** Registers a teardown step; steps run last-registered first, each even if another failed. */
export function defer(t: TestContext, fn: () => Promise<void>): void {
  let stack = stacks.get(t);
  if (!stack) {
    const steps: Array<() => Promise<void>> = [];
    stack = steps;
    stacks.set(t, steps);
    t.after(async () => {
      const errors: unknown[] = [];
      while (steps.length) {
        try {
          await (steps.pop() as () => Promise<void>)();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length) throw errors[0];
    });
  }
  stack.push(fn);
}

/** A temp dir for a test, removed (with any mount under it) when the test ends. */
export function tempDir(t: TestContext, prefix = 'wormhole-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(t, async () => {
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts) await forceUnmount(m);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Starts a daemon with a fresh home (in a network namespace if given). Stopped (or killed) when the test ends. */
export async function startDaemon(
  t: TestContext,
  dir = tempDir(t),
  opts: { netns?: string; config?: string } = {},
): Promise<TestDaemon> {
  const d = new TestDaemon(dir);
  d.netns = opts.netns;
  if (opts.config !== undefined) {
    fs.mkdirSync(d.home, { recursive: true });
    fs.writeFileSync(path.join(d.home, 'wormhole.toml'), opts.config);
  }
  defer(t, async () => {
    const r = await d.cli(['daemon', 'stop'], { timeoutMs: 90_000 });
    if (r.code !== 0 || d.pid() !== undefined) await d.kill9();
  });
  await d.start();
  return d;
}

/** A daemon with one network mounted at <dir>/mnt. */
export async function startPod(t: TestContext, opts: { network?: string; dir?: string } = {}): Promise<TestPod> {
  const dir = opts.dir ?? tempDir(t);
  const daemon = await startDaemon(t, dir);
  const mount = path.join(dir, 'mnt');
  const network = opts.network ?? 'test';
  await daemon.ok(['network', 'create', network, '--mount', mount]);
  await waitFor('the mount', () => isMounted(mount));
  return { daemon, mount, network };
}

export type { ChildProcess };
export { spawn };
