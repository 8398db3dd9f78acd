import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import { HookConfig, STDIN_PATH } from "../HookConfig.ts"
import { Limits } from "../Limits.ts"
import { type BoundedRead, readBounded } from "../platform/readBounded.ts"
import { type ContainerState, decodeContainerState, StateError } from "../schemas/ContainerState.ts"

export { StateError }

/** Stage 1: reads the container state the runtime writes on the hook's stdin (or a --state file). */
export class StateReader extends Context.Service<
  StateReader,
  {
    /** Reads to EOF (at most Limits.stateBytes) and decodes one JSON object with pid and bundle. */
    readonly read: Effect.Effect<ContainerState, StateError>
  }
>()("ascend-docker-hook/StateReader") {
  /**
   * Reads through FileSystem, not a stdin stream: Node's stdin streams leave fd 0 in O_NONBLOCK, which the
   * exec'd CLI would inherit; opening /dev/stdin gives a fresh description and leaves fd 0 untouched.
   */
  static readonly layer = Layer.effect(
    StateReader,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const { statePath } = yield* HookConfig
      const source = statePath === STDIN_PATH ? "stdin" : statePath
      return StateReader.of({
        read: readBounded(fs, statePath, Limits.stateBytes).pipe(
          Effect.mapError((e) => new StateError({ reason: "Unreadable", source, detail: e.message })),
          Effect.flatMap((read) => decodeRead(read, source)),
          Effect.withSpan("StateReader.read")
        )
      })
    })
  )

  /**
   * The state already read from `statePath` (by the planned hook, which then handed the run to the
   * pipeline), decoded exactly as `layer` decodes what it reads.
   */
  static readonly layerRead = (read: BoundedRead) =>
    Layer.effect(
      StateReader,
      Effect.gen(function* () {
        const { statePath } = yield* HookConfig
        return StateReader.of({ read: decodeRead(read, statePath === STDIN_PATH ? "stdin" : statePath) })
      })
    )
}

const decodeRead = (read: BoundedRead, source: string): Effect.Effect<ContainerState, StateError> => {
  if (read._tag === "TooLarge") {
    const detail = `is larger than ${Limits.stateBytes} bytes`
    return Effect.fail(new StateError({ reason: "TooLarge", source, detail }))
  }
  return Effect.fromResult(decodeContainerState(read.text, source))
}
