/**
 * Errors of the file-system model. Each condition has its own class with a
 * stable `name` and the POSIX errno name in `code`; the FUSE driver maps
 * `code` to a number and the HTTP API maps the class to a status, each in one
 * place.
 */
export type ErrnoCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EPERM'
  | 'EACCES'
  | 'EINVAL'
  | 'ENAMETOOLONG'
  | 'ENODATA'
  | 'ERANGE'
  | 'E2BIG'
  | 'ENOSPC'
  | 'EROFS'
  | 'EIO'
  | 'EMLINK'
  | 'EFBIG'
  | 'EBADF'
  | 'EXDEV'
  | 'ENOTSUP'
  | 'EOPNOTSUPP'
  | 'ENXIO'
  | 'EINTR'
  | 'ETIMEDOUT'
  | 'ELOOP'
  | 'EAGAIN'
  | 'EBUSY';

export class FsError extends Error {
  readonly code: ErrnoCode;
  constructor(code: ErrnoCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'FsError';
  }
}

function define(name: string, code: ErrnoCode) {
  const cls = class extends FsError {
    constructor(message: string) {
      super(code, message);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const NotFoundError = define('NotFoundError', 'ENOENT');
export const ExistsError = define('ExistsError', 'EEXIST');
export const NotDirectoryError = define('NotDirectoryError', 'ENOTDIR');
export const IsDirectoryError = define('IsDirectoryError', 'EISDIR');
export const NotEmptyError = define('NotEmptyError', 'ENOTEMPTY');
export const NotPermittedError = define('NotPermittedError', 'EPERM');
export const AccessDeniedError = define('AccessDeniedError', 'EACCES');
export const InvalidArgumentError = define('InvalidArgumentError', 'EINVAL');
export const NameTooLongError = define('NameTooLongError', 'ENAMETOOLONG');
export const NoAttributeError = define('NoAttributeError', 'ENODATA');
export const BufferTooSmallError = define('BufferTooSmallError', 'ERANGE');
export const ValueTooLargeError = define('ValueTooLargeError', 'E2BIG');
export const NoSpaceError = define('NoSpaceError', 'ENOSPC');
export const ReadOnlyError = define('ReadOnlyError', 'EROFS');
export const IoError = define('IoError', 'EIO');
export const TooManyLinksError = define('TooManyLinksError', 'EMLINK');
export const FileTooBigError = define('FileTooBigError', 'EFBIG');
export const BadHandleError = define('BadHandleError', 'EBADF');
export const NotSupportedError = define('NotSupportedError', 'EOPNOTSUPP');
export const NoSuchOffsetError = define('NoSuchOffsetError', 'ENXIO');
export const InterruptedError = define('InterruptedError', 'EINTR');

/** A chunk whose bytes do not hash to its name (disk or network corruption). */
export class CorruptChunkError extends FsError {
  readonly hash: string;
  constructor(hash: string, where: string) {
    super('EIO', `chunk ${hash.slice(0, 16)}… is corrupt (${where})`);
    this.name = 'CorruptChunkError';
    this.hash = hash;
  }
}

/** A chunk that no reachable place holds. */
export class MissingChunkError extends FsError {
  readonly hash: string;
  constructor(hash: string) {
    super('EIO', `chunk ${hash.slice(0, 16)}… is not available`);
    this.name = 'MissingChunkError';
    this.hash = hash;
  }
}

/** Bad user input to the CLI, config files or control API: the message names what is wrong. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
