import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { errorLine } from "../ErrorLine.ts"
import * as Hook from "../Hook.ts"
import { CLI_NAME, DEFAULT_CONFIG_DIR, HookConfig, STDIN_PATH } from "../HookConfig.ts"
import { Exec } from "../platform/Exec.ts"
import * as NodeExec from "../platform/NodeExec.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { failureMessage } from "../platform/NodePlatform.ts"
import type { BoundedRead } from "../platform/readBounded.ts"
import { selfDir } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import type { ContainerConfig } from "../schemas/ContainerConfigShape.ts"
import { parseInvocation, USAGE } from "../schemas/Invocation.ts"
import { joinPath, resolveFrom } from "../schemas/Paths.ts"
import * as RunLog from "../services/RunLog.ts"
import { SpecParser } from "../services/SpecParser.ts"
import { StateReader } from "../services/StateReader.ts"

declare const HOOK_VERSION: string

/**
 * The hook program's whole pipeline (bin/hook.ts decides when it runs): with bin/hook.ts the only code of
 * the hook that touches `process` (argv, cwd, uid, stdout). It runs `Hook.run`, the pipeline the tests
 * cover, on the Node-facing layers; `--dry-run` is the same run with an Exec that prints the argv instead
 * of becoming the CLI. `cliEnv` is the env the CLI gets; `state`, the state a first look or the planned hook
 * already read; `decoded`, the config of that state's bundle a first look already read and decoded.
 */
export const pipeline = (
  loadAdmin: () => Promise<typeof import("./admin.ts")>,
  cliEnv: Readonly<Record<string, string>>,
  state: BoundedRead | undefined,
  decoded?: { readonly bundle: string; readonly config: ContainerConfig }
): number | Promise<number> => {
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
    : NodeExec.layer(cliEnv)
  const log =
    inv.logFile === undefined
      ? Layer.empty
      : RunLog.layerFile(resolveFrom(cwd, inv.logFile), (e) =>
          inv.dryRun && e.outcome === "exec" ? { ...e, outcome: "dry-run" } : e
        )
  const stages =
    state === undefined
      ? Hook.layer
      : Hook.layerWith(
          StateReader.layerRead(state),
          decoded === undefined ? undefined : SpecParser.layerDecoded(decoded.bundle, decoded.config)
        )
  const layer = stages.pipe(Layer.provideMerge(Layer.mergeAll(SyncFileSystem.layer, exec, settings, log)))
  const exit = Effect.runSyncExit(Hook.run.pipe(Effect.provide(layer)))
  if (Exit.isFailure(exit)) {
    write(2, errorLine(failureMessage(exit.cause)))
    return 1
  }
  if (inv.dryRun && !printed) write(1, "null\n")
  return exit.value
}
