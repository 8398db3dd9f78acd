import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import { HookConfig } from "../HookConfig.ts"
import { type AscendRequest, EnvError } from "../schemas/AscendEnv.ts"
import { decodeAscendEnv } from "../schemas/ContainerEnv.ts"

export { EnvError }

/** Stage 3: decides from the container's (untrusted) env what it asks for. */
export class EnvDecoder extends Context.Service<
  EnvDecoder,
  {
    /** None: not an NPU container, nothing to do. Some: devices, mount lists and options, validated. */
    readonly decode: (env: ReadonlyArray<string>) => Effect.Effect<Option.Option<AscendRequest>, EnvError>
  }
>()("ascend-docker-hook/EnvDecoder") {
  /** Pure: the parsing lives in src/schemas, this only lifts it into Effect, for the configured protocol. */
  static readonly layer = Layer.effect(
    EnvDecoder,
    Effect.map(HookConfig, ({ protocol }) =>
      EnvDecoder.of({
        decode: (env) => Effect.fromResult(decodeAscendEnv(env, protocol))
      })
    )
  )
}
