import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { errorLine } from "../ErrorLine.ts"
import { HookConfig } from "../HookConfig.ts"
import { Limits } from "../Limits.ts"
import { openDcmi } from "../platform/DcmiFfi.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { failureMessage } from "../platform/NodePlatform.ts"
import { isBinary } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { Driver, unavailableDriver, usableVdevId } from "../services/Driver.ts"
import { FileTrust } from "../services/FileTrust.ts"
import { DESTROY_PROGRAM, destroyLeftover, type VnpuSettings } from "../wrapper/Vnpu.ts"
import { containerIdOf, DEFAULT_STATE_DIR } from "../wrapper/VnpuRecord.ts"

/** The ids the destroy program takes (dcmi's card and device bounds; vdevIds as the wrapper makes them). */
const ID = /^(0|[1-9][0-9]{0,3})$/

/** The driver as this process can have it: the library through bun:ffi in the binary; on Node, a refusal. */
export const driverLayer = () =>
  isBinary()
    ? Driver.layer({ arch: process.arch === "arm64" ? "arm64" : "x64", open: openDcmi })
    : unavailableDriver(
        "a virtual NPU (ASCEND_VNPU_SPECS) needs the driver library, which only the ascend-docker-hook binary can load (this is the Node bundle)"
      )

/** The platform under a driver: node:fs, and the trust rules with our uid. */
const platform = () =>
  Layer.provideMerge(
    FileTrust.layer,
    Layer.mergeAll(
      SyncFileSystem.layer,
      HookConfig.layer({ configDir: "/", cliPath: "/", statePath: "/dev/null", uid: process.getuid?.() ?? 0 })
    )
  )

/** The wrapper's vNPU settings, from its own env (the daemon's) and runc's command line. */
export const vnpuSettings = (env: NodeJS.ProcessEnv, args: ReadonlyArray<string>): VnpuSettings => ({
  driver: driverLayer(),
  destroyProgram: isBinary() ? nodeFs().realpathSync(process.execPath) : "/nonexistent/ascend-docker-destroy",
  stateDir: env.ASCEND_DOCKER_RUNTIME_STATE_DIR || DEFAULT_STATE_DIR,
  containerId: containerIdOf(args)
})

/**
 * On runc `delete`: a vNPU whose record a killed wrapper left (made, but runc never answered) is destroyed
 * before runc deletes the container (the caller has seen the record exists). Undefined, or the one-line reason it could not be (the delete goes on).
 */
export const destroyLeftoverOnDelete = (env: NodeJS.ProcessEnv, args: ReadonlyArray<string>): string | undefined => {
  const settings = vnpuSettings(env, args)
  if (settings.containerId === undefined) return undefined
  const program = destroyLeftover(settings.stateDir, settings.containerId)
  const layer = Layer.provideMerge(settings.driver, platform())
  const exit = Effect.runSyncExit(program.pipe(Effect.provide(layer)))
  return Exit.isSuccess(exit) ? undefined : failureMessage(exit.cause)
}

/** Checks `card device vdevId`: three decimal ids, bounded; the reason when they are not. */
const parseIds = (args: ReadonlyArray<string>): ReadonlyArray<number> | string => {
  if (args.length !== 3) return `takes exactly 3 arguments (card device vdevId), not ${args.length}`
  const bad = args.find((a) => !ID.test(a))
  if (bad !== undefined) return `argument ${JSON.stringify(bad.slice(0, 32))} is not a decimal id (0-9999)`
  const [card, device, vdevId] = args.map(Number) as [number, number, number]
  if (card > 63) return `card ${card} is out of range 0-63`
  if (device > 3) return `device ${device} is out of range 0-3`
  if (!usableVdevId(vdevId)) return `vNPU id ${vdevId} is out of range 0-${Limits.maxDeviceId}`
  return [card, device, vdevId]
}

/**
 * `ascend-docker-destroy <card> <device> <vdevId>`: the poststop hook the wrapper gives a vNPU container,
 * run by the runtime when it deletes the container. Destroys that vNPU through the driver. Reads no env
 * (the wrapper gives the hook an explicit one, without the daemon's loader variables) and no stdin.
 */
export const run = (): never => {
  const ids = parseIds(process.argv.slice(2))
  let status = 0
  if (typeof ids === "string") {
    nodeFs().writeSync(2, errorLine(ids, DESTROY_PROGRAM))
    status = 1
  } else {
    const [card, device, vdevId] = ids as [number, number, number]
    const program = Driver.use((d) => d.destroy(card, device, vdevId))
    const exit = Effect.runSyncExit(program.pipe(Effect.provide(Layer.provideMerge(driverLayer(), platform()))))
    if (!Exit.isSuccess(exit)) {
      nodeFs().writeSync(2, errorLine(failureMessage(exit.cause), DESTROY_PROGRAM))
      status = 1
    }
  }
  process.exit(status)
}
