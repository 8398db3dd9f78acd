// A property test an embedder writes with the package's Schemas: their arbitraries give valid values.
import { assert, describe, it } from "@effect/vitest"
import { decodeAscendEnv, Schemas } from "ascend-docker-hook"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"

describe("what my platform hands the hook", () => {
  it.effect.prop(
    "every device list and option set the Schemas generate is an NPU request the hook accepts",
    { devices: Schemas.DeviceList, options: Schemas.RuntimeOptions },
    ({ devices, options }) =>
      Effect.sync(() => {
        const env = [`ASCEND_VISIBLE_DEVICES=${devices}`, `ASCEND_RUNTIME_OPTIONS=${options}`]
        const request = Result.getOrThrow(decodeAscendEnv(env))
        assert.isTrue(Option.isSome(request))
        return true
      }),
    { arbitrary: { runs: 300 } }
  )
})
