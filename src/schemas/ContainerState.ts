import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { oneLine, parseJsonObject } from "./Json.ts"
import { absolutePathProblem } from "./Paths.ts"

/** The highest pid the kernel hands out (PID_MAX_LIMIT on 64-bit). */
const PID_MAX = 4194304

/** The part of the OCI container state the hook uses; runc, crun and others add keys we ignore. */
export const ContainerState = Schema.Struct({
  pid: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: PID_MAX })),
  bundle: Schema.String.check(
    Schema.makeFilter((s: string) => {
      const problem = absolutePathProblem(s)
      return problem === undefined ? true : `bundle ${problem}`
    })
  ),
  id: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.String)
})

/** A decoded container state. */
export type ContainerState = typeof ContainerState.Type

/** Why the state could not be read or decoded. */
export class StateError extends Schema.TaggedError<StateError>()("StateError", {
  reason: Schema.Literals(["TooLarge", "Unreadable", "Json", "Shape"]),
  source: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `container state from ${this.source}: ${this.detail}`
  }
}

/** A state has a handful of keys plus annotations; far fewer values than a config.json. */
const MAX_STATE_ITEMS = 4096

const decodeState = Schema.decodeUnknownResult(ContainerState)

/** Decodes the text of a container state: exactly one JSON object of the expected shape. */
export const decodeContainerState = (text: string, source: string): Result.Result<ContainerState, StateError> => {
  const json = parseJsonObject(text, MAX_STATE_ITEMS)
  if (Result.isFailure(json)) return Result.fail(new StateError({ reason: "Json", source, detail: json.failure }))
  const decoded = decodeState(json.success)
  return Result.isFailure(decoded)
    ? Result.fail(new StateError({ reason: "Shape", source, detail: oneLine(decoded.failure.message) }))
    : Result.succeed(decoded.success)
}
