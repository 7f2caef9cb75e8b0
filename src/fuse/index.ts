/**
 * A FUSE driver in TypeScript: speaks the Linux kernel protocol over
 * /dev/fuse, with no libfuse and no native code. It knows nothing of the file
 * system it serves; see FuseOperations.
 */
export * from './abi.js';
export { FuseProtocolError } from './codec.js';
export { clearStaleMount, isMounted, listMounts, MountError, unmount } from './mount.js';
export { type DriverLogger, errnoOf, FuseSession, type SessionOptions } from './session.js';
export * from './types.js';
