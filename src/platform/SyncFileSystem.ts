import type * as NodeFs from "node:fs"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PlatformError from "effect/PlatformError"
import { reasonOf } from "./Errno.ts"
import { nodeFs } from "./NodeFs.ts"
import { readAllocWith } from "./readAlloc.ts"
import { readRetrying } from "./readRetrying.ts"

export { reasonOf }

/**
 * A FileSystem over node:fs synchronous calls, for the hook's start-up path: it loads no streams, no
 * child_process, no event loop work, so the whole pipeline runs under Effect.runSync. It implements what
 * the hook, the runtime wrapper and the installer use (stat, read, open for reading, and plain writes);
 * the rest fail as FileSystem.makeNoop does. It passes the same conformance suite as NodeFileSystem
 * (test/FileSystem.conformance.test.ts).
 */
const errnoTag = (code: string | undefined): PlatformError.SystemErrorTag => {
  switch (code) {
    case "ENOENT":
      return "NotFound"
    case "EACCES":
    case "EPERM":
      return "PermissionDenied"
    case "EEXIST":
      return "AlreadyExists"
    case "EISDIR":
    case "ENOTDIR":
    case "ELOOP":
      return "BadResource"
    case "EBUSY":
      return "Busy"
    default:
      return "Unknown"
  }
}

const fromErrno = (method: string, pathOrDescriptor: string | number) => (cause: unknown) =>
  PlatformError.systemError({
    _tag: errnoTag((cause as NodeJS.ErrnoException | undefined)?.code),
    module: "FileSystem",
    method,
    pathOrDescriptor,
    description: reasonOf(cause),
    syscall: (cause as NodeJS.ErrnoException | undefined)?.syscall,
    cause
  })

const fileType = (s: NodeFs.BigIntStats): FileSystem.File.Type =>
  s.isFile()
    ? "File"
    : s.isDirectory()
      ? "Directory"
      : s.isSymbolicLink()
        ? "SymbolicLink"
        : s.isSocket()
          ? "Socket"
          : s.isCharacterDevice()
            ? "CharacterDevice"
            : s.isBlockDevice()
              ? "BlockDevice"
              : s.isFIFO()
                ? "FIFO"
                : "Unknown"

const toInfo = (s: NodeFs.BigIntStats): FileSystem.File.Info => ({
  type: fileType(s),
  mtime: Option.some(s.mtime),
  atime: Option.some(s.atime),
  birthtime: Option.some(s.birthtime),
  dev: s.dev,
  ino: Option.some(s.ino),
  mode: Number(s.mode),
  nlink: Option.some(s.nlink),
  uid: Option.some(Number(s.uid)),
  gid: Option.some(Number(s.gid)),
  rdev: Option.some(s.rdev),
  size: s.size as FileSystem.File.Info["size"],
  blksize: Option.some(s.blksize as FileSystem.File.Info["size"]),
  blocks: Option.some(s.blocks)
})

