import * as Result from "effect/Result"
import { Limits } from "../Limits.ts"
import { EnvError, RUNTIME_MOUNTS } from "./AscendEnv.ts"
import { trimSpace } from "./Text.ts"

/** A mount-list name: it becomes `<dir>/<name>.list` and nothing else. */
const NAME = /^[a-z0-9][a-z0-9_.-]*$/

/** The list every NPU container gets when it names none. */
export const DEFAULT_MOUNT_LIST = "base"

/** ASCII-only lower-casing: a Unicode fold (the Kelvin sign to `k`) must not make a valid name. */
const asciiLower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase())

const fail = (reason: EnvError["reason"], item: string, detail: string) =>
  Result.fail(new EnvError({ variable: RUNTIME_MOUNTS, reason, item, detail }))

/** Parses ASCEND_RUNTIME_MOUNTS: names trimmed and lower-cased, first occurrence kept; empty means `base`. */
export const parseMountListNames = (value: string): Result.Result<ReadonlyArray<string>, EnvError> => {
  if (trimSpace(value) === "") return Result.succeed([DEFAULT_MOUNT_LIST])
  const names: Array<string> = []
  for (const raw of value.split(",")) {
    const name = asciiLower(trimSpace(raw))
    if (name === "") return fail("EmptyItem", raw, "is empty")
    if (name.length > Limits.mountNameChars) return fail("BadName", name, `is longer than ${Limits.mountNameChars}`)
    if (!NAME.test(name) || name.includes("..")) {
      return fail("BadName", name, "is not a mount-list name ([a-z0-9][a-z0-9_.-]*, no '..')")
    }
    if (!names.includes(name)) names.push(name)
  }
  return Result.succeed(names)
}
