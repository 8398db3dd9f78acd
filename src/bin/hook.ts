import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { defectText, errorLine } from "../ErrorLine.ts"
import * as Hook from "../Hook.ts"
import { CLI_NAME, DEFAULT_CONFIG_DIR, HookConfig, STDIN_PATH } from "../HookConfig.ts"
import { Exec } from "../platform/Exec.ts"
import * as NodeExec from "../platform/NodeExec.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { failureMessage } from "../platform/NodePlatform.ts"
import { selfDir } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { parseInvocation, USAGE } from "../schemas/Invocation.ts"
import { withoutLoaderVariables } from "../schemas/LoaderEnv.ts"
import { joinPath, resolveFrom } from "../schemas/Paths.ts"
import * as RunLog from "../services/RunLog.ts"

declare const HOOK_VERSION: string

/**
 * The hook program: the only code of it that touches `process` (argv, cwd, uid, env, stdout, the exit
 * status). It runs `Hook.run`, the pipeline the tests cover, on the Node-facing layers; `--dry-run` is the
 * same run with an Exec that prints the argv instead of becoming the CLI.
 */
const main = (loadAdmin: () => Promise<typeof import("./admin.ts")>): number | Promise<number> => {
  const fs = nodeFs()
  const write = (fd: number, text: string) => void fs.writeSync(fd, text)
  const invocation = parseInvocation(process.argv.slice(2))
  if (Result.isFailure(invocation)) {
    write(2, errorLine(invocation.failure))
    return 1
  }
  const inv = invocation.success
  if (inv.command === "help") {
    write(1, `${USAGE}\n`)
    return 0
  }
  if (inv.command === "version") {
    write(1, `ascend-docker-hook ${HOOK_VERSION}\n`)
    return 0
  }
  if (inv.command !== "hook") {
    const { command, rest = [] } = inv
    return loadAdmin().then((admin) => admin.run(command, rest))
  }
  const cwd = process.cwd()
  const settings = HookConfig.layer({
    configDir: resolveFrom(cwd, inv.configDir ?? DEFAULT_CONFIG_DIR),
    cliPath: inv.cliPath === undefined ? joinPath(selfDir(), CLI_NAME) : resolveFrom(cwd, inv.cliPath),
    statePath: inv.statePath === undefined ? STDIN_PATH : resolveFrom(cwd, inv.statePath),
    uid: process.getuid?.() ?? 0,
    protocol: inv.cliProtocol ?? "2021",
    unprivilegedEnv: inv.unprivilegedEnv ?? "accept"
  })
  let printed = false
  const exec = inv.dryRun
    ? Layer.succeed(Exec, {
        replace: (_file, argv) =>
          Effect.sync(() => {
            write(1, `${JSON.stringify(argv)}\n`)
            printed = true
            return 0
          })
      })
    : NodeExec.layer(withoutLoaderVariables(process.env))
  const log =
    inv.logFile === undefined
      ? Layer.empty
      : RunLog.layerFile(resolveFrom(cwd, inv.logFile), (e) =>
          inv.dryRun && e.outcome === "exec" ? { ...e, outcome: "dry-run" } : e
        )
  const layer = Hook.layer.pipe(Layer.provideMerge(Layer.mergeAll(SyncFileSystem.layer, exec, settings, log)))
  const exit = Effect.runSyncExit(Hook.run.pipe(Effect.provide(layer)))
  if (Exit.isFailure(exit)) {
    write(2, errorLine(failureMessage(exit.cause)))
    return 1
  }
  if (inv.dryRun && !printed) write(1, "null\n")
  return exit.value
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
