import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { issue } from "./Issue.ts"
import { oneLine, parseJsonObject } from "./Json.ts"
import { absolutePathProblem } from "./Paths.ts"

/** The highest pid the kernel hands out (PID_MAX_LIMIT on 64-bit). */
export const PID_MAX = 4194304

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

/** A state has a handful of keys plus annotations; far fewer values than a config.json. */
const MAX_STATE_ITEMS = 4096

/**
 * The shape check, by hand: the same verdicts and words as decoding with Schemas.ContainerState (proven by
 * test/Schemas.agree.test.ts), without loading Effect's Schema on every container start.
 */
const shapeProblem = (json: Record<string, unknown>): string | undefined => {
  if (!("pid" in json)) return issue("Missing key", ["pid"])
  const pid = json.pid
  if (typeof pid !== "number") return issue("Expected number", ["pid"])
  if (!Number.isSafeInteger(pid)) return issue("Expected an integer", ["pid"])
  if (pid < 1 || pid > PID_MAX) return issue(`Expected a value between 1 and ${PID_MAX}`, ["pid"])
  if (!("bundle" in json)) return issue("Missing key", ["bundle"])
  if (typeof json.bundle !== "string") return issue("Expected string", ["bundle"])
  const problem = absolutePathProblem(json.bundle)
  if (problem !== undefined) return issue(`bundle ${problem}`, ["bundle"])
  for (const key of ["id", "status"] as const) {
    if (key in json && typeof json[key] !== "string") return issue("Expected string", [key])
  }
  return undefined
}

/** Decodes the text of a container state: exactly one JSON object of the expected shape. */
export const decodeContainerState = (text: string, source: string): Result.Result<ContainerState, StateError> => {
  const json = parseJsonObject(text, MAX_STATE_ITEMS)
  if (Result.isFailure(json)) return Result.fail(new StateError({ reason: "Json", source, detail: json.failure }))
  const problem = shapeProblem(json.success)
  if (problem !== undefined) return Result.fail(new StateError({ reason: "Shape", source, detail: oneLine(problem) }))
  const { pid, bundle, id, status } = json.success as unknown as ContainerState
  return Result.succeed({
    pid,
    bundle,
    ...(id === undefined ? {} : { id }),
    ...(status === undefined ? {} : { status })
  })
}
