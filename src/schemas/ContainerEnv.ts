import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { CliProtocol } from "../HookConfig.ts"
import { Limits } from "../Limits.ts"
import {
  ALLOW_LINK,
  type AscendRequest,
  type AscendVariable,
  DISABLE_UB_MOUNT,
  EnvError,
  RUNTIME_MOUNTS,
  RUNTIME_OPTIONS,
  type UnprivilegedEnvPolicy,
  VISIBLE_DEVICES
} from "./AscendEnv.ts"
import { parseDeviceList } from "./DeviceList.ts"
import { asksForNothing, lookupEnv } from "./EnvLookup.ts"
import { parseMountListNames } from "./MountListNames.ts"
import { parseRuntimeOptions } from "./RuntimeOptions.ts"
import { utf8Length } from "./Text.ts"

export { asksForNothing, lookupEnv }

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

/** `True` is true; unset, empty or `False` is false; anything else is refused (upstream's rule, exact case). */
export const parseTrueFalse = (
  variable: AscendVariable,
  value: string | undefined
): Result.Result<boolean, EnvError> =>
  value === "True"
    ? Result.succeed(true)
    : value === undefined || value === "" || value === "False"
      ? Result.succeed(false)
      : Result.fail(
          new EnvError({ variable, reason: "BadItem", item: value, detail: "is neither True nor False (exact case)" })
        )

/**
 * Decodes what a container asks for from its env. None: not an NPU container (ASCEND_VISIBLE_DEVICES unset,
 * blank or `void`), so nothing else is read. Every value is checked before any file is touched; with the
 * 2023 protocol also ASCEND_ALLOW_LINK and DISABLE_UB_MOUNT (the 2021 CLI knows neither, so they are not read).
 */
export const decodeAscendEnv = (
  env: ReadonlyArray<string>,
  protocol: CliProtocol = "2021"
): Result.Result<Option.Option<AscendRequest>, EnvError> =>
  Result.gen(function* () {
    const visible = lookupEnv(env, VISIBLE_DEVICES)
    if (asksForNothing(visible)) return Option.none()
    const devices = yield* parseDeviceList(yield* bounded(VISIBLE_DEVICES, visible!))
    const mountLists = yield* parseMountListNames(yield* bounded(RUNTIME_MOUNTS, lookupEnv(env, RUNTIME_MOUNTS) ?? ""))
    const options = yield* parseRuntimeOptions(yield* bounded(RUNTIME_OPTIONS, lookupEnv(env, RUNTIME_OPTIONS) ?? ""))
    if (protocol === "2021")
      return Option.some({ devices, mountLists, options, allowLink: false, disableUbMount: false })
    const allowLink = yield* parseTrueFalse(ALLOW_LINK, lookupEnv(env, ALLOW_LINK))
    const disableUbMount = yield* parseTrueFalse(DISABLE_UB_MOUNT, lookupEnv(env, DISABLE_UB_MOUNT))
    return Option.some({ devices, mountLists, options, allowLink, disableUbMount })
  })

/**
 * The privilege gate, one rule for the hook and the wrapper: an env request from an unprivileged container
 * is kept (`accept`), dropped (`ignore`: the result says so, for the run log) or refused (`refuse`).
 * Callers ask `ignoresEnv` first: an ignored env is not even decoded.
 */
export const gateRequest = (
  request: Option.Option<AscendRequest>,
  privileged: boolean,
  policy: UnprivilegedEnvPolicy,
  visible: string
): Result.Result<{ readonly request: Option.Option<AscendRequest>; readonly ignored: boolean }, EnvError> => {
  if (Option.isNone(request) || privileged || policy === "accept") return Result.succeed({ request, ignored: false })
  if (policy === "ignore") return Result.succeed({ request: Option.none(), ignored: true })
  return Result.fail(
    new EnvError({
      variable: VISIBLE_DEVICES,
      reason: "Unprivileged",
      item: visible,
      detail:
        "is asked for by an unprivileged container (no CAP_SYS_ADMIN), which this host refuses (unprivileged-env refuse)"
    })
  )
}

/**
 * True when the gate drops this container's env request unread: `ignore`, an unprivileged container, and
 * an ASCEND_VISIBLE_DEVICES that asks for something. Unread, so a malformed request is no request either:
 * under `ignore` the env of an unprivileged container has no effect at all, not even a refusal.
 */
export const ignoresEnv = (privileged: boolean, policy: UnprivilegedEnvPolicy, visible: string | undefined): boolean =>
  policy === "ignore" && !privileged && !asksForNothing(visible)

/** A variable the container's env sets more than once, to different values. */
export interface Duplicate {
  readonly key: string
  /** The value every stage uses: the first, as the container's own getenv sees it. */
  readonly used: string
  readonly others: ReadonlyArray<string>
}

/**
 * The ASCEND_ variables (and DISABLE_UB_MOUNT) that `env` sets more than once with different values. The
 * rule is one everywhere (lookupEnv: the first wins); this says when it mattered, for explain and the run log.
 */
export const conflictingDuplicates = (env: ReadonlyArray<string>): ReadonlyArray<Duplicate> => {
  const seen = new Map<string, Array<string>>()
  for (const entry of env) {
    const eq = entry.indexOf("=")
    if (eq <= 0) continue
    const key = entry.slice(0, eq)
    if (!key.startsWith("ASCEND_") && key !== DISABLE_UB_MOUNT) continue
    const values = seen.get(key)
    if (values === undefined) seen.set(key, [entry.slice(eq + 1)])
    else values.push(entry.slice(eq + 1))
  }
  const out: Array<Duplicate> = []
  for (const [key, [used, ...rest]] of seen) {
    const others = rest.filter((v) => v !== used)
    if (others.length > 0) out.push({ key, used: used!, others })
  }
  return out
}
