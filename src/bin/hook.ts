import { CLI_NAME, STDIN_PATH } from "../Defaults.ts"
import { defectText, errorLine } from "../ErrorLine.ts"
import { replaceProcess } from "../platform/execve.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import type { BoundedRead } from "../platform/readBounded.ts"
import { selfDir } from "../platform/Self.ts"
import type { ContainerConfig } from "../schemas/ContainerConfigShape.ts"
import { withoutLoaderVariables } from "../schemas/LoaderEnv.ts"
import { joinPath } from "../schemas/Paths.ts"
import { PLAN_ENV } from "../wrapper/Plan.ts"

/** The options the wrapper writes into a planned entry: the planned run is taken with these alone. */
const PLANNED_OPTIONS = new Set(["--config-dir", "--cli-protocol", "--unprivileged-env"])

/** True when `args` are only options the wrapper writes, each with its value (no --dry-run, --log, --cli, ...). */
const plannedArgs = (args: ReadonlyArray<string>): boolean =>
  args.length % 2 === 0 && args.every((a, i) => i % 2 === 1 || PLANNED_OPTIONS.has(a))

/** The options that change nothing for a container that asks for no NPU: no log to write, no dry run to print. */
const QUIET_OPTIONS = new Set([...PLANNED_OPTIONS, "--cli"])

/**
 * True when `args` are only such options, with values the pipeline accepts, so that the first look may answer
 * for the pipeline. Anything else (another option, `--flag=value`, a value the pipeline would refuse) leaves
 * it to the pipeline.
 */
const quietArgs = (args: ReadonlyArray<string>): boolean => {
  if (args.length % 2 !== 0) return false
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!
    const value = args[i + 1]!
    if (!QUIET_OPTIONS.has(flag) || value === "") return false
    if (flag === "--cli-protocol" && value !== "2021" && value !== "2023") return false
    if (flag === "--unprivileged-env" && value !== "accept" && value !== "ignore" && value !== "refuse") return false
  }
  return true
}

/**
 * The hook program. Registered by the wrapper with a plan (wrapper/Plan.ts) in its env, it runs the planned
 * step (wrapper/PlannedHook.ts: the pid, the bundle, the destinations, then the exec) without loading
 * Effect; registered without one (hooks.d, a hand-written entry), it first looks whether the container asks
 * for an NPU at all, also without Effect. Otherwise, or where anything is not as expected, the whole pipeline
 * (bin/hookPipeline.ts), given the state already read. The CLI never sees the plan, nor loader variables.
 */
const main = (loadAdmin: () => Promise<typeof import("./admin.ts")>): number | Promise<number> => {
  const env = process.env
  const cliEnv = withoutLoaderVariables(env)
  delete cliEnv[PLAN_ENV]
  const plan = env[PLAN_ENV]
  let state: BoundedRead | undefined
  let decoded: { readonly bundle: string; readonly config: ContainerConfig } | undefined
  if (plan !== undefined && plannedArgs(process.argv.slice(2))) {
    const { plannedStep } = require("../wrapper/PlannedHook.ts") as typeof import("../wrapper/PlannedHook.ts")
    const step = plannedStep(nodeFs(), plan, joinPath(selfDir(), CLI_NAME), STDIN_PATH)
    if (step._tag === "Exec") {
      try {
        return replaceProcess(step.argv[0]!, step.argv, cliEnv)
      } catch {
        // The CLI could not be run (gone since create?): the pipeline checks it again and says why.
      }
    }
    state = step.state
  } else if (plan === undefined && quietArgs(process.argv.slice(2))) {
    // Every container's hook where hooks.d runs it for all: one that asks for no NPU ends here, without Effect.
    const { firstLookStep } = require("../wrapper/PlannedHook.ts") as typeof import("../wrapper/PlannedHook.ts")
    const step = firstLookStep(nodeFs(), STDIN_PATH)
    if (step._tag === "Nothing") return 0
    state = step.state
    decoded = step.decoded
  }
  const { pipeline } = require("./hookPipeline.ts") as typeof import("./hookPipeline.ts")
  return pipeline(loadAdmin, cliEnv, state, decoded)
}

/**
 * Runs the hook for this process and sets its exit status; nothing escapes as a throw. A status known
 * synchronously ends the process at once: nothing is left to run, and Bun prints a deferred warning after
 * a failed execve, which must not follow our one line.
 */
export const run = (loadAdmin: () => Promise<typeof import("./admin.ts")>): void => {
  const defect = (e: unknown) => {
    nodeFs().writeSync(2, errorLine(defectText(e)))
    return 1
  }
  try {
    const status = main(loadAdmin)
    if (typeof status === "number") process.exit(status)
    else
      status.then(
        (s) => {
          process.exitCode = s
        },
        (e) => {
          process.exitCode = defect(e)
        }
      )
  } catch (e) {
    process.exit(defect(e))
  }
}
