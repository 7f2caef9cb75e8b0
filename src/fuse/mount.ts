/**
 * Mounting: /dev/fuse is opened here and handed to mount(8) as its fd 3
 * (`-o fd=3`), so mount(2) runs in the child while this process keeps the
 * descriptor. Needs root (or CAP_SYS_ADMIN). Also finds and clears a stale
 * mount that a crashed daemon left behind (its endpoint is not connected).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

export interface MountOptions {
  /** File system type suffix: the mount shows as fuse.<subtype>. */
  subtype: string;
  /** Shown as the mount's source (first column of /proc/mounts). */
  fsname: string;
  allowOther: boolean;
  defaultPermissions: boolean;
  maxRead: number;
}

interface RunResult {
  code: number | null;
  stderr: string;
}

function run(cmd: string, args: string[], extraFd?: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'ignore', 'pipe'];
    if (extraFd !== undefined) stdio.push(extraFd);
    const child = spawn(cmd, args, { stdio });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: stderr.trim() }));
  });
}

export class MountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountError';
  }
}

/** Opens /dev/fuse and mounts it on `mountpoint`; returns the descriptor. */
export async function mountFuse(mountpoint: string, opts: MountOptions): Promise<number> {
  const fd = fs.openSync('/dev/fuse', fs.constants.O_RDWR);
  const st = fs.statSync(mountpoint);
  const o = [
    'fd=3',
    `rootmode=${(st.mode & 0o170000).toString(8)}`,
    `user_id=${process.getuid?.() ?? 0}`,
    `group_id=${process.getgid?.() ?? 0}`,
    `max_read=${opts.maxRead}`,
  ];
  if (opts.allowOther) o.push('allow_other');
  if (opts.defaultPermissions) o.push('default_permissions');
  const args = ['-i', '-n', '-t', `fuse.${opts.subtype}`, '-o', o.join(','), opts.fsname, mountpoint];
  const res = await run('mount', args, fd);
  if (res.code !== 0) {
    fs.closeSync(fd);
    throw new MountError(`mount of ${mountpoint} failed: ${res.stderr || `exit code ${res.code}`}`);
  }
  return fd;
}

const SPAWNER = `
const { parentPort, workerData } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
const r = spawnSync(workerData.cmd, workerData.args, { stdio: ['ignore', 'ignore', 'pipe'] });
parentPort.postMessage({ code: r.status, stderr: r.stderr ? r.stderr.toString() : String(r.error || '') });
`;

/**
 * Runs a command from a worker thread. Starting a child blocks the calling
 * thread until the child has exec'd, and exec closes the descriptors the
 * child inherited: a file this process holds open on its own mount then
 * costs a FLUSH that this thread must answer. From a worker, the event loop
 * stays free to answer it.
 */
function runOffThread(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(SPAWNER, { eval: true, execArgv: [], workerData: { cmd, args } });
    w.once('message', (m: { code: number | null; stderr: string }) =>
      resolve({ code: m.code, stderr: m.stderr.trim() }),
    );
    w.once('error', reject);
  });
}

/**
 * Has the kernel write back the mount's dirty pages (syncfs(2), through
 * `sync -f`, off the event loop: the writes come back to this process).
 */
export async function syncMount(mountpoint: string): Promise<boolean> {
  return (await runOffThread('sync', ['-f', mountpoint])).code === 0;
}

/**
 * Unmounts (by running umount(8) off the event loop). A busy mount is
 * detached lazily; the connection then lives on until its last open file is
 * closed, so the caller may abort it.
 */
export async function unmount(mountpoint: string): Promise<'unmounted' | 'detached'> {
  let res = await runOffThread('umount', ['-n', mountpoint]);
  if (res.code === 0) return 'unmounted';
  res = await runOffThread('umount', ['-n', '-l', mountpoint]);
  if (res.code !== 0 && isMounted(mountpoint)) {
    throw new MountError(`umount of ${mountpoint} failed: ${res.stderr || `exit code ${res.code}`}`);
  }
  return 'detached';
}

const FUSECTL = '/sys/fs/fuse/connections';

/**
 * Ends a FUSE connection at once through the fusectl file system (mounted
 * here if needed): every waiting request fails and reads of the device end.
 * `dev` is the st_dev of the mount.
 */
export async function abortConnection(dev: number): Promise<boolean> {
  const file = path.join(FUSECTL, String(dev), 'abort');
  if (!fs.existsSync(file) && fs.existsSync(FUSECTL)) await run('mount', ['-t', 'fusectl', 'fusectl', FUSECTL]);
  try {
    fs.writeFileSync(file, '1');
    return true;
  } catch {
    return false;
  }
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export interface MountInfo {
  mountpoint: string;
  fstype: string;
  source: string;
}

export function listMounts(): MountInfo[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const parts = line.split(' ');
    const dash = parts.indexOf('-');
    if (dash < 0 || parts.length < dash + 3) continue;
    out.push({
      mountpoint: unescapeMountinfo(parts[4] ?? ''),
      fstype: parts[dash + 1] ?? '',
      source: unescapeMountinfo(parts[dash + 2] ?? ''),
    });
  }
  return out;
}

export function isMounted(mountpoint: string): boolean {
  const p = path.resolve(mountpoint);
  return listMounts().some((m) => m.mountpoint === p);
}

/**
 * Is a process still serving the mount? A stat may be answered from the
 * kernel's attribute cache even when the server is gone; opening the
 * directory always asks the server (ENOTCONN when it is dead).
 */
function probe(p: string, timeoutMs: number): Promise<'live' | 'dead' | 'hung'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('hung'), timeoutMs);
    fs.readdir(p, (err) => {
      clearTimeout(timer);
      resolve(err && (err as NodeJS.ErrnoException).code === 'ENOTCONN' ? 'dead' : 'live');
    });
  });
}

/**
 * If a mount of ours (fuse.<subtype>) sits on `mountpoint` and its daemon is
 * gone (the endpoint is not connected, or it does not answer), detach it.
 * Returns true if one was cleared. A live mount, or a mount of another kind,
 * is an error: it is never ours to remove.
 */
export async function clearStaleMount(mountpoint: string, subtype: string): Promise<boolean> {
  const p = path.resolve(mountpoint);
  const found = listMounts().filter((m) => m.mountpoint === p);
  if (found.length === 0) return false;
  for (const m of found) {
    if (m.fstype !== `fuse.${subtype}`) {
      throw new MountError(`${p} already has a ${m.fstype} file system mounted on it`);
    }
  }
  const state = await probe(p, 2000);
  if (state === 'live') throw new MountError(`${p} is already mounted by a running process`);
  for (let i = 0; i < found.length; i++) {
    const res = await run('umount', ['-n', '-l', p]);
    if (res.code !== 0) throw new MountError(`cannot clear the stale mount on ${p}: ${res.stderr}`);
  }
  return true;
}

/**
 * Sets the kernel's read-ahead for a mount (its backing device info), so
 * sequential reads arrive as large, parallel requests. `dev` is the st_dev
 * of the mount. Returns false if the setting could not be written.
 */
export function setReadahead(dev: number, kb: number): boolean {
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  try {
    fs.writeFileSync(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, String(kb));
    return true;
  } catch {
    return false;
  }
}
