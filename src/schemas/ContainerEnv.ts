import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Limits } from "../Limits.ts"
import {
  type AscendRequest,
  type AscendVariable,
  EnvError,
  RUNTIME_MOUNTS,
  RUNTIME_OPTIONS,
  VISIBLE_DEVICES
} from "./AscendEnv.ts"
import { parseDeviceList } from "./DeviceList.ts"
import { parseMountListNames } from "./MountListNames.ts"
import { parseRuntimeOptions } from "./RuntimeOptions.ts"
import { trimSpace, utf8Length } from "./Text.ts"

/**
 * The value of `key` in an env list: the first entry `key=...` wins; an entry without `=` is skipped
 * (the seed panicked on it).
 */
export const lookupEnv = (env: ReadonlyArray<string>, key: string): string | undefined => {
  const prefix = `${key}=`
  for (const entry of env) if (entry.startsWith(prefix)) return entry.slice(prefix.length)
  return undefined
}

const bounded = (variable: AscendVariable, value: string): Result.Result<string, EnvError> =>
  value.length > Limits.envValueBytes || utf8Length(value) > Limits.envValueBytes
    ? Result.fail(
        new EnvError({
          variable,
          reason: "TooLong",
          item: value,
          detail: `is longer than ${Limits.envValueBytes} bytes`
        })
      )
    : Result.succeed(value)

/**
 * Decodes what a container asks for from its env. None: not an NPU container (ASCEND_VISIBLE_DEVICES unset
 * or blank), so nothing else is read. All three values are checked before any file is touched.
 */
export const decodeAscendEnv = (env: ReadonlyArray<string>): Result.Result<Option.Option<AscendRequest>, EnvError> =>
  Result.gen(function* () {
    const visible = lookupEnv(env, VISIBLE_DEVICES)
    if (visible === undefined || trimSpace(visible) === "") return Option.none()
    const devices = yield* parseDeviceList(yield* bounded(VISIBLE_DEVICES, visible))
    const mountLists = yield* parseMountListNames(yield* bounded(RUNTIME_MOUNTS, lookupEnv(env, RUNTIME_MOUNTS) ?? ""))
    const options = yield* parseRuntimeOptions(yield* bounded(RUNTIME_OPTIONS, lookupEnv(env, RUNTIME_OPTIONS) ?? ""))
    return Option.some({ devices, mountLists, options })
  })
