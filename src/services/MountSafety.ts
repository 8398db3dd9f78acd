import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import { dirnameOf, joinPath, normalizeAbsolute } from "../schemas/Paths.ts"
import { type Answer, destinationWalk } from "./DestinationWalk.ts"

/**
 * The checks the native CLI makes of a mount source (its CheckLegality), made by us first so that a refusal
 * names the component, its mode and owner, and the fix, where the CLI says only "Please check the write
 * permission!"; and the check the CLI does not make of the destination inside the image. Shared by the
 * hook's MountResolver and by doctor.
 */

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0")

/** What is wrong with a source, and why, in words an admin can act on. */
export interface SourceProblem {
  readonly reason: "Writable" | "Symlink"
  readonly detail: string
}

/** How strictly a source is judged: today's CLI refuses symlinked parents, and a symlinked source without allow-link. */
export interface SourceRules {
  /** The source itself may be a symbolic link (2021, or ASCEND_ALLOW_LINK=True). */
  readonly allowLinks: boolean
  /** Its parents may be symbolic links (2021 only). */
  readonly linkedParents: boolean
}

/** What one container's checks learnt about directories, so each is looked at once. */
export interface SafetyCache {
  readonly linkedAncestor: Map<string, string | undefined>
  readonly realDir: Map<string, string>
  readonly dirProblem: Map<string, SourceProblem | undefined>
}

/** A fresh cache, for one container's sources. */
export const safetyCache = (): SafetyCache => ({ linkedAncestor: new Map(), realDir: new Map(), dirProblem: new Map() })

const writable = (p: string, st: FileSystem.File.Info, self: boolean): SourceProblem | undefined => {
  if ((st.mode & 0o022) === 0) return undefined
  const owner = Option.getOrElse(st.uid, () => -1)
  const detail =
    `${self ? "it" : p} is writable by group or others (mode ${octal(st.mode)}, owner uid ${owner}), ` +
    `which the CLI refuses ("Please check the write permission!"); fix: chmod go-w ${p}`
  return { reason: "Writable", detail }
}

/**
 * Why the CLI would refuse to mount `source` (whose own lstat is `self`), or undefined. The source and
 * every directory up to `/` must not be writable by group or others (a link's own mode bits mean nothing:
 * where a link is allowed, what it leads to and the directories it lies in are checked, as the CLI will
 * meet them). There is no owner rule: driver files are often owned by the driver's own user. The caller
 * has already refused a symlinked source when links are not allowed. Each directory is looked at once per
 * `cache`; a source that is not a link costs no system call beyond the lstat the caller made.
 */
export const sourceProblem = (
  fs: FileSystem.FileSystem,
  source: string,
  self: FileSystem.File.Info,
  rules: SourceRules,
  cache: SafetyCache
): Effect.Effect<SourceProblem | undefined> => {
  // The common case, a plain file or dir in a directory already judged: no Effect steps at all.
  const dir = dirnameOf(source)
  if (self.type !== "SymbolicLink" && (rules.linkedParents || cache.linkedAncestor.has(dir))) {
    const real = cache.realDir.get(dir)
    const linked = rules.linkedParents ? undefined : cache.linkedAncestor.get(dir)
    if (real !== undefined && linked === undefined && cache.dirProblem.has(real)) {
      return Effect.succeed(writable(normalizeAbsolute(source), self, true) ?? cache.dirProblem.get(real))
    }
  }
  return Effect.gen(function* () {
    const memo = <K, V>(map: Map<K, V>, key: K, make: () => Effect.Effect<V>): Effect.Effect<V> =>
      map.has(key)
        ? Effect.succeed(map.get(key) as V)
        : Effect.tap(make(), (v) => Effect.sync(() => void map.set(key, v)))
    const linkedAncestor = (dir: string): Effect.Effect<string | undefined> =>
      memo(cache.linkedAncestor, dir, () =>
        Effect.gen(function* () {
          const st = yield* fs.lstat(dir).pipe(Effect.orElseSucceed(() => undefined))
          if (st?.type === "SymbolicLink") return dir
          return dir === "/" ? undefined : yield* linkedAncestor(dirnameOf(dir))
        })
      )
    const realDir = (dir: string) =>
      memo(cache.realDir, dir, () => fs.realPath(dir).pipe(Effect.orElseSucceed(() => dir)))
    const dirProblem = (real: string): Effect.Effect<SourceProblem | undefined> =>
      memo(cache.dirProblem, real, () =>
        Effect.gen(function* () {
          const st = yield* fs.stat(real).pipe(Effect.orElseSucceed(() => undefined))
          const here = st === undefined ? undefined : writable(real, st, false)
          if (here !== undefined || real === "/") return here
          return yield* dirProblem(dirnameOf(real))
        })
      )
    const path = normalizeAbsolute(source)
    if (!rules.linkedParents) {
      const link = yield* linkedAncestor(dirnameOf(path))
      if (link !== undefined) {
        return {
          reason: "Symlink",
          detail: `${link} (a parent) is a symbolic link, which today's CLI refuses; list the real path`
        } as const
      }
    }
    if (self.type !== "SymbolicLink") {
      return writable(path, self, true) ?? (yield* dirProblem(yield* realDir(dirnameOf(path))))
    }
    // A link the CLI may follow: what it leads to, where that lies, and where the link itself lies.
    const real = yield* fs.realPath(path).pipe(Effect.orElseSucceed(() => path))
    const target = yield* fs.stat(real).pipe(Effect.orElseSucceed(() => undefined))
    return (
      (target === undefined ? undefined : writable(real, target, false)) ??
      (yield* dirProblem(yield* realDir(dirnameOf(real)))) ??
      (yield* dirProblem(yield* realDir(dirnameOf(path))))
    )
  })
}

