import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PlatformError from "effect/PlatformError"

/** A node of the in-memory tree: what a test wants the host to look like. */
export type MemoryNode =
  | { readonly type: "File"; readonly content: Uint8Array; readonly mode: number; readonly uid: number }
  | { readonly type: "Directory"; readonly mode: number; readonly uid: number }
  | { readonly type: "SymbolicLink"; readonly target: string; readonly uid: number }
  | {
      readonly type: "Socket" | "CharacterDevice" | "BlockDevice" | "FIFO"
      readonly mode: number
      readonly uid: number
    }

interface Owner {
  readonly mode?: number
  readonly uid?: number
}

/** A regular file (default mode 0644, owner root). */
export const file = (content: string | Uint8Array, o: Owner = {}): MemoryNode => ({
  type: "File",
  content: typeof content === "string" ? new TextEncoder().encode(content) : content,
  mode: o.mode ?? 0o644,
  uid: o.uid ?? 0
})
/** A directory (default mode 0755, owner root); parents of any node are made as these. */
export const dir = (o: Owner = {}): MemoryNode => ({ type: "Directory", mode: o.mode ?? 0o755, uid: o.uid ?? 0 })
/** A symbolic link; relative targets resolve against the link's directory. */
export const symlink = (target: string, o: Owner = {}): MemoryNode => ({
  type: "SymbolicLink",
  target,
  uid: o.uid ?? 0
})
/** A special file: socket, device or FIFO. */
export const special = (type: "Socket" | "CharacterDevice" | "BlockDevice" | "FIFO", o: Owner = {}): MemoryNode => ({
  type,
  mode: o.mode ?? 0o666,
  uid: o.uid ?? 0
})

const S_IF: Record<MemoryNode["type"], number> = {
  File: 0o100000,
  Directory: 0o040000,
  SymbolicLink: 0o120000,
  Socket: 0o140000,
  CharacterDevice: 0o020000,
  BlockDevice: 0o060000,
  FIFO: 0o010000
}

const MAX_LINKS = 40

const error = (tag: PlatformError.SystemErrorTag, method: string, path: string, description: string) =>
  PlatformError.systemError({ _tag: tag, module: "FileSystem", method, pathOrDescriptor: path, description })

const split = (path: string) => path.split("/").filter((p) => p !== "" && p !== ".")

/**
 * An in-memory FileSystem that can express what the hook cares about: files, dirs, sockets, devices,
 * symlinks (relative, absolute, dangling, looping), owners, modes and missing paths. Read-only, like the
 * hook. It passes the same conformance suite as NodeFileSystem (test/FileSystem.conformance.test.ts).
 */
