import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import { Limits } from "../Limits.ts"
import { readBounded } from "../platform/readBounded.ts"
import { type ContainerConfig, decodeContainerConfig, SpecError } from "../schemas/ContainerSpec.ts"
import { joinPath } from "../schemas/Paths.ts"

export { SpecError }

/** The stage over the provided FileSystem; `given`: a bundle whose config is already decoded (`layerDecoded`). */
const make = (given: { readonly bundle: string; readonly config: ContainerConfig } | undefined) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    return SpecParser.of({
      parse: Effect.fn("SpecParser.parse")(function* (bundle: string) {
        if (given !== undefined && given.bundle === bundle) return given.config
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
            info.type === "File" ? Effect.void : Effect.fail(fail("NotRegular", `is not a regular file (${info.type})`))
        }).pipe(Effect.mapError((e) => (e._tag === "SpecError" ? e : fail("Unreadable", e.message))))
        if (read._tag === "TooLarge") return yield* fail("TooLarge", `is larger than ${Limits.specBytes} bytes`)
        return yield* Effect.fromResult(decodeContainerConfig(read.text, path, bundle))
      })
    })
  })

/** Stage 2: reads the bundle's config.json and derives the container's rootfs and env. */
export class SpecParser extends Context.Service<
  SpecParser,
  {
    /** Reads `<bundle>/config.json` (a regular file, at most Limits.specBytes). */
    readonly parse: (bundle: string) => Effect.Effect<ContainerConfig, SpecError>
  }
>()("ascend-docker-hook/SpecParser") {
  /** Reads through the provided FileSystem. */
  static readonly layer = Layer.effect(SpecParser, make(undefined))

  /**
   * As `layer`, but `bundle`'s config is the one given: the wrapper's first look (wrapper/NoRequest.ts) has
   * already read that config.json (not a link, a regular file, within the limit: no less than this stage
   * asks) and decoded it with this stage's own decoder, and found it asks for NPUs. Reading it again would
   * see the same bytes; nothing writes a bundle between the engine and its runtime.
   */
  static readonly layerDecoded = (bundle: string, config: ContainerConfig) =>
    Layer.effect(SpecParser, make({ bundle, config }))
}
