import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { Limits } from "../Limits.ts"
import { absolutePathProblem, CLI_PATH_CHARS, normalizeAbsolute } from "./Paths.ts"
import { quote, trimSpace } from "./Text.ts"

/** Why a mount list, or the paths it names, could not be used. */
export class MountError extends Data.TaggedError("MountError")<{
  readonly reason:
    | "NotFound"
    | "NotRegular"
    | "Unreadable"
    | "TooLarge"
    | "TooManyLines"
    | "BadLine"
    | "TooManyMounts"
    | "Symlink"
    | "Writable"
  readonly path: string
  /** 1-based line of the list (not `line`: JavaScriptCore puts its own `line` on every Error). */
  readonly lineNumber?: number
  readonly detail: string
}> {
  override get message(): string {
    return `mount list ${this.path}${this.lineNumber === undefined ? "" : `:${this.lineNumber}`}: ${this.detail}`
  }
}

/** One usable line of a mount list: its 1-based line number and the normalized absolute path. */
export interface MountListEntry {
  readonly line: number
  readonly path: string
}

/**
 * Parses one line. Blank lines and `#` comments give undefined; a path must be absolute, free of control
 * characters and made of the characters the native CLI accepts; it comes back lexically normalized.
 */
export const parseMountListLine = (text: string): Result.Result<string | undefined, string> => {
  const line = trimSpace(text)
  if (line === "" || line.startsWith("#")) return Result.succeed(undefined)
  const problem = absolutePathProblem(line)
  if (problem !== undefined) return Result.fail(`${quote(line)} ${problem}`)
  if (!CLI_PATH_CHARS.test(line)) {
    return Result.fail(`${quote(line)} has characters the native CLI refuses (allowed: A-Za-z0-9._/~-)`)
  }
  const path = normalizeAbsolute(line)
  if (path === "/") return Result.fail(`${quote(line)} is the host's /`)
  return Result.succeed(path)
}

/** Parses a whole mount list (already bounded in bytes): at most listFileLines lines, each as above. */
export const parseMountList = (
  text: string,
  path: string
): Result.Result<ReadonlyArray<MountListEntry>, MountError> => {
  let count = text.length > 0 && !text.endsWith("\n") ? 1 : 0
  for (let i = text.indexOf("\n"); i !== -1 && count <= Limits.listFileLines; i = text.indexOf("\n", i + 1)) count++
  if (count > Limits.listFileLines) {
    const detail = `has more than ${Limits.listFileLines} lines`
    return Result.fail(new MountError({ reason: "TooManyLines", path, detail }))
  }
  const lines = text.split("\n")
  if (lines[lines.length - 1] === "") lines.pop()
  const entries: Array<MountListEntry> = []
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseMountListLine(lines[i]!)
    if (Result.isFailure(parsed)) {
      return Result.fail(new MountError({ reason: "BadLine", path, lineNumber: i + 1, detail: parsed.failure }))
    }
    if (parsed.success !== undefined) entries.push({ line: i + 1, path: parsed.success })
  }
  return Result.succeed(entries)
}
