import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import { HookConfig } from "../HookConfig.ts"
import { Limits } from "../Limits.ts"
import { readBounded } from "../platform/readBounded.ts"
import { MountError, type MountListEntry, parseMountList } from "../schemas/MountList.ts"
import { joinPath } from "../schemas/Paths.ts"
import { FileTrust, type TrustError } from "./FileTrust.ts"
import { DestinationError, destinationProblem, safetyCache, sourceProblem } from "./MountSafety.ts"

export { MountError }

/** The host paths the CLI bind-mounts into the container, in list order, each once. */
export interface ResolvedMounts {
  readonly files: ReadonlyArray<string>
  readonly dirs: ReadonlyArray<string>
}

/** What became of one list line, for `explain`-style reporting. */
export interface MountDecision extends MountListEntry {
  readonly list: string
  readonly outcome: "file" | "dir" | "duplicate" | "skipped"
  /** Why it was skipped: missing, or the type found. */
  readonly why?: string
}

/** How mount sources are judged. */
export interface ResolveOptions {
  /** False: a source that is a symbolic link is refused (default true: links are mounted as what they lead to). */
  readonly allowLinks?: boolean
  /** False: a source with a symbolic link among its parents is refused (today's CLI; default true). */
  readonly linkedParents?: boolean
}

/** Stage 4: turns mount-list names into `--mount-file` and `--mount-dir` paths. */
export class MountResolver extends Context.Service<
  MountResolver,
  {
    /**
     * Every line's fate, in order; fails on a bad dir, list or line, or too many mounts. With
     * `allowLinks: false` (the 2023 CLI without ASCEND_ALLOW_LINK=True) a path that is a symbolic link is
     * refused here, naming it, rather than by the CLI after the container has started to be made.
     */
    readonly inspect: (
      names: ReadonlyArray<string>,
      options?: ResolveOptions
    ) => Effect.Effect<ReadonlyArray<MountDecision>, MountError | TrustError>
    /** The files and dirs to mount. */
    readonly resolve: (
      names: ReadonlyArray<string>,
      options?: ResolveOptions
    ) => Effect.Effect<ResolvedMounts, MountError | TrustError>
    /** Whether `<configDir>/<name>.list` exists (anything there counts; reading it is checked as usual). */
    readonly hasList: (name: string) => Effect.Effect<boolean>
    /** Fails when one of `paths`, mounted at the same path under `rootfs`, would land outside it (MountSafety). */
    readonly checkDestinations: (rootfs: string, paths: ReadonlyArray<string>) => Effect.Effect<void, DestinationError>
  }
