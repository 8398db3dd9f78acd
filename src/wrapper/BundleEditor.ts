import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Limits } from "../Limits.ts"
import { readBounded } from "../platform/readBounded.ts"
import { parseJsonObject } from "../schemas/Json.ts"
import { joinPath } from "../schemas/Paths.ts"
import { isOurTemp, tempName } from "./BundleTemp.ts"
import { applyEdits, type ContainerEdits, type HookEntry } from "./ContainerEdits.ts"

/** Why a bundle's config.json could not be read or updated; nothing was written. */
export class InjectError extends Data.TaggedError("InjectError")<{
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `OCI config ${this.path}: ${this.detail}`
  }
}

/**
 * Edits a bundle's config.json in place, as the `ascend-docker-runtime` wrapper does on `create`/`run`
 * before it becomes runc. Lossless: the edits are spliced into the text (ContainerEdits.applyEdits), so every
 * other byte stays. The file keeps its mode, owner and group; the new text goes to a temp file that is
 * synced and renamed over, then the directory is synced. A config.json that is a symbolic link, not a
 * regular file (a FIFO is refused before it is opened), or not a JSON object is refused and left untouched.
 * Temp files a killed earlier run left behind are removed, by their name.
 */
export class BundleEditor extends Context.Service<
  BundleEditor,
  {
    readonly edit: (
      bundle: string,
      edits: ContainerEdits,
      options: {
        readonly hook?: HookEntry | undefined
        readonly mark?: boolean
        readonly poststop?: HookEntry | undefined
      }
    ) => Effect.Effect<"edited" | "unchanged", InjectError>
  }
>()("ascend-docker-hook/BundleEditor") {
  static readonly layer = Layer.effect(
    BundleEditor,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      return BundleEditor.of({
        edit: Effect.fn("BundleEditor.edit")(function* (bundle, edits, options) {
          const path = joinPath(bundle, "config.json")
          const fail = (detail: string) => new InjectError({ path, detail })
          const io = <A, R>(effect: Effect.Effect<A, { readonly message: string }, R>) =>
            Effect.mapError(effect, (e) => fail(e.message))
          const st = yield* io(fs.lstat(path))
          if (st.type === "SymbolicLink") return yield* fail("is a symbolic link, left untouched")
          if (st.type !== "File") return yield* fail(`is not a regular file (${st.type}), left untouched`)
          for (const name of yield* io(fs.readDirectory(bundle))) {
            if (isOurTemp(name)) yield* io(fs.remove(joinPath(bundle, name), { force: true }))
          }
          const read = yield* io(
            readBounded(fs, path, Limits.specBytes, {
              noFollow: true,
              verify: (info) => (info.type === "File" ? Effect.void : Effect.fail(fail("changed while being read")))
            })
          )
          if (read._tag === "TooLarge") return yield* fail(`is larger than ${Limits.specBytes} bytes`)
          const parsed = parseJsonObject(read.text)
          if (parsed._tag === "Failure") return yield* fail(`cannot be parsed, left untouched: ${parsed.failure}`)
          const next = applyEdits(read.text, edits, options)
          if (typeof next !== "string") return yield* fail(`${next.refused}, left untouched`)
          if (next === read.text) return "unchanged" as const
          const mode = st.mode & 0o7777
          const tmp = joinPath(bundle, tempName())
          yield* io(
            Effect.gen(function* () {
              yield* fs.writeFileString(tmp, next, { flag: "wx", mode })
              yield* fs.chmod(tmp, mode)
              yield* fs.chown(
                tmp,
                Option.getOrElse(st.uid, () => 0),
                Option.getOrElse(st.gid, () => 0)
              )
              yield* Effect.scoped(Effect.flatMap(fs.open(tmp, { flag: "r" }), (file) => file.sync))
              yield* fs.rename(tmp, path)
              yield* Effect.scoped(Effect.flatMap(fs.open(bundle, { flag: "r" }), (dir) => dir.sync))
            }).pipe(Effect.tapError(() => Effect.ignore(fs.remove(tmp, { force: true }))))
          )
          return "edited" as const
        })
      })
    })
  )
}
