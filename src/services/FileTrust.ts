import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { HookConfig } from "../HookConfig.ts"
import { dirnameOf } from "../schemas/Paths.ts"

/** Why a file the hook would act on is not to be trusted. */
export class TrustError extends Data.TaggedError("TrustError")<{
  readonly path: string
  readonly role: string
  readonly reason: "Missing" | "Symlink" | "NotRegular" | "NotDirectory" | "NotExecutable" | "Owner" | "Writable"
  readonly detail: string
}> {
  override get message(): string {
    return `untrusted ${this.role} ${this.path}: ${this.detail}`
  }
}

/** What is being checked, for the message: "config dir", "mount list", "CLI", or "parent of ...". */
export type Role = string

const WRITABLE_BY_OTHERS = 0o022

/**
 * File trust, as later Ascend releases check it: what the hook reads its orders from (config dir, lists)
 * and what it runs (the CLI) must be owned by root or the hook's uid, writable by nobody else, and so must
 * every directory above them. Lists and the CLI must not be symlinks. One service, so every stage asks
 * the same questions and a test FileSystem can answer them.
 */
export class FileTrust extends Context.Service<
  FileTrust,
  {
    /** Checks a directory (links followed) and all its parents. */
    readonly directory: (path: string, role: Role) => Effect.Effect<void, TrustError>
    /** Checks an opened file's own stat: type, owner, mode; executable if asked. */
    readonly info: (
      path: string,
      role: Role,
      info: FileSystem.File.Info,
      options?: { readonly executable?: boolean }
    ) => Effect.Effect<void, TrustError>
    /** Checks a file that must not be a symlink (lstat), then its parents. */
    readonly file: (
      path: string,
      role: Role,
      options?: { readonly executable?: boolean }
    ) => Effect.Effect<void, TrustError>
    /** Checks every directory above `path` (after resolving links in them), up to `/`. */
    readonly parents: (path: string, role: Role) => Effect.Effect<void, TrustError>
  }
>()("ascend-docker-hook/FileTrust") {
  /** The real checks, over whatever FileSystem is provided. */
  static readonly layer = Layer.effect(
    FileTrust,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const { uid } = yield* HookConfig

      const fail = (path: string, role: Role, reason: TrustError["reason"], detail: string) =>
        Effect.fail(new TrustError({ path, role, reason, detail }))

      const ownerAndMode = (path: string, role: Role, info: FileSystem.File.Info) => {
        const owner = Option.getOrElse(info.uid, () => -1)
        if (owner !== 0 && owner !== uid) {
          return fail(path, role, "Owner", `is owned by uid ${owner}, not by root or the hook's uid ${uid}`)
        }
        if ((info.mode & WRITABLE_BY_OTHERS) !== 0) {
          const mode = (info.mode & 0o7777).toString(8).padStart(4, "0")
          return fail(path, role, "Writable", `is writable by group or others (mode ${mode})`)
        }
        return Effect.void
      }

      const statOf = (path: string, role: Role, how: "stat" | "lstat") =>
        fs[how](path).pipe(
          Effect.mapError(
            (e) =>
              new TrustError({
                path,
                role,
                reason: "Missing",
                detail: e.reason._tag === "NotFound" ? "does not exist" : `cannot be inspected (${e.reason._tag})`
              })
          )
        )

      const info = (
        path: string,
        role: Role,
        info: FileSystem.File.Info,
        options?: { readonly executable?: boolean }
      ): Effect.Effect<void, TrustError> => {
        if (info.type === "SymbolicLink") return fail(path, role, "Symlink", "is a symbolic link")
        if (info.type !== "File") return fail(path, role, "NotRegular", `is not a regular file (${info.type})`)
        if (options?.executable === true && (info.mode & 0o111) === 0) {
          return fail(path, role, "NotExecutable", "is not executable")
        }
        return ownerAndMode(path, role, info)
      }

      const parents = (path: string, role: Role): Effect.Effect<void, TrustError> =>
        Effect.gen(function* () {
          const parent = dirnameOf(path)
          const real = yield* fs.realPath(parent).pipe(
            Effect.mapError(
              (e) =>
                new TrustError({
                  path: parent,
                  role: `parent of ${role}`,
                  reason: "Missing",
                  detail: `cannot be resolved (${e.reason._tag})`
                })
            )
          )
          let dir = real
          for (;;) {
            const parentRole = `parent of ${role}`
            const st = yield* statOf(dir, parentRole, "stat")
            if (st.type !== "Directory") yield* fail(dir, parentRole, "NotDirectory", "is not a directory")
            yield* ownerAndMode(dir, parentRole, st)
            if (dir === "/") return
            dir = dirnameOf(dir)
          }
        })

      return FileTrust.of({
        info,
        parents,
        directory: (path, role) =>
          Effect.gen(function* () {
            const st = yield* statOf(path, role, "stat")
            if (st.type !== "Directory") return yield* fail(path, role, "NotDirectory", "is not a directory")
            yield* ownerAndMode(path, role, st)
            const real = yield* fs.realPath(path).pipe(Effect.orElseSucceed(() => path))
            yield* parents(real, role)
          }),
        file: (path, role, options) =>
          Effect.gen(function* () {
            yield* info(path, role, yield* statOf(path, role, "lstat"), options)
            yield* parents(path, role)
          })
      })
    })
  )
}