export const make = (tree: Readonly<Record<string, MemoryNode>>): FileSystem.FileSystem => {
  const nodes = new Map<string, MemoryNode>([["/", dir()]])
  for (const [path, node] of Object.entries(tree)) {
    const parts = split(path)
    for (let i = 1; i < parts.length; i++) {
      const parent = `/${parts.slice(0, i).join("/")}`
      if (!nodes.has(parent)) nodes.set(parent, dir())
    }
    nodes.set(`/${parts.join("/")}`, node)
  }

  /** Resolves a path to [realPath, node]; `follow` says whether a final symlink is followed. */
  const lookup = (
    method: string,
    path: string,
    follow: boolean
  ): Effect.Effect<readonly [string, MemoryNode], PlatformError.PlatformError> =>
    Effect.suspend(() => {
      let pending = split(path)
      let resolved: Array<string> = []
      let hops = 0
      while (pending.length > 0) {
        const part = pending.shift()!
        if (part === "..") {
          resolved.pop()
          continue
        }
        const here = `/${[...resolved, part].join("/")}`
        const node = nodes.get(here)
        if (node === undefined) return Effect.fail(error("NotFound", method, path, "no such file or directory"))
        if (node.type === "SymbolicLink" && (pending.length > 0 || follow)) {
          if (++hops > MAX_LINKS) return Effect.fail(error("BadResource", method, path, "too many levels of links"))
          if (node.target.startsWith("/")) resolved = []
          pending = [...split(node.target), ...pending]
          continue
        }
        if (pending.length > 0 && node.type !== "Directory") {
          return Effect.fail(error("BadResource", method, path, "not a directory"))
        }
        resolved.push(part)
      }
      const real = `/${resolved.join("/")}`
      return Effect.succeed([real, nodes.get(real)!] as const)
    })

  const info = (node: MemoryNode): FileSystem.File.Info => ({
    type: node.type,
    mtime: Option.none(),
    atime: Option.none(),
    birthtime: Option.none(),
    dev: 0n,
    ino: Option.none(),
    mode: S_IF[node.type] | (node.type === "SymbolicLink" ? 0o777 : node.mode),
    nlink: Option.some(1n),
    uid: Option.some(node.uid),
    gid: Option.some(0),
    rdev: Option.none(),
    size: BigInt(node.type === "File" ? node.content.length : 0) as FileSystem.File.Info["size"],
    blksize: Option.none(),
    blocks: Option.none()
  })

  const contentOf = (method: string, path: string, node: MemoryNode) =>
    node.type === "File"
      ? Effect.succeed(node.content)
      : node.type === "Directory"
        ? Effect.fail(error("BadResource", method, path, "is a directory"))
        : Effect.fail(error("Unknown", method, path, `cannot read a ${node.type} in memory`))

  const makeFile = (node: MemoryNode, content: Uint8Array): FileSystem.File => {
    let position = 0
    const read = (buffer: Uint8Array, options?: FileSystem.File.ReadOptions) =>
      Effect.sync(() => {
        const at = options?.position === undefined ? position : Number(options.position)
        const n = Math.max(0, Math.min(buffer.length, content.length - at))
        buffer.set(content.subarray(at, at + n))
        if (options?.position === undefined) position += n
        return n
      })
    const readOnly = (method: string) =>
      Effect.fail(PlatformError.badArgument({ module: "FileSystem", method, description: "read-only file" }))
    return {
      [FileSystem.FileTypeId]: FileSystem.FileTypeId,
      stat: Effect.sync(() => info(node)),
      seek: (offset, from) =>
        Effect.sync(() => {
          position = from === "start" ? Number(offset) : position + Number(offset)
          return BigInt(position)
        }),
      sync: Effect.void,
      read,
      readAlloc: (size, options) =>
        Effect.map(
          Effect.suspend(() => {
            const buffer = new Uint8Array(size)
            return Effect.map(read(buffer, options), (n) => ({ buffer, n }))
          }),
          ({ buffer, n }) => (n === 0 ? Option.none() : Option.some(buffer.subarray(0, n)))
        ),
      truncate: () => readOnly("truncate"),
      write: () => readOnly("write"),
      writeAll: () => readOnly("writeAll")
    } as FileSystem.File
  }

  return FileSystem.makeNoop({
    access: (path) => Effect.asVoid(lookup("access", path, true)),
    exists: (path) =>
      lookup("exists", path, true).pipe(
        Effect.as(true),
        Effect.catchTag("PlatformError", (e) => (e.reason._tag === "NotFound" ? Effect.succeed(false) : Effect.fail(e)))
      ),
    stat: (path) => Effect.map(lookup("stat", path, true), ([, node]) => info(node)),
    lstat: (path) => Effect.map(lookup("lstat", path, false), ([, node]) => info(node)),
    realPath: (path) => Effect.map(lookup("realPath", path, true), ([real]) => real),
    readLink: (path) =>
      Effect.flatMap(lookup("readLink", path, false), ([, node]) =>
        node.type === "SymbolicLink"
          ? Effect.succeed(node.target)
          : Effect.fail(error("InvalidData", "readLink", path, "not a link"))
      ),
    readDirectory: (path) =>
      Effect.flatMap(lookup("readDirectory", path, true), ([real, node]) => {
        if (node.type !== "Directory")
          return Effect.fail(error("BadResource", "readDirectory", path, "not a directory"))
        const prefix = real === "/" ? "/" : `${real}/`
        const names = [...nodes.keys()]
          .filter((p) => p.startsWith(prefix) && p !== real && !p.slice(prefix.length).includes("/"))
          .map((p) => p.slice(prefix.length))
        return Effect.succeed(names.sort())
      }),
    readFile: (path) => Effect.flatMap(lookup("readFile", path, true), ([, node]) => contentOf("readFile", path, node)),
    readFileString: (path) =>
      Effect.flatMap(lookup("readFile", path, true), ([, node]) =>
        Effect.map(contentOf("readFile", path, node), (c) => new TextDecoder().decode(c))
      ),
    open: (path, options) =>
      Effect.flatMap(lookup("open", path, options?.noFollow !== true), ([, node]) =>
        node.type === "SymbolicLink"
          ? Effect.fail(error("BadResource", "open", path, "too many levels of links (O_NOFOLLOW)"))
          : Effect.map(contentOf("open", path, node), (content) => makeFile(node, content))
      )
  })
}

/** The in-memory FileSystem as a layer. */
export const layer = (tree: Readonly<Record<string, MemoryNode>>): Layer.Layer<FileSystem.FileSystem> =>
  Layer.succeed(FileSystem.FileSystem, make(tree))
