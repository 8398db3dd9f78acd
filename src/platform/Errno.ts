/** What each errno means, as strerror says it: the one line an admin reads must say the disk is full or read-only. */
const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EIO: "input/output error",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  EEXIST: "file exists",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links",
  EBUSY: "device or resource busy",
  ETXTBSY: "text file busy",
  EXDEV: "invalid cross-device link",
  ENOTEMPTY: "directory not empty",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in system",
  EFBIG: "file too large",
  EINVAL: "invalid argument",
  EAGAIN: "resource temporarily unavailable",
  EINTR: "interrupted system call",
  ENOMEM: "cannot allocate memory",
  ESTALE: "stale file handle"
}

/** `no space left on device (ENOSPC)`: the errno's reason and name, or the error's own first line. */
export const reasonOf = (cause: unknown): string => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  if (code !== undefined) return `${REASONS[code] ?? code.toLowerCase()} (${code})`
  return cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause)
}

/** An error's one line: `<syscall>: <reason> (<CODE>)` for a system call's error, else its message's first line. */
export const errorText = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException | undefined
  if (err?.code !== undefined && err.syscall !== undefined) {
    const where = err.path === undefined ? "" : ` ${err.path}`
    return `${err.syscall}${where}: ${reasonOf(e)}`
  }
  return e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e)
}
