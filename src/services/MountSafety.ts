import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import { dirnameOf, joinPath, normalizeAbsolute } from "../schemas/Paths.ts"

/**
 * The checks the native CLI makes of a mount source (its CheckLegality), made by us first so that a refusal
 * names the component, its mode and owner, and the fix, where the CLI says only "Please check the write
 * permission!"; and the check the CLI does not make of the destination inside the image. Shared by the
 * hook's MountResolver and by doctor.
 */

/** Every directory above `p`, nearest first, `/` last. */
const ancestors = (p: string): Array<string> => {
  const out: Array<string> = []
  for (let d = dirnameOf(p); ; d = dirnameOf(d)) {
    out.push(d)
    if (d === "/") return out
  }
}

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

/**
 * Why the CLI would refuse to mount `source`, or undefined. The source and every directory up to `/` must
 * not be writable by group or others (a link's own mode bits mean nothing: where a link is allowed, what it
 * leads to and the link's own parents are checked, as the CLI will meet them). There is no owner rule:
 * driver files are often owned by the driver's own user. `stats` caches lookups across one container's
 * sources. The caller has already refused a symlinked source when links are not allowed.
 */
export const sourceProblem = (
  fs: FileSystem.FileSystem,
  source: string,
  rules: SourceRules,
  stats: Map<string, FileSystem.File.Info | undefined> = new Map()
): Effect.Effect<SourceProblem | undefined> =>
  Effect.gen(function* () {
    const look = (p: string, how: "stat" | "lstat") =>
      Effect.suspend(() => {
        const key = `${how}:${p}`
        if (stats.has(key)) return Effect.succeed(stats.get(key))
        return fs[how](p).pipe(
          Effect.map((st): FileSystem.File.Info | undefined => st),
          Effect.orElseSucceed(() => undefined),
          Effect.tap((st) => Effect.sync(() => stats.set(key, st)))
        )
      })
    const lexical = ancestors(normalizeAbsolute(source))
    if (!rules.linkedParents) {
      for (const p of lexical) {
        if ((yield* look(p, "lstat"))?.type === "SymbolicLink") {
          return {
            reason: "Symlink",
            detail: `${p} (a parent) is a symbolic link, which today's CLI refuses; list the real path`
          } as const
        }
      }
    }
    const self = yield* look(source, "lstat")
    const real = yield* fs.realPath(source).pipe(Effect.orElseSucceed(() => source))
    const chain = [real, ...ancestors(real), ...(self?.type === "SymbolicLink" ? lexical : [])]
    for (const p of new Set(chain)) {
      const st = yield* look(p, "stat")
      if (st !== undefined && (st.mode & 0o022) !== 0) {
        const owner = Option.getOrElse(st.uid, () => -1)
        const detail =
          `${p === source ? "it" : p} is writable by group or others (mode ${octal(st.mode)}, owner uid ${owner}), ` +
          `which the CLI refuses ("Please check the write permission!"); fix: chmod go-w ${p}`
        return { reason: "Writable", detail } as const
      }
    }
    return undefined
  })

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

/** Symbolic links followed inside the image at most, as the kernel's limit. */
const MAX_LINKS = 40

/**
 * Where `<rootfs><path>` leads when the host resolves it component by component (as the CLI's mount will):
 * undefined while it stays inside the rootfs, else the symlink in the image that leads out (absolute
 * targets are the host's, `..` can climb past the rootfs). At prestart the rootfs is the bundle's, on the
 * host. A component that does not exist yet ends the walk: what the CLI creates there is inside.
 */
export const destinationProblem = (
  fs: FileSystem.FileSystem,
  rootfs: string,
  path: string
): Effect.Effect<string | undefined> =>
  Effect.gen(function* () {
    const root = normalizeAbsolute(rootfs)
    const inside = (p: string) => p === root || p.startsWith(`${root}/`)
    let pending = normalizeAbsolute(path)
      .split("/")
      .filter((c) => c !== "")
    let at = root
    let hops = 0
    while (pending.length > 0) {
      const next = joinPath(at, pending.shift()!)
      const st = yield* fs.lstat(next).pipe(Effect.orElseSucceed(() => undefined))
      if (st === undefined) return undefined
      if (st.type !== "SymbolicLink") {
        at = next
        continue
      }
      if (++hops > MAX_LINKS) return `${next.slice(root.length)} in the image: too many levels of symbolic links`
      const target = yield* fs.readLink(next).pipe(Effect.orElseSucceed(() => ""))
      const resolved = target.startsWith("/") ? normalizeAbsolute(target) : joinPath(at, target)
      if (!inside(resolved)) {
        return `${next.slice(root.length)} in the image is a symbolic link to ${JSON.stringify(target)}, which leads out of the rootfs (to ${resolved})`
      }
      // Walk on from the link's target, which is inside: re-split it below the rootfs.
      pending = [
        ...resolved
          .slice(root.length)
          .split("/")
          .filter((c) => c !== ""),
        ...pending
      ]
      at = root
    }
    return undefined
  })
