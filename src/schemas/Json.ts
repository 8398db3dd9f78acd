import * as Result from "effect/Result"

/** Collapses a multi-line message to one line. */
import { oneLine } from "../ErrorLine.ts"

export { oneLine }

/** Parses text that must be exactly one JSON object (white space around it allowed). */
export const parseJsonObject = (text: string): Result.Result<Record<string, unknown>, string> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return Result.fail(`invalid JSON: ${oneLine(e instanceof Error ? e.message : String(e))}`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return Result.fail(
      `expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`
    )
  }
  return Result.succeed(value as Record<string, unknown>)
}
