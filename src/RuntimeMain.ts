import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { errorLine } from "./ErrorLine.ts"
import { Exec } from "./platform/Exec.ts"
import * as NodePlatform from "./platform/NodePlatform.ts"
import { selfDir } from "./platform/Self.ts"
import * as SyncFileSystem from "./platform/SyncFileSystem.ts"
import { parseRuncArgs } from "./schemas/RuncArgs.ts"
import { HookInjector, WrapperConfig } from "./services/HookInjector.ts"

/**
 * `ascend-docker-runtime`: an OCI runtime for Docker and containerd that is runc plus the hook. Invoked
 * with runc's command line; on `create` and `run` it adds the hook to the bundle's config.json when the
 * container asks for NPUs, then becomes runc with the arguments unchanged. Its settings come from its
 * own environment (the daemon's, set by the admin), never from a container:
 *   ASCEND_DOCKER_RUNTIME_RUNC       the real runc (default: `runc` on PATH, then the usual sbin/bin dirs)
 *   ASCEND_DOCKER_RUNTIME_HOOK       the hook (default: ascend-docker-hook next to this program)
 *   ASCEND_DOCKER_RUNTIME_HOOK_ARGS  extra arguments for the hook, separated by spaces
 */
const PROGRAM = "ascend-docker-runtime"
const fs = process.getBuiltinModule("node:fs")
const path = process.getBuiltinModule("node:path")

/** The env the hook gets: explicit, so the runtime passes exactly this and nothing of its own. */
const HOOK_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const isExecutable = (p: string) => {
  try {
    fs.accessSync(p, fs.constants.X_OK)
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

/** The real runc, found as runc's callers find it (PATH), skipping this program if it is named runc. */
const findRunc = (): string | undefined => {
  const configured = process.env.ASCEND_DOCKER_RUNTIME_RUNC
  if (configured !== undefined && configured !== "") return configured
  const self = fs.realpathSync(process.execPath)
  for (const dir of `${process.env.PATH ?? ""}:${DEFAULT_PATH}`.split(":")) {
    if (!dir.startsWith("/")) continue
    const candidate = path.join(dir, "runc")
    if (isExecutable(candidate) && fs.realpathSync(candidate) !== self) return candidate
  }
  return undefined
}

const main = (): number => {
  const args = process.argv.slice(2)
  const runc = findRunc()
  if (runc === undefined) {
    fs.writeSync(2, errorLine("cannot find runc (set ASCEND_DOCKER_RUNTIME_RUNC)", PROGRAM))
    return 1
  }
  const hookPath = process.env.ASCEND_DOCKER_RUNTIME_HOOK || path.join(selfDir(), "ascend-docker-hook")
  const hookArgs = (process.env.ASCEND_DOCKER_RUNTIME_HOOK_ARGS ?? "").split(/\s+/).filter((a) => a !== "")
  const command = parseRuncArgs(args)
  const program = Effect.gen(function* () {
    if (command.command === "create" || command.command === "run") {
      yield* (yield* HookInjector).inject(path.resolve(command.bundle ?? "."))
    }
    return yield* (yield* Exec).replace(runc, [runc, ...args])
  })
  const config = Layer.succeed(WrapperConfig, {
    hook: { path: hookPath, args: [path.basename(hookPath), ...hookArgs], env: HOOK_ENV }
  })
  const layer = HookInjector.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(SyncFileSystem.layer, config, Exec.layerNode()))
  )
  const exit = Effect.runSyncExit(program.pipe(Effect.provide(layer)))
  if (Exit.isSuccess(exit)) return exit.value
  fs.writeSync(2, errorLine(NodePlatform.failureMessage(exit.cause), PROGRAM))
  return 1
}

/** Runs the wrapper for this process and sets its exit status. */
export const runRuntime = (): void => {
  try {
    process.exitCode = main()
  } catch (e) {
    fs.writeSync(2, errorLine(`internal error: ${e instanceof Error ? e.message : String(e)}`, PROGRAM))
    process.exitCode = 1
  }
}