/** Why a mount would land outside the container's rootfs: a symlink in the image leads out. */
export class DestinationError extends Data.TaggedError("DestinationError")<{
  readonly reason: "LeavesRootfs"
  readonly rootfs: string
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `mount destination ${this.path} under rootfs ${this.rootfs}: ${this.detail}`
  }
}

/**
 * Where `<rootfs><path>` leads when the host resolves it component by component (as the CLI's mount will):
 * undefined while it stays inside the rootfs, else the symlink in the image that leads out. At prestart the
 * rootfs is the bundle's, on the host. The walk itself is DestinationWalk's (shared with the planned hook).
 */
export const destinationProblem = (
  fs: FileSystem.FileSystem,
  rootfs: string,
  path: string,
  /** Lexical prefixes under this rootfs already known to be missing, for the sources of one container. */
  missing: Set<string> = new Set()
): Effect.Effect<string | undefined> =>
  Effect.suspend(() => {
    const walk = destinationWalk(rootfs, path, missing)
    const step = (answer: Answer): Effect.Effect<string | undefined> => {
      const next = walk.next(answer)
      if (next.done) return Effect.succeed(next.value)
      const lookup = next.value
      const looked: Effect.Effect<Answer> =
        "lstat" in lookup
          ? fs.lstat(lookup.lstat).pipe(
              Effect.map((st): Answer => (st.type === "SymbolicLink" ? "link" : "other")),
              Effect.orElseSucceed(() => undefined)
            )
          : fs.readLink(lookup.readLink).pipe(Effect.orElseSucceed(() => ""))
      return Effect.flatMap(looked, step)
    }
    return step(undefined)
  })

/** What the CLI checks of each entry inside a mounted directory (its recursive subset check). */
export const CONTENT_FILE_MAX_BYTES = 150 * 1024 * 1024
const CONTENT_PATH_CHARS = /^[A-Za-z0-9._/~-]+$/

/**
 * The first entry under the directory `dir` that today's CLI would refuse when it mounts `dir`, or
 * undefined. It walks the whole tree: a path with a character outside `A-Za-z0-9._/~-`, a regular file of
 * 150 MiB or more, and (unless links are allowed) a symbolic link that is not root's or leads to something
 * not root's or to nothing. It checks no modes inside (the CLI does not). Bounded by `limit` entries; the
 * count walked comes back too. For doctor: the hook does not walk a driver tree at every container start.
 */
export const contentsProblem = (
  fs: FileSystem.FileSystem,
  dir: string,
  allowLinks: boolean,
  limit = 200_000
): Effect.Effect<{ readonly problem: string | undefined; readonly walked: number; readonly complete: boolean }> =>
  Effect.gen(function* () {
    let walked = 0
    const walk = (d: string): Effect.Effect<string | undefined> =>
      Effect.gen(function* () {
        const names = yield* fs.readDirectory(d).pipe(Effect.orElseSucceed(() => [] as Array<string>))
        for (const name of [...names].sort()) {
          if (walked >= limit) return undefined
          walked++
          const p = joinPath(d, name)
          if (!CONTENT_PATH_CHARS.test(p)) return `${p} has characters the CLI refuses (allowed: A-Za-z0-9._/~-)`
          const st = yield* fs.lstat(p).pipe(Effect.orElseSucceed(() => undefined))
          if (st === undefined) continue
          if (st.type === "File" && Number(st.size) >= CONTENT_FILE_MAX_BYTES)
            return `${p} is ${Number(st.size)} bytes, over the CLI's 150 MiB for a file inside a mounted directory`
          if (st.type === "SymbolicLink" && !allowLinks) {
            const target = yield* fs.stat(p).pipe(Effect.orElseSucceed(() => undefined))
            const owner = Option.getOrElse(st.uid, () => -1)
            const targetOwner = target === undefined ? undefined : Option.getOrElse(target.uid, () => -1)
            if (target === undefined) return `${p} is a symbolic link to nothing, which the CLI refuses`
            if (owner !== 0 || targetOwner !== 0)
              return `${p} is a symbolic link (owner uid ${owner}) to a file of uid ${targetOwner}; the CLI wants both root's`
          }
          if (st.type === "Directory") {
            const inner = yield* walk(p)
            if (inner !== undefined) return inner
          }
        }
        return undefined
      })
    const problem = yield* walk(dir)
    return { problem, walked, complete: walked < limit }
  })
