import { Limits } from "../Limits.ts"

// The pre-scan of every JSON document read, in a module that imports no Effect (Json.ts re-exports it):
// the wrapper's every-container path (wrapper/NoRequest.ts) and the planned hook run it without loading Effect.

/** Deeper than any OCI state or config (they nest ~6 levels); JSON.parse slows down badly on deep input. */
export const MAX_JSON_DEPTH = 64
/** Values (arrays, objects, and the commas between members) in one document: a config.json at its 65 536 env entries has ~70k. */
export const MAX_JSON_ITEMS = 262144

/**
 * One linear pass before JSON.parse, so that its cost is bounded by the input's size alone: refuses
 * nesting deeper than MAX_JSON_DEPTH and more than MAX_JSON_ITEMS values at the point they are reached
 * (16 MiB of `[],` costs JSON.parse over a second; 1 MiB of `[` ~120 ms), strings longer than
 * Limits.jsonStringChars, and an unterminated string (so JSON.parse never scans megabytes only to
 * fail). Strings are skipped with indexOf.
 */
export const jsonShapeProblem = (text: string, maxItems: number = MAX_JSON_ITEMS): string | undefined => {
  let depth = 0
  let items = 0
  // The regex engine finds the next structural character far faster than a character loop, which a
  // cold (or --jitless) process would run in the interpreter: 16 MiB of blanks cost ~0.5 s that way.
  STRUCTURAL.lastIndex = 0
  while (STRUCTURAL.test(text)) {
    let i = STRUCTURAL.lastIndex - 1
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      const start = i
      for (;;) {
        i = text.indexOf('"', i + 1)
        if (i === -1) return "invalid JSON: unterminated string"
        let backslashes = 0
        while (text.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++
        if (backslashes % 2 === 0) break
      }
      if (i - start - 1 > Limits.jsonStringChars) {
        return `invalid JSON: a string of ${i - start - 1} characters, more than ${Limits.jsonStringChars}`
      }
      STRUCTURAL.lastIndex = i + 1
    } else if (c === 0x7b || c === 0x5b || c === 0x2c) {
      if (++items > maxItems) return `invalid JSON: more than ${maxItems} values`
      if (c !== 0x2c && ++depth > MAX_JSON_DEPTH) return `invalid JSON: nested deeper than ${MAX_JSON_DEPTH} levels`
    } else depth--
  }
  return undefined
}

/** The characters that open or close a string, an array or an object, or separate values. */
const STRUCTURAL = /["{}[\],]/g
