import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import { Limits } from "../Limits.ts"
import { readBounded } from "../platform/readBounded.ts"
import { VISIBLE_DEVICES } from "../schemas/AscendEnv.ts"
import { lookupEnv } from "../schemas/ContainerEnv.ts"
import { parseJsonObject } from "../schemas/Json.ts"
import { joinPath } from "../schemas/Paths.ts"
import { trimSpace } from "../schemas/Text.ts"

/** Why a bundle's config.json could not be read or updated; nothing was written. */
export class InjectError extends Data.TaggedError("InjectError")<{
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `OCI config ${this.path}: ${this.detail}`
  }
}

/** The hook entry the wrapper adds: an absolute path, its args, and an explicit env. */
export interface HookEntry {
  readonly path: string
  readonly args: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
}

/** What the wrapper did to a bundle. */
export type InjectOutcome = "added" | "already-present" | "not-an-npu-container"

/** The wrapper's own settings, from its environment (the daemon's, never a container's). */
export class WrapperConfig extends Context.Service<
  WrapperConfig,
  {
    readonly hook: HookEntry
  }
>()("ascend-docker-hook/WrapperConfig") {}

/**
 * Adds the hook to a bundle's config.json as a prestart hook, for containers that ask for NPUs: what the
 * `ascend-docker-runtime` wrapper does on `create` and `run` before it becomes runc. The rewrite is
 * atomic (a temp file with the same mode, synced, then renamed over); a config it cannot parse is never
 * touched.
 */
export class HookInjector extends Context.Service<
  HookInjector,
  {
    readonly inject: (bundle: string) => Effect.Effect<InjectOutcome, InjectError>
  }
>()("ascend-docker-hook/HookInjector") {
  static readonly layer = Layer.effect(
    HookInjector,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const { hook } = yield* WrapperConfig
      return HookInjector.of({
        inject: Effect.fn("HookInjector.inject")(function* (bundle: string) {
          const path = joinPath(bundle, "config.json")
          const fail = (detail: string) => new InjectError({ path, detail })
          const io = <A, R>(effect: Effect.Effect<A, { readonly message: string }, R>) =>
            Effect.mapError(effect, (e) => fail(e.message))
          const st = yield* io(fs.stat(path))
          if (st.type !== "File") return yield* fail(`is not a regular file (${st.type})`)
          const read = yield* io(readBounded(fs, path, Limits.specBytes))
          if (read._tag === "TooLarge") return yield* fail(`is larger than ${Limits.specBytes} bytes`)
          const parsed = parseJsonObject(read.text)
          if (parsed._tag === "Failure") return yield* fail(`cannot be parsed, left untouched: ${parsed.failure}`)
          const config = parsed.success
          const process = config.process as { env?: unknown } | undefined
          const env = Array.isArray(process?.env) ? process.env.filter((e): e is string => typeof e === "string") : []
          const visible = lookupEnv(env, VISIBLE_DEVICES)
          if (visible === undefined || trimSpace(visible) === "") return "not-an-npu-container" as const
          if (config.hooks !== undefined && (typeof config.hooks !== "object" || config.hooks === null)) {
            return yield* fail("has a hooks value that is not an object, left untouched")
          }
          const hooks = (config.hooks ?? {}) as Record<string, unknown>
          const prestart = hooks.prestart ?? []
          if (!Array.isArray(prestart)) return yield* fail("has a hooks.prestart that is not an array, left untouched")
          if (prestart.some((h) => (h as { path?: unknown } | null)?.path === hook.path)) {
            return "already-present" as const
          }
          config.hooks = { ...hooks, prestart: [...prestart, { path: hook.path, args: hook.args, env: hook.env }] }
          const tmp = `${path}.ascend-${Math.random().toString(36).slice(2, 10)}.tmp`
          yield* io(
            Effect.gen(function* () {
              yield* fs.writeFileString(tmp, JSON.stringify(config), { flag: "wx", mode: st.mode & 0o7777 })
              yield* fs.chmod(tmp, st.mode & 0o7777)
              yield* Effect.scoped(Effect.flatMap(fs.open(tmp, { flag: "r" }), (file) => file.sync))
              yield* fs.rename(tmp, path)
            }).pipe(Effect.tapError(() => Effect.ignore(fs.remove(tmp, { force: true }))))
          )
          return "added" as const
        })
      })
    })
  )
}
