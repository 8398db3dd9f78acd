import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { errorLine } from "./ErrorLine.ts"
import * as Hook from "./Hook.ts"
import { CLI_NAME, DEFAULT_CONFIG_DIR, HookConfig, STDIN_PATH } from "./HookConfig.ts"
import { Exec } from "./platform/Exec.ts"
import { selfDir } from "./platform/Self.ts"
import * as SyncFileSystem from "./platform/SyncFileSystem.ts"
import { parseInvocation, USAGE } from "./schemas/Invocation.ts"

declare const HOOK_VERSION: string

/** With bin.ts, the only file that touches `process`: argv, cwd, uid, fds, exit status. */
const fs = process.getBuiltinModule("node:fs")
const path = process.getBuiltinModule("node:path")

const write = (fd: number, text: string) => {
  fs.writeSync(fd, text)
}

/** One line, at most Limits.errorLineBytes, on stderr. */
const fail = (message: string): number => {
  write(2, errorLine(message))
  return 1
}

const main = (): number => {
  const invocation = parseInvocation(process.argv.slice(2))
  if (Result.isFailure(invocation)) return fail(invocation.failure)
  const inv = invocation.success
  if (inv.command === "help") {
    write(1, `${USAGE}\n`)
    return 0
  }
  if (inv.command === "version") {
    write(1, `ascend-docker-hook ${HOOK_VERSION}\n`)
    return 0
  }
  const settings = {
    configDir: path.resolve(inv.configDir ?? DEFAULT_CONFIG_DIR),
    cliPath: path.resolve(inv.cliPath ?? path.join(selfDir(), CLI_NAME)),
    statePath: inv.statePath === undefined ? STDIN_PATH : path.resolve(inv.statePath),
    uid: process.getuid?.() ?? 0
  }
  const program: Effect.Effect<number, Hook.HookError | Effect.Error<typeof Hook.run>, Hook.Stages> = inv.dryRun
    ? Effect.map(Hook.plan, (argv) => {
        write(1, `${JSON.stringify(Option.getOrNull(argv))}\n`)
        return 0
      })
    : Hook.run
  const platform = Layer.mergeAll(SyncFileSystem.layer, Exec.layerNode(), HookConfig.layer(settings))
  const exit = Effect.runSyncExit(program.pipe(Effect.provide(Hook.layer.pipe(Layer.provide(platform)))))
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.squash(exit.cause)
  const known = Cause.hasFails(exit.cause)
  const message = error instanceof Error ? error.message : String(error)
  return fail(known ? message : `internal error: ${message}`)
}

/** Runs the hook for this process and sets its exit status; nothing escapes as a throw. */
export const runMain = (): void => {
  try {
    process.exitCode = main()
  } catch (e) {
    process.exitCode = fail(`internal error: ${e instanceof Error ? e.message : String(e)}`)
  }
}
