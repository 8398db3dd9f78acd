import * as Result from "effect/Result"
import { Limits } from "../Limits.ts"
import { oneLine } from "./Text.ts"

export { oneLine }

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

/** Parses text that must be exactly one JSON object (white space around it allowed). */
export const parseJsonObject = (
  text: string,
  maxItems: number = MAX_JSON_ITEMS
): Result.Result<Record<string, unknown>, string> => {
  const problem = jsonShapeProblem(text, maxItems)
  if (problem !== undefined) return Result.fail(problem)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return Result.fail(`invalid JSON: ${jsonSyntaxError(text) ?? oneLine(e instanceof Error ? e.message : String(e))}`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return Result.fail(
      `expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`
    )
  }
  return Result.succeed(value as Record<string, unknown>)
}

/**
 * Where and why `text` is not one JSON value, in the same words on every runtime (V8 and JavaScriptCore
 * word JSON.parse's errors differently, and JavaScriptCore gives no position): `at line 1 column 11:
 * expected a string key`. Undefined if it is valid. Only run after JSON.parse failed, on text the
 * pre-scan bounded (depth, size), so its recursion is bounded too.
 */
export const jsonSyntaxError = (text: string): string | undefined => {
  let i = 0
  // The regex engine skips blanks far faster than a character loop in a cold or interpreted process.
  const BLANKS = /[ \t\n\r]*/y
  const ws = () => {
    BLANKS.lastIndex = i
    BLANKS.test(text)
    i = BLANKS.lastIndex
  }
  const where = () => {
    let line = 1
    for (let at = text.indexOf("\n"); at !== -1 && at < i; at = text.indexOf("\n", at + 1)) line++
    return `at line ${line} column ${i - text.lastIndexOf("\n", i - 1)}`
  }
  const fail = (what: string) => {
    throw new SyntaxError(
      `${where()}: ${i >= text.length ? `unexpected end of input, ${what}` : `${what}, found ${JSON.stringify(text[i])}`}`
    )
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail(`expected ${word}`)
  }
  const string = () => {
    i++
    for (;;) {
      if (i >= text.length) fail("expected the end of a string")
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) fail("expected a character (control characters must be escaped in a string)")
      if (c === 0x5c) {
        const e = text[i + 1]
        if (e === "u") {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) {
            i += 2
            fail("expected four hex digits after \\u")
          }
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2
        else {
          i++
          fail('expected an escape (one of \\" \\\\ / b f n r t u)')
        }
      } else i++
    }
  }
  const number = () => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 1100))
    if (m === null || m[0] === "" || m[0] === "-") fail("expected a value")
    i += m![0].length
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      ws()
      if (text[i] === "}") {
        i++
        return
      }
      for (;;) {
        ws()
        if (text[i] !== '"') fail("expected a string key")
        string()
        ws()
        if (text[i] !== ":") fail("expected ':' after a key")
        i++
        value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] === "}") {
          i++
          return
        } else fail("expected ',' or '}' in an object")
      }
    }
    if (c === "[") {
      i++
      ws()
      if (text[i] === "]") {
        i++
        return
      }
      for (;;) {
        value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] === "]") {
          i++
          return
        } else fail("expected ',' or ']' in an array")
      }
    }
    if (c === '"') string()
    else if (c === "t") literal("true")
    else if (c === "f") literal("false")
    else if (c === "n") literal("null")
    else number()
  }
  try {
    value()
    ws()
    if (i < text.length) fail("expected the end of the document")
    return undefined
  } catch (e) {
    return e instanceof SyntaxError ? e.message : undefined
  }
}