>()("ascend-docker-hook/MountResolver") {
  /** Reads `<configDir>/<name>.list` through FileSystem, each checked by FileTrust before it is read. */
  static readonly layer = Layer.effect(
    MountResolver,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const trust = yield* FileTrust
      const { configDir } = yield* HookConfig

      const readList = Effect.fn("MountResolver.readList")(function* (name: string) {
        const path = joinPath(configDir, `${name}.list`)
        const fail = (reason: MountError["reason"], detail: string) => new MountError({ reason, path, detail })
        const st = yield* fs
          .lstat(path)
          .pipe(
            Effect.mapError((e) =>
              e.reason._tag === "NotFound"
                ? fail("NotFound", `does not exist (no mount list named ${JSON.stringify(name)})`)
                : fail("Unreadable", e.message)
            )
          )
        yield* trust.info(path, "mount list", st)
        const read = yield* readBounded(fs, path, Limits.listFileBytes, {
          noFollow: true,
          verify: (info) => trust.info(path, "mount list", info)
        }).pipe(Effect.mapError((e) => (e._tag === "TrustError" ? e : fail("Unreadable", e.message))))
        if (read._tag === "TooLarge") return yield* fail("TooLarge", `is larger than ${Limits.listFileBytes} bytes`)
        return yield* Effect.fromResult(parseMountList(read.text, path))
      })

      /** What an entry is: one lstat, and a stat of what a link leads to where links are allowed. */
      const classify = (entry: MountListEntry, allowLinks: boolean) =>
        Effect.gen(function* () {
          const self = yield* fs.lstat(entry.path)
          if (self.type === "SymbolicLink" && !allowLinks) return { outcome: "link", self } as const
          const st = self.type === "SymbolicLink" ? yield* fs.stat(entry.path) : self
          return st.type === "File" || st.type === "Socket"
            ? ({ outcome: "file", self } as const)
            : st.type === "Directory"
              ? ({ outcome: "dir", self } as const)
              : ({ outcome: "skipped", why: `is a ${st.type}` } as const)
        }).pipe(
          Effect.orElseSucceed(() => ({ outcome: "skipped", why: "does not exist or cannot be inspected" }) as const)
        )

      const inspect = Effect.fn("MountResolver.inspect")(function* (
        names: ReadonlyArray<string>,
        options?: ResolveOptions
      ) {
        yield* trust.directory(configDir, "config dir")
        const rules = { allowLinks: options?.allowLinks !== false, linkedParents: options?.linkedParents !== false }
        const cache = safetyCache()
        const seen = new Set<string>()
        const decisions: Array<MountDecision> = []
        let files = 0
        let dirs = 0
        for (const name of names) {
          const list = joinPath(configDir, `${name}.list`)
          for (const entry of yield* readList(name)) {
            if (seen.has(entry.path)) {
              decisions.push({ ...entry, list, outcome: "duplicate" })
              continue
            }
            const decision = yield* classify(entry, options?.allowLinks !== false)
            if (decision.outcome === "link") {
              return yield* new MountError({
                reason: "Symlink",
                path: list,
                lineNumber: entry.line,
                detail: `${entry.path} is a symbolic link, which the CLI refuses unless the container sets ASCEND_ALLOW_LINK=True`
              })
            }
            if (decision.outcome !== "skipped") {
              const problem = yield* sourceProblem(fs, entry.path, decision.self, rules, cache)
              if (problem !== undefined) {
                return yield* new MountError({
                  reason: problem.reason,
                  path: list,
                  lineNumber: entry.line,
                  detail: `${entry.path}: ${problem.detail}`
                })
              }
              seen.add(entry.path)
            }
            const over =
              decision.outcome === "file" && ++files > Limits.mountFiles
                ? `${Limits.mountFiles} files`
                : decision.outcome === "dir" && ++dirs > Limits.mountDirs
                  ? `${Limits.mountDirs} directories`
                  : undefined
            if (over !== undefined) {
              const detail = `more than ${over} to mount`
              return yield* new MountError({ reason: "TooManyMounts", path: list, lineNumber: entry.line, detail })
            }
            decisions.push(
              decision.outcome === "skipped"
                ? { ...entry, list, outcome: "skipped", why: decision.why }
                : { ...entry, list, outcome: decision.outcome }
            )
          }
        }
        return decisions
      })

      return MountResolver.of({
        inspect,
        hasList: (name) =>
          fs.lstat(joinPath(configDir, `${name}.list`)).pipe(
            Effect.as(true),
            Effect.orElseSucceed(() => false)
          ),
        checkDestinations: Effect.fn("MountResolver.checkDestinations")(function* (rootfs, paths) {
          const missing = new Set<string>()
          for (const path of paths) {
            const detail = yield* destinationProblem(fs, rootfs, path, missing)
            if (detail !== undefined)
              return yield* new DestinationError({ reason: "LeavesRootfs", rootfs, path, detail })
          }
        }),
        resolve: (names, options) =>
          Effect.map(inspect(names, options), (decisions) => ({
            files: decisions.filter((d) => d.outcome === "file").map((d) => d.path),
            dirs: decisions.filter((d) => d.outcome === "dir").map((d) => d.path)
          }))
      })
    })
  )
}
