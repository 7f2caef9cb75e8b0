// Daemons for the benchmarks: the CLI, mount checks, waiting on a condition, stopping everything.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const cli = path.join(root, 'bin/wormhole.js');

/** Runs `wormhole --home pod.home ARGS` and returns its output (throws on failure). */
export function wh(pod, args) {
  return execFileSync(process.execPath, [cli, '--home', pod.home, ...args], { encoding: 'utf8' });
}

export function mounted(dir) {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

/** Polls `probe` every `stepMs` until it is true, or throws after `ms`. */
export async function until(what, probe, ms = 120_000, stepMs = 5) {
  const end = Date.now() + ms;
  for (;;) {
    if (probe()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Stops every pod's daemon and clears any mount left behind. */
export function stopAll(pods) {
  for (const p of pods) {
    if (fs.existsSync(p.home))
      spawnSync(process.execPath, [cli, '--home', p.home, 'daemon', 'stop'], { stdio: 'ignore' });
    if (mounted(p.mnt)) spawnSync('umount', ['-l', p.mnt]);
  }
}
