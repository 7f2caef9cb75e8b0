/**
 * The network's health reaction, applied at the mount: `read-only` refuses
 * every change with EROFS while reads go on; `cut` refuses access (EACCES)
 * to everything but the attributes of what the kernel already knows, so
 * `ls -ld` and `df` still answer and the mount stays a mount.
 */
import { AccessDeniedError, ReadOnlyError } from '../core/errors.js';
import type { FuseOperations } from '../fuse/index.js';

export type Access = 'read-write' | 'read-only' | 'cut';

const CHANGES = new Set([
  'setattr',
  'symlink',
  'mknod',
  'mkdir',
  'unlink',
  'rmdir',
  'rename',
  'link',
  'create',
  'write',
  'fallocate',
  'setxattr',
  'removexattr',
  'copyFileRange',
]);
/** Still served when access is cut: bookkeeping the kernel needs, and attributes. */
const ALWAYS = new Set([
  'init',
  'destroy',
  'forget',
  'getattr',
  'statfs',
  'flush',
  'release',
  'releasedir',
  'setlk',
  'getlk',
]);
const O_ACCMODE = 3;
const O_TRUNC = 0o1000;

export function gate<T extends FuseOperations>(ops: T, access: () => Access): T {
  return new Proxy(ops, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string' || ALWAYS.has(prop)) return v;
      const fn = v as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        const a = access();
        if (a === 'cut')
          return Promise.reject(new AccessDeniedError('access to this network is cut (health reaction)'));
        if (a === 'read-only') {
          const writes =
            CHANGES.has(prop) ||
            (prop === 'open' && ((args[2] as number) & O_ACCMODE || (args[2] as number) & O_TRUNC));
          if (writes) return Promise.reject(new ReadOnlyError('the network is read-only (health reaction)'));
        }
        return fn.apply(target, args);
      };
    },
  });
}
