import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PlatformError from "effect/PlatformError"
import { readAllocWith } from "./readAlloc.ts"

/** A node of the in-memory tree: what a test wants the host to look like. */
export type MemoryNode =
  | {
      readonly type: "File"
      readonly content: Uint8Array
      readonly mode: number
      readonly uid: number
      readonly gid?: number
    }
  | { readonly type: "Directory"; readonly mode: number; readonly uid: number; readonly gid?: number }
  | { readonly type: "SymbolicLink"; readonly target: string; readonly uid: number; readonly gid?: number }
  | {
      readonly type: "Socket" | "CharacterDevice" | "BlockDevice" | "FIFO"
      readonly mode: number
      readonly uid: number
      readonly gid?: number
      /** A device's number (major and minor as the kernel packs them). */
      readonly rdev?: bigint
    }

interface Owner {
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
}

/** A regular file (default mode 0644, owner root). */
export const file = (content: string | Uint8Array, o: Owner = {}): MemoryNode => ({
  type: "File",
  content: typeof content === "string" ? new TextEncoder().encode(content) : content,
  mode: o.mode ?? 0o644,
  uid: o.uid ?? 0,
  ...(o.gid === undefined ? {} : { gid: o.gid })
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

/** A character device `major:minor`, packed as Linux packs a dev_t. */
export const charDevice = (major: number, minor: number, o: Owner = {}): MemoryNode => ({
  type: "CharacterDevice",
  mode: o.mode ?? 0o666,
  uid: o.uid ?? 0,
  ...(o.gid === undefined ? {} : { gid: o.gid }),
  rdev:
    (BigInt(minor) & 0xffn) |
    ((BigInt(major) & 0xfffn) << 8n) |
    ((BigInt(minor) & ~0xffn) << 12n) |
    ((BigInt(major) & ~0xfffn) << 32n)
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

const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

const split = (path: string) => path.split("/").filter((p) => p !== "" && p !== ".")

/**
 * An in-memory FileSystem that can express what the hook cares about: files, dirs, sockets, devices,
 * symlinks (relative, absolute, dangling, looping), owners, modes and missing paths; reads as the
 * hook does, and the plain writes the wrapper and installer make (files, dirs, rename, chmod, remove, links).
 * It passes the same conformance suite as NodeFileSystem (test/FileSystem.conformance.test.ts).
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
    gid: Option.some(node.gid ?? 0),
    rdev: "rdev" in node && node.rdev !== undefined ? Option.some(node.rdev) : Option.none(),
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
      readAlloc: readAllocWith(read),
      truncate: () => readOnly("truncate"),
      write: () => readOnly("write"),
      writeAll: () => readOnly("writeAll")
    } as FileSystem.File
  }

  const UMASK = 0o022

  /** Where a new entry `path` goes: its parent's real path (links followed), which must be a directory. */
  const place = (method: string, path: string) => {
    const parts = split(path)
    const name = parts.pop()
    if (name === undefined || name === "..") return Effect.fail(error("BadResource", method, path, "no name"))
    return Effect.flatMap(lookup(method, `/${parts.join("/")}`, true), ([parent, node]) =>
      node.type === "Directory"
        ? Effect.succeed(`${parent === "/" ? "" : parent}/${name}`)
        : Effect.fail(error("BadResource", method, path, "not a directory"))
    )
  }

  const subtree = (root: string) => [...nodes.keys()].filter((p) => p === root || p.startsWith(`${root}/`))

  const write = (method: string, path: string, data: Uint8Array, flag: FileSystem.OpenFlag, mode?: number) =>
    Effect.flatMap(place(method, path), (target): Effect.Effect<void, PlatformError.PlatformError> => {
      const existing = nodes.get(target)
      if (existing === undefined) {
        return Effect.sync(() => void nodes.set(target, file(data, { mode: (mode ?? 0o666) & ~UMASK })))
      }
      if (flag.includes("x")) return Effect.fail(error("AlreadyExists", method, path, "exists"))
      return Effect.flatMap(lookup(method, target, true), ([real, node]) =>
        node.type === "File"
          ? Effect.sync(
              () => void nodes.set(real, { ...node, content: flag.startsWith("a") ? concat(node.content, data) : data })
            )
          : Effect.fail(error("BadResource", method, path, "not a file"))
      )
    })

  return FileSystem.makeNoop({
    writeFile: (path, data, options) => write("writeFile", path, data, options?.flag ?? "w", options?.mode),
    writeFileString: (path, data, options) =>
      write("writeFile", path, new TextEncoder().encode(data), options?.flag ?? "w", options?.mode),
    makeDirectory: (path, options) =>
      Effect.suspend(() => {
        const parts = split(path)
        const mode = (options?.mode ?? 0o777) & ~UMASK
        if (options?.recursive === true) {
          for (let i = 1; i <= parts.length; i++) {
            const p = `/${parts.slice(0, i).join("/")}`
            const node = nodes.get(p)
            if (node === undefined) nodes.set(p, dir({ mode }))
            else if (node.type !== "Directory" && node.type !== "SymbolicLink") {
              return Effect.fail(error("BadResource", "makeDirectory", path, "not a directory"))
            }
          }
          return Effect.void
        }
        return Effect.flatMap(place("makeDirectory", path), (target) =>
          nodes.has(target)
            ? Effect.fail(error("AlreadyExists", "makeDirectory", path, "exists"))
            : Effect.sync(() => void nodes.set(target, dir({ mode })))
        )
      }),
    rename: (from, to) =>
      Effect.flatMap(
        Effect.all([
          Effect.flatMap(place("rename", from), (src) =>
            nodes.has(src) ? Effect.succeed(src) : Effect.fail(error("NotFound", "rename", from, "missing"))
          ),
          place("rename", to)
        ]),
        ([src, dst]) =>
          Effect.sync(() => {
            for (const p of subtree(dst)) nodes.delete(p)
            for (const p of subtree(src)) {
              nodes.set(dst + p.slice(src.length), nodes.get(p)!)
              nodes.delete(p)
            }
          })
      ),
    chown: (path, uid, gid) =>
      Effect.flatMap(lookup("chown", path, true), ([real, node]) =>
        Effect.sync(() => void nodes.set(real, { ...node, uid, gid }))
      ),
    chmod: (path, mode) =>
      Effect.flatMap(lookup("chmod", path, true), ([real, node]) =>
        Effect.sync(() => void nodes.set(real, node.type === "SymbolicLink" ? node : { ...node, mode: mode & 0o7777 }))
      ),
    copyFile: (from, to) =>
      Effect.flatMap(lookup("copyFile", from, true), ([, node]) =>
        Effect.flatMap(contentOf("copyFile", from, node), (content) =>
          write("copyFile", to, content, "w", node.type === "File" ? node.mode : undefined)
        )
      ),
    symlink: (target, path) =>
      Effect.flatMap(place("symlink", path), (at) =>
        nodes.has(at)
          ? Effect.fail(error("AlreadyExists", "symlink", path, "exists"))
          : Effect.sync(() => void nodes.set(at, symlink(target)))
      ),
    remove: (path, options) =>
      Effect.flatMap(
        Effect.flatMap(place("remove", path), (at) => Effect.succeed(at)),
        (at) => {
          if (!nodes.has(at)) {
            return options?.force === true ? Effect.void : Effect.fail(error("NotFound", "remove", path, "missing"))
          }
          const all = subtree(at)
          if (all.length > 1 && options?.recursive !== true) {
            return Effect.fail(error("BadResource", "remove", path, "directory not empty"))
          }
          return Effect.sync(() => {
            for (const p of all) nodes.delete(p)
          })
        }
      ).pipe(
        Effect.catchTag("PlatformError", (e) =>
          e.reason._tag === "NotFound" && options?.force === true ? Effect.void : Effect.fail(e)
        )
      ),
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
          : node.type === "Directory"
            ? Effect.succeed(makeFile(node, new Uint8Array())) // as open(2) O_RDONLY on a dir: for fsync
            : Effect.map(contentOf("open", path, node), (content) => makeFile(node, content))
      )
  })
}

/** The in-memory FileSystem as a layer. */
export const layer = (tree: Readonly<Record<string, MemoryNode>>): Layer.Layer<FileSystem.FileSystem> =>
  Layer.succeed(FileSystem.FileSystem, make(tree))
