import { isRecord } from "../schemas/Issue.ts"
import { absolutePathProblem } from "../schemas/Paths.ts"

/**
 * The plan the wrapper makes at create for an NPU container in hook mode, carried to the hook in the env of
 * the hook entry it writes (a runtime passes a hook exactly that env; nothing of the container's reaches it):
 * the CLI's argv with the pid left open, and what must still be checked at prestart. Imports no Effect.
 */

/** The hook entry's env variable that carries the plan. */
export const PLAN_ENV = "ASCEND_DOCKER_HOOK_PLAN"

/**
 * The plan's size at most: one env string of the hook's execve must stay under the kernel's 128 KiB
 * (MAX_ARG_STRLEN). A bigger plan is not made; the hook then runs its whole pipeline, as before.
 */
export const PLAN_MAX_BYTES = 64 * 1024

/** Where the pid goes in the CLI's argv: both generations start `<cli> <flag> <value> --pid <pid>`. */
export const PID_AT = 4

/** What the wrapper decided at create. */
export interface LaunchPlan {
  /** The bundle it was made for; the hook runs it only for a state naming this bundle. */
  readonly bundle: string
  /** The rootfs the mount destinations are checked against at prestart. */
  readonly rootfs: string
  /** The paths the CLI will mount (files, then dirs), each at the same path inside. */
  readonly mounts: ReadonlyArray<string>
  /** The CLI's argv, with "0" at PID_AT. */
  readonly argv: ReadonlyArray<string>
}

/** The plan as the env entry's value; undefined when it would be larger than PLAN_MAX_BYTES. */
export const encodePlan = (plan: LaunchPlan): string | undefined => {
  const text = JSON.stringify({ v: 1, ...plan })
  return Buffer.byteLength(text) > PLAN_MAX_BYTES ? undefined : text
}

const strings = (v: unknown): v is ReadonlyArray<string> => Array.isArray(v) && v.every((s) => typeof s === "string")

/** The plan in the env entry's value, when it is exactly what encodePlan makes; else undefined. */
export const decodePlan = (text: string): LaunchPlan | undefined => {
  if (text.length > PLAN_MAX_BYTES) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isRecord(value) || value.v !== 1) return undefined
  const { bundle, rootfs, mounts, argv } = value
  if (typeof bundle !== "string" || typeof rootfs !== "string" || !strings(mounts) || !strings(argv)) return undefined
  if (absolutePathProblem(rootfs) !== undefined || argv.length <= PID_AT || argv[PID_AT - 1] !== "--pid")
    return undefined
  return { bundle, rootfs, mounts, argv }
}