/** Builds the FileSystem; `fs` is node:fs, taken lazily so module load stays free of work. */
export const make = (fs: typeof NodeFs): FileSystem.FileSystem => {
  const call = <A>(method: string, path: string | number, f: () => A) =>
    Effect.try({ try: f, catch: fromErrno(method, path) })

  /** A read that waits out EAGAIN, for a descriptor someone left in O_NONBLOCK (the runtime's timeout bounds it). */
  const makeFile = (fd: number): FileSystem.File => {
    // null: read where the descriptor is (works on pipes); a bigint once seek has been called.
    let position: bigint | null = null
    const read = (buffer: Uint8Array, options?: FileSystem.File.ReadOptions) =>
      call("read", fd, () => {
        const n = readRetrying(fs, fd, buffer, 0, buffer.length, options?.position ?? position)
        if (options?.position === undefined && position !== null) position += BigInt(n)
        return n
      })
    const unsupported = (method: string) =>
      Effect.fail(PlatformError.badArgument({ module: "FileSystem", method, description: "read-only file" }))
    return {
      [FileSystem.FileTypeId]: FileSystem.FileTypeId,
      stat: call("stat", fd, () => toInfo(fs.fstatSync(fd, { bigint: true }))),
      seek: (offset, from) =>
        Effect.sync(() => {
          position = from === "start" ? offset : (position ?? 0n) + offset
          return position
        }),
      sync: call("sync", fd, () => fs.fsyncSync(fd)),
      read,
      readAlloc: readAllocWith(read),
      truncate: () => unsupported("truncate"),
      write: () => unsupported("write"),
      writeAll: () => unsupported("writeAll")
    } as FileSystem.File
  }

  return FileSystem.makeNoop({
    access: (path, options) =>
      call("access", path, () => {
        const mode =
          (options?.readable ? fs.constants.R_OK : 0) | (options?.writable ? fs.constants.W_OK : 0) || fs.constants.F_OK
        fs.accessSync(path, mode)
      }),
    exists: (path) => Effect.sync(() => fs.existsSync(path)),
    stat: (path) => call("stat", path, () => toInfo(fs.statSync(path, { bigint: true }))),
    lstat: (path) => call("lstat", path, () => toInfo(fs.lstatSync(path, { bigint: true }))),
    realPath: (path) => call("realPath", path, () => fs.realpathSync(path)),
    readLink: (path) => call("readLink", path, () => fs.readlinkSync(path)),
    readDirectory: (path) => call("readDirectory", path, () => fs.readdirSync(path)),
    readFile: (path) => call("readFile", path, () => new Uint8Array(fs.readFileSync(path))),
    writeFile: (path, data, options) =>
      call("writeFile", path, () =>
        fs.writeFileSync(path, data, {
          flag: options?.flag ?? "w",
          ...(options?.mode === undefined ? {} : { mode: options.mode })
        })
      ),
    writeFileString: (path, data, options) =>
      call("writeFile", path, () =>
        fs.writeFileSync(path, data, {
          flag: options?.flag ?? "w",
          ...(options?.mode === undefined ? {} : { mode: options.mode })
        })
      ),
    rename: (from, to) => call("rename", from, () => fs.renameSync(from, to)),
    chmod: (path, mode) => call("chmod", path, () => fs.chmodSync(path, mode)),
    chown: (path, uid, gid) => call("chown", path, () => fs.chownSync(path, uid, gid)),
    copyFile: (from, to) => call("copyFile", from, () => fs.copyFileSync(from, to)),
    symlink: (target, path) => call("symlink", path, () => fs.symlinkSync(target, path)),
    remove: (path, options) =>
      call("remove", path, () =>
        fs.rmSync(path, { recursive: options?.recursive === true, force: options?.force === true })
      ),
    makeDirectory: (path, options) =>
      call("makeDirectory", path, () => {
        fs.mkdirSync(path, { recursive: options?.recursive === true, mode: options?.mode ?? 0o777 })
      }),
    readFileString: (path, encoding) =>
      call("readFile", path, () => fs.readFileSync(path, { encoding: (encoding ?? "utf8") as BufferEncoding })),
    open: (path, options) => {
      if (options?.flag !== undefined && options.flag !== "r") {
        return Effect.fail(
          PlatformError.badArgument({ module: "FileSystem", method: "open", description: "only flag 'r' is supported" })
        )
      }
      // /dev/stdin is fd 0 itself, neither reopened (that fails with ENXIO when a runtime hands the hook a
      // socket, as libuv-based ones do) nor closed. Reading it leaves its flags alone.
      if (path === "/dev/stdin") return Effect.succeed(makeFile(0))
      const flags = fs.constants.O_RDONLY | (options?.noFollow === true ? fs.constants.O_NOFOLLOW : 0)
      return Effect.map(
        Effect.acquireRelease(
          call("open", path, () => fs.openSync(path, flags)),
          (fd) => Effect.sync(() => fs.closeSync(fd))
        ),
        makeFile
      )
    }
  })
}

/** The layer; node:fs is loaded when the layer is built, not when this module is. */
export const layer: Layer.Layer<FileSystem.FileSystem> = Layer.sync(FileSystem.FileSystem, () => make(nodeFs()))
