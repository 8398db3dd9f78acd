import * as Result from "effect/Result"
import { EnvError, RUNTIME_OPTIONS, type RuntimeOption } from "./AscendEnv.ts"
import { trimSpace } from "./Text.ts"

/** The order the native CLI accepts: `NODRV`, `VIRTUAL` or `NODRV,VIRTUAL`. */
const CANONICAL: ReadonlyArray<RuntimeOption> = ["NODRV", "VIRTUAL"]

/** Parses ASCEND_RUNTIME_OPTIONS: exact, case-sensitive names; deduplicated, in canonical order. */
export const parseRuntimeOptions = (value: string): Result.Result<ReadonlyArray<RuntimeOption>, EnvError> => {
  if (trimSpace(value) === "") return Result.succeed([])
  const given = new Set<string>()
  for (const raw of value.split(",")) {
    const item = trimSpace(raw)
    if (item !== "NODRV" && item !== "VIRTUAL") {
      const reason = item === "" ? "EmptyItem" : "BadItem"
      const detail = item === "" ? "is empty" : "is not a runtime option (NODRV or VIRTUAL)"
      return Result.fail(new EnvError({ variable: RUNTIME_OPTIONS, reason, item: raw, detail }))
    }
    given.add(item)
  }
  return Result.succeed(CANONICAL.filter((o) => given.has(o)))
}
