import { CLI_NAME, STDIN_PATH } from "../Defaults.ts"
import { defectText, errorLine } from "../ErrorLine.ts"
import { replaceProcess } from "../platform/execve.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import type { BoundedRead } from "../platform/readBounded.ts"
import { selfDir } from "../platform/Self.ts"
import { withoutLoaderVariables } from "../schemas/LoaderEnv.ts"
import { joinPath } from "../schemas/Paths.ts"
import { PLAN_ENV } from "../wrapper/Plan.ts"

/** The options the wrapper writes into a planned entry: the planned run is taken with these alone. */
const PLANNED_OPTIONS = new Set(["--config-dir", "--cli-protocol", "--unprivileged-env"])

/** True when `args` are only options the wrapper writes, each with its value (no --dry-run, --log, --cli, ...). */
const plannedArgs = (args: ReadonlyArray<string>): boolean =>
  args.length % 2 === 0 && args.every((a, i) => i % 2 === 1 || PLANNED_OPTIONS.has(a))

/**
 * The hook program. Registered by the wrapper with a plan (wrapper/Plan.ts) in its env, it runs the planned
 * step (wrapper/PlannedHook.ts: the pid, the bundle, the destinations, then the exec) without loading
 * Effect; otherwise, or where anything is not as planned, the whole pipeline (bin/hookPipeline.ts), given
 * the state the planned step already read. The CLI never sees the plan, nor loader variables.
 */
const main = (loadAdmin: () => Promise<typeof import("./admin.ts")>): number | Promise<number> => {
  const env = process.env
  const cliEnv = withoutLoaderVariables(env)
  delete cliEnv[PLAN_ENV]
  const plan = env[PLAN_ENV]
  let state: BoundedRead | undefined
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
  }
  const { pipeline } = require("./hookPipeline.ts") as typeof import("./hookPipeline.ts")
  return pipeline(loadAdmin, cliEnv, state)
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
