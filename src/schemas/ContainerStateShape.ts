import { issue } from "./Issue.ts"
import { absolutePathProblem } from "./Paths.ts"

// The container state's shape rules, in a module that imports no Effect (ContainerState.ts wraps them in
// Result and StateError): the planned hook (wrapper/PlannedHook.ts) checks a state by the same rules.

/** The highest pid the kernel hands out (PID_MAX_LIMIT on 64-bit). */
export const PID_MAX = 4194304

/** A state has a handful of keys plus annotations; far fewer values than a config.json. */
export const MAX_STATE_ITEMS = 4096

/**
 * The shape check, by hand: the same verdicts and words as decoding with Schemas.ContainerState (proven by
 * test/Schemas.agree.test.ts), without loading Effect's Schema on every container start.
 */
export const stateShapeProblem = (json: Record<string, unknown>): string | undefined => {
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
