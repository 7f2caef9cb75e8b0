/**
 * A pod's mount: a FUSE session serving its file system on a directory, and
 * the invalidations that show changes made elsewhere at once.
 */
import * as fs from 'node:fs';
import type { Startable } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import type { FileSystem } from '../fs/filesystem.js';
import { clearStaleMount, FuseSession } from '../fuse/index.js';
import type { Changes } from '../tree/names.js';

const SUBTYPE = 'wormhole';

import { FsAdapter } from './adapter.js';
import { type Access, gate } from './gate.js';

export interface PodMountOptions {
  mountpoint: string;
  /** Shown as the mount's source, e.g. wormhole:NETWORK. */
  source: string;
  entryTimeout?: number;
  attrTimeout?: number;
  /** Milliseconds of polling after each request (0: sleep at once). */
  pollWindowMs?: number;
  /** What the network's health allows now (read-write when absent). */
  access?: () => Access;
  log: Logger;
}

export class PodMount implements Startable {
  private session: FuseSession | undefined;
  private adapter: FsAdapter;
  /** Set when the kernel ended the session without stop() (someone ran umount). */
  onLost: () => void = () => {};

  constructor(
    fsys: FileSystem,
    private readonly opts: PodMountOptions,
  ) {
    this.adapter = new FsAdapter(fsys, {
      entryTimeout: opts.entryTimeout ?? 30,
      attrTimeout: opts.attrTimeout ?? 30,
      log: opts.log,
    });
  }

  get mounted(): boolean {
    return this.session !== undefined;
  }

  async start(): Promise<void> {
    // A mount left by a daemon that died answers ENOTCONN to everything: clear it before touching the directory.
    if (await clearStaleMount(this.opts.mountpoint, SUBTYPE)) this.opts.log.warn('cleared a stale mount');
    fs.mkdirSync(this.opts.mountpoint, { recursive: true });
    const log = this.opts.log;
    const access = this.opts.access;
    const ops = access ? gate(this.adapter, access) : this.adapter;
    this.session = await FuseSession.mount(ops, {
      mountpoint: this.opts.mountpoint,
      subtype: SUBTYPE,
      fsname: this.opts.source,
      allowOther: true,
      defaultPermissions: true,
      clearStale: false,
      readaheadKb: 4096,
      writebackCache: true,
      handleKillpriv: true,
      pollWindowMs: this.opts.pollWindowMs ?? 2,
      logger: { warn: (o, m) => log.warn(o, m), debug: (o, m) => log.debug(o, m) },
    });
    const session = this.session;
    void session.closed.then((err) => {
      if (this.session !== session) return;
      this.session = undefined;
      this.adapter.forgetAll();
      log.warn({ err }, 'the mount was removed from outside');
      this.onLost();
    });
  }

  async stop(): Promise<void> {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    await s.unmount();
    this.adapter.forgetAll();
  }

  /** FUSE requests received since the mount, by operation. */
  requestCounts(): Record<string, number> {
    return { ...(this.session?.counts ?? {}) };
  }

  /** Drops what the kernel cached of the names and inodes other pods changed. */
  invalidate(changes: Changes): void {
    // Inodes first (their attributes and pages), then names (a regular file's
    // names too: see FsCore.remoteChanged).
    for (const ino of changes.inodes) void this.invalidateInode(ino);
    for (const e of changes.entries) void this.invalidateEntry(e.parent, e.name);
  }

  invalidateInode(ino: bigint): Promise<boolean> {
    return this.session?.notifyInvalInode(ino) ?? Promise.resolve(false);
  }

  invalidateEntry(parent: bigint, name: Buffer): Promise<boolean> {
    return this.session?.notifyInvalEntry(parent, name) ?? Promise.resolve(false);
  }
}
