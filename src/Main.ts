import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { errorLine } from "./ErrorLine.ts"
import * as Hook from "./Hook.ts"
import { CLI_NAME, DEFAULT_CONFIG_DIR, STDIN_PATH } from "./HookConfig.ts"
import * as NodePlatform from "./platform/NodePlatform.ts"
import { appendRunLog, formatRunRecord, type RunRecord } from "./platform/RunLog.ts"
import { selfDir } from "./platform/Self.ts"
import { parseInvocation, USAGE } from "./schemas/Invocation.ts"
import { CliLauncher } from "./services/CliLauncher.ts"

declare const HOOK_VERSION: string
/** Set by the build: true for the plain bundle, whose admin commands live in a file of their own. */
declare const ADMIN_BESIDE: boolean

/** The admin commands, loaded only when one is run (see src/admin.ts). */
const loadAdmin = (): typeof import("./admin.ts") =>
  ADMIN_BESIDE ? require(path.join(__dirname, "ascend-docker-hook-admin.cjs")) : require("./admin.ts")

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
  if (inv.command !== "hook") {
    const admin = loadAdmin()
    const rest = inv.rest ?? []
    if (inv.command === "explain") return admin.explain(rest)
    if (inv.command === "cdi") return admin.runCdi(rest)
    if (inv.command === "doctor") return admin.runDoctor(rest)
    return admin.runInstaller(inv.command, rest)
  }
  const settings = {
    configDir: path.resolve(inv.configDir ?? DEFAULT_CONFIG_DIR),
    cliPath: path.resolve(inv.cliPath ?? path.join(selfDir(), CLI_NAME)),
    statePath: inv.statePath === undefined ? STDIN_PATH : path.resolve(inv.statePath),
    uid: process.getuid?.() ?? 0
  }
  const logFile = inv.logFile === undefined ? undefined : path.resolve(inv.logFile)
  const log = (record: Omit<RunRecord, "durationMs">) => {
    if (logFile !== undefined)
      appendRunLog(logFile, formatRunRecord({ ...record, durationMs: performance.now() }, new Date()))
  }
  const failed = (id: string | undefined) => (e: Hook.HookError) =>
    Effect.sync(() => log({ id, outcome: `error:${e._tag}:${e.reason}` }))
  const program = Effect.gen(function* () {
    const state = yield* Hook.readState.pipe(Effect.tapError(failed(undefined)))
    const planned = yield* Hook.planFor(state).pipe(Effect.tapError(failed(state.id)))
    const request = Option.getOrUndefined(planned.request)
    log({
      id: state.id,
      devices: request?.devices,
      options: request?.options,
      mounts: planned.mounts.files.length + planned.mounts.dirs.length,
      outcome: Option.isNone(planned.argv) ? "not-npu" : inv.dryRun ? "dry-run" : "exec"
    })
    if (inv.dryRun) {
      write(1, `${JSON.stringify(Option.getOrNull(planned.argv))}\n`)
      return 0
    }
    if (Option.isNone(planned.argv)) return 0
    return yield* (yield* CliLauncher).launch(planned.argv.value)
  })
  const exit = Effect.runSyncExit(
    program.pipe(Effect.provide(Hook.layer.pipe(Layer.provide(NodePlatform.layer(settings)))))
  )
  return Exit.isSuccess(exit) ? exit.value : fail(NodePlatform.failureMessage(exit.cause))
}

/** Runs the hook for this process and sets its exit status; nothing escapes as a throw. */
export const runMain = (): void => {
  try {
    process.exitCode = main()
  } catch (e) {
    process.exitCode = fail(`internal error: ${e instanceof Error ? e.message : String(e)}`)
  }
}
