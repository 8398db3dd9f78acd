import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import { Limits } from "../Limits.ts"
import { readBounded } from "../platform/readBounded.ts"
import { type ContainerConfig, decodeContainerConfig, SpecError } from "../schemas/ContainerSpec.ts"
import { joinPath } from "../schemas/Paths.ts"

export { SpecError }

/** Stage 2: reads the bundle's config.json and derives the container's rootfs and env. */
export class SpecParser extends Context.Service<
  SpecParser,
  {
    /** Reads `<bundle>/config.json` (a regular file, at most Limits.specBytes). */
    readonly parse: (bundle: string) => Effect.Effect<ContainerConfig, SpecError>
  }
>()("ascend-docker-hook/SpecParser") {
  /** Reads through the provided FileSystem. */
  static readonly layer = Layer.effect(
    SpecParser,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      return SpecParser.of({
        parse: Effect.fn("SpecParser.parse")(function* (bundle: string) {
          const path = joinPath(bundle, "config.json")
          const fail = (reason: SpecError["reason"], detail: string) => new SpecError({ reason, path, detail })
          const st = yield* fs
            .stat(path)
            .pipe(
              Effect.mapError((e) =>
                e.reason._tag === "NotFound" ? fail("NotFound", "does not exist") : fail("Unreadable", e.message)
              )
            )
          if (st.type !== "File") return yield* fail("NotRegular", `is not a regular file (${st.type})`)
          const read = yield* readBounded(fs, path, Limits.specBytes, {
            verify: (info) =>
              info.type === "File"
                ? Effect.void
                : Effect.fail(fail("NotRegular", `is not a regular file (${info.type})`))
          }).pipe(Effect.mapError((e) => (e._tag === "SpecError" ? e : fail("Unreadable", e.message))))
          if (read._tag === "TooLarge") return yield* fail("TooLarge", `is larger than ${Limits.specBytes} bytes`)
          return yield* Effect.fromResult(decodeContainerConfig(read.text, path, bundle))
        })
      })
    })
  )
}
