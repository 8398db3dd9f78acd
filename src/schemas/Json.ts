import * as Result from "effect/Result"
import { jsonShapeProblem, MAX_JSON_ITEMS } from "./JsonShape.ts"
import { oneLine } from "./Text.ts"

export { jsonShapeProblem, MAX_JSON_DEPTH, MAX_JSON_ITEMS } from "./JsonShape.ts"
export { oneLine }

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
