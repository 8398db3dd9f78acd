import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { MAX_STATE_ITEMS, stateShapeProblem } from "./ContainerStateShape.ts"
import { oneLine, parseJsonObject } from "./Json.ts"

export { PID_MAX } from "./ContainerStateShape.ts"

/** The part of the OCI container state the hook uses; runc, crun and others add keys we ignore (Schemas.ContainerState). */
export interface ContainerState {
  readonly pid: number
  readonly bundle: string
  readonly id?: string
  readonly status?: string
}

/** Why the state could not be read or decoded. */
export class StateError extends Data.TaggedError("StateError")<{
  readonly reason: "TooLarge" | "Unreadable" | "Json" | "Shape"
  readonly source: string
  readonly detail: string
}> {
  override get message(): string {
    return `container state from ${this.source}: ${this.detail}`
  }
}

/** Decodes the text of a container state: exactly one JSON object of the expected shape. */
export const decodeContainerState = (text: string, source: string): Result.Result<ContainerState, StateError> => {
  const json = parseJsonObject(text, MAX_STATE_ITEMS)
  if (Result.isFailure(json)) return Result.fail(new StateError({ reason: "Json", source, detail: json.failure }))
  const problem = stateShapeProblem(json.success)
  if (problem !== undefined) return Result.fail(new StateError({ reason: "Shape", source, detail: oneLine(problem) }))
  const { pid, bundle, id, status } = json.success as unknown as ContainerState
  return Result.succeed({
    pid,
    bundle,
    ...(id === undefined ? {} : { id }),
    ...(status === undefined ? {} : { status })
  })
}
