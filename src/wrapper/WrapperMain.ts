import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { launchFor } from "../Hook.ts"
import { type CliProtocol, HOOK_ENV, HookConfig } from "../HookConfig.ts"
import { Exec } from "../platform/Exec.ts"
import { failureMessage } from "../platform/NodePlatform.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { type AscendRequest, type UnprivilegedEnvPolicy, VISIBLE_DEVICES } from "../schemas/AscendEnv.ts"
import { CLI_SCAN_BYTES, cliProtocolOf } from "../schemas/CliProtocol.ts"
import type { ContainerConfig } from "../schemas/ContainerConfigShape.ts"
import { asksForNothing, gateRequest, ignoresEnv, lookupEnv } from "../schemas/ContainerEnv.ts"
import { CliLauncher } from "../services/CliLauncher.ts"
import { DeviceError, DeviceNodes } from "../services/DeviceNodes.ts"
import { Driver, unavailableDriver } from "../services/Driver.ts"
import { EnvDecoder } from "../services/EnvDecoder.ts"
import { FileTrust } from "../services/FileTrust.ts"
import { MountResolver } from "../services/MountResolver.ts"
import { SpecParser } from "../services/SpecParser.ts"
import { BundleEditor } from "./BundleEditor.ts"
import { type ContainerEdits, DRIVER_LIB_DIRS, type HookEntry, npuEdits } from "./ContainerEdits.ts"
import { annotatedDevices } from "./NoRequest.ts"
import { encodePlan, PLAN_ENV } from "./Plan.ts"
import {
  chipAwareShared,
  destroyHook,
  type PreparedVnpu,
  settleVnpu,
  type Vnpu,
  type VnpuSettings,
  vnpuEdits,
  vnpuRequest
} from "./Vnpu.ts"

export { annotatedDevices }

/** How the wrapper gives a container its NPUs. */
export type WrapperMode = "hook" | "cdi"

/** The wrapper's settings, from its own env (the daemon's, set by the admin), never from a container. */
export interface WrapperSettings {
  readonly bundle: string
  /** The bundle's config as the first look (wrapper/NoRequest.ts) decoded it; none: SpecParser reads it. */
  readonly decoded?: ContainerConfig | undefined
  /** `hook` (default): add the prestart hook (and, for the 2023 CLI, the device nodes); `cdi`: apply the CDI edits, no hook. */
  readonly mode: WrapperMode
  /** Where the host's device nodes are (default /dev). */
  readonly devRoot: string
  /** The mount lists' dir; passed on to the hook as --config-dir when `configDirGiven`. */
  readonly configDir: string
  readonly configDirGiven: boolean
  /** Set by ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL; else detected from the CLI next to the hook. */
  readonly protocol: CliProtocol | undefined
  /** The hook to add, and the CLI next to it (whose option table tells the protocol). */
  readonly hook: { readonly path: string; readonly args: ReadonlyArray<string> }
  readonly cliPath: string
  readonly uid: number
  /** ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: what an env request from an unprivileged container gets. */
  readonly unprivilegedEnv: UnprivilegedEnvPolicy
  /** What a vNPU request needs (wrapper/Vnpu.ts); none: such a request is refused. */
  readonly vnpu?: VnpuSettings | undefined
}

/**
 * The protocol of the CLI at `cliPath`: 2023 when its option table names `allow-link` (every CLI shipped
 * since March 2023), else 2021 (the seed's). A missing or unreadable CLI counts as 2021: the hook then fails
 * with its own clear line.
 */
export const detectProtocol = (fs: FileSystem.FileSystem, cliPath: string): Effect.Effect<CliProtocol> =>
  fs.stat(cliPath).pipe(
    Effect.flatMap((st) =>
      st.type === "File" && Number(st.size) <= CLI_SCAN_BYTES ? fs.readFile(cliPath) : Effect.succeed(new Uint8Array())
    ),
    Effect.map(cliProtocolOf),
    Effect.orElseSucceed((): CliProtocol => "2021")
  )

/** The hook's args as the wrapper registers it: its own, then the config dir and protocol it must use. */
const hookArgs = (settings: WrapperSettings, protocol: CliProtocol): ReadonlyArray<string> => [
  ...settings.hook.args,
  ...(settings.configDirGiven ? ["--config-dir", settings.configDir] : []),
  ...(protocol === "2023" ? ["--cli-protocol", "2023"] : []),
  // The hook must judge the container as the wrapper did.
  ...(settings.unprivilegedEnv === "accept" ? [] : ["--unprivileged-env", settings.unprivilegedEnv])
]

/** What a container gets: its edits, the hook, and the vNPU made for it with the driver that made it. */
interface Prepared {
  readonly edits: ContainerEdits | undefined
  readonly hook: HookEntry | undefined
  readonly vnpu?: Vnpu
  readonly driver?: Driver["Service"]
}

/** The DRIVER_LIB_DIRS the host has. */
const driverLibDirs = (fs: FileSystem.FileSystem): Effect.Effect<ReadonlyArray<string>> =>
  Effect.filter(DRIVER_LIB_DIRS, (dir) => fs.exists(dir).pipe(Effect.orElseSucceed(() => false)))

/**
 * An annotated request with `all` (the device `cdi generate` writes next to the numbered ones) as the ids
 * of the NPU nodes the host has; refused where it has none, as an engine refuses a CDI device it cannot
 * resolve.
 */
const withAllExpanded = (ids: string | undefined, devRoot: string) => {
  if (ids === undefined || !ids.split(",").includes("all")) return Effect.succeed(ids)
  return DeviceNodes.use((nodes) => nodes.present).pipe(
    Effect.provide(DeviceNodes.layer(devRoot)),
    Effect.flatMap((present) =>
      present.length === 0
        ? Effect.fail(
            new DeviceError({
              reason: "Missing",
              path: devRoot,
              detail: "has no davinci<N> node, and a CDI annotation asks for all NPUs (ascend.com/npu=all)"
            })
          )
        : Effect.succeed(
            [...new Set(ids.split(",").flatMap((id) => (id === "all" ? present.map(String) : [id])))].join(",")
          )
    )
  )
}

/**
 * The hook entry for an NPU container in hook mode, with the plan (wrapper/Plan.ts) in its env: the hook's
 * stages 4-5 run here, once (mount lists read and trust-checked, the CLI trust-checked, its argv), and the
 * hook at prestart only reads the pid, checks the destinations against the rootfs as it is then, and execs.
 * The plain entry, whose hook runs its whole pipeline at prestart as before, where the admin gave the hook
 * arguments of its own (a log, a dry run: the planned hook keeps to the plan) or a stage refuses: the hook
 * then refuses at prestart, in the words and the place it always did.
 */
const planned = (
  settings: WrapperSettings,
  rootfs: string,
  request: AscendRequest,
  entry: HookEntry
): Effect.Effect<HookEntry, never, MountResolver | CliLauncher | HookConfig> =>
  Effect.gen(function* () {
    if (settings.hook.args.length > 1) return entry
    const launch = yield* Effect.option(launchFor(rootfs, request, 0, { checkDestinations: false }))
    if (Option.isNone(launch)) return entry
    const { mounts, argv } = launch.value
    const plan = encodePlan({ bundle: settings.bundle, rootfs, mounts: [...mounts.files, ...mounts.dirs], argv })
    return plan === undefined ? entry : { ...entry, env: [...HOOK_ENV, `${PLAN_ENV}=${plan}`] }
  })

/**
 * The wrapper's work on `create`/`run`, loaded only for those. Decides "NPU or not" with SpecParser and
 * EnvDecoder (ASCEND_VISIBLE_DEVICES unset, blank or `void` is no NPU: the predicate EnvDecoder itself
 * uses), then edits config.json: every container gets the mark ASCEND_DOCKER_RUNTIME=True; an NPU container
 * also the hook (hook mode), the device nodes (hook mode with the 2023 CLI, and cdi mode) and the driver
 * mounts and LD_LIBRARY_PATH (cdi mode, unless NODRV). Returns undefined when runc may go ahead, else the
 * one-line reason it must not (nothing written then).
 */
export const prepareBundle = (settings: WrapperSettings): string | PreparedVnpu | undefined => {
  const program = Effect.gen(function* () {
    const parsed = yield* SpecParser.use((p) => p.parse(settings.bundle))
    const editor = yield* BundleEditor
    // A request through CDI annotations (the kubelet's, a device plugin's: a pod cannot set them) is
    // honoured whatever the unprivileged-env setting; it goes first in the env, where the first wins.
    const annotated = yield* withAllExpanded(annotatedDevices(parsed.cdiDevices), settings.devRoot)
    // An engine that applies CDI specs itself (containerd 2, Docker 28) has already given an annotated request
    // its nodes, mounts and env, and still passes the annotation on: the container is done, a hook would do it
    // again. Only the device plugin's mark is added.
    if (annotated?.split(",").every((id) => parsed.devicePaths.includes(`/dev/davinci${id}`))) {
      yield* editor.edit(settings.bundle, { deviceNodes: [], mounts: [], env: [] }, { mark: true })
      return undefined
    }
    const trusted = annotated === undefined ? undefined : `${VISIBLE_DEVICES}=${annotated}`
    const config = trusted === undefined ? parsed : { ...parsed, env: [trusted, ...parsed.env], privileged: true }
    const policy = trusted === undefined ? settings.unprivilegedEnv : "accept"
    const hookSettings = { ...settings, unprivilegedEnv: policy }
    if (asksForNothing(lookupEnv(config.env, VISIBLE_DEVICES))) {
      yield* editor.edit(settings.bundle, { deviceNodes: [], mounts: [], env: [] }, { mark: true })
      return undefined
    }
    const fs = yield* FileSystem.FileSystem
    const protocol: CliProtocol =
      settings.mode === "cdi" ? "2021" : (settings.protocol ?? (yield* detectProtocol(fs, settings.cliPath)))
    const vnpuSettings = settings.vnpu
    const driverLayer = vnpuSettings?.driver ?? unavailableDriver("this wrapper cannot make a vNPU")
    const stages = Layer.mergeAll(
      EnvDecoder.layer,
      MountResolver.layer,
      CliLauncher.layer,
      DeviceNodes.layer(settings.devRoot),
      driverLayer
    ).pipe(
      // The plan's CLI is exec'd by the hook at prestart, never here.
      Layer.provide(Layer.succeed(Exec, { replace: (file) => Effect.die(`the wrapper never execs ${file}`) })),
      Layer.provideMerge(FileTrust.layer),
      Layer.provideMerge(
        HookConfig.layer({
          configDir: settings.configDir,
          cliPath: settings.cliPath,
          statePath: "/dev/null",
          uid: settings.uid,
          protocol
        })
      )
    )
    const prepared: Prepared = yield* Effect.gen(function* () {
      const visible = lookupEnv(config.env, VISIBLE_DEVICES)
      const gated = ignoresEnv(config.privileged, policy, visible)
        ? { request: Option.none<AscendRequest>() }
        : yield* Effect.fromResult(
            gateRequest(yield* EnvDecoder.use((d) => d.decode(config.env)), config.privileged, policy, visible ?? "")
          )
      const request = gated.request
      if (Option.isNone(request)) return { edits: undefined, hook: undefined }
      const { devices, options, mountLists } = request.value
      const nodes = yield* DeviceNodes
      const hookEntry = { path: settings.hook.path, args: hookArgs(hookSettings, protocol) }
      // A vNPU request is judged against the container's own privilege, whatever annotations it carries.
      const gate = { privileged: parsed.privileged, policy: settings.unprivilegedEnv }
      const asked = yield* Effect.fromResult(vnpuRequest(config.env, request.value, gate))
      if (Option.isSome(asked)) {
        // A vNPU's hook runs the whole pipeline at prestart (its device list is the vNPU's, in config.json).
        const context = { settings: settings.vnpu, mode: settings.mode, protocol, request: request.value }
        return yield* vnpuEdits(asked.value, { ...context, hook: hookEntry, libDirs: driverLibDirs(fs) })
      }
      const hook = () => planned(settings, config.rootfs, request.value, hookEntry)
      if (settings.mode === "hook" && protocol === "2021") return { edits: undefined, hook: yield* hook() }
      const npus = yield* nodes.npus(devices, { virtual: options.includes("VIRTUAL") })
      const shared = yield* chipAwareShared
      if (settings.mode === "hook") return { edits: npuEdits({ npus, shared }), hook: yield* hook() }
      const noDriver = options.includes("NODRV")
      const mounts = noDriver ? undefined : yield* MountResolver.use((m) => m.resolve(mountLists))
      return { edits: npuEdits({ npus, shared, mounts, libDirs: yield* driverLibDirs(fs) }), hook: undefined }
    }).pipe(Effect.provide(stages))
    const { edits, hook, vnpu, driver } = prepared
    const none: ContainerEdits = { deviceNodes: [], mounts: [], env: [] }
    const made = edits ?? none
    // The hook reads the request from config.json: the annotated one is written there, first.
    const withRequest = trusted === undefined ? made : { ...made, env: [trusted, ...made.env] }
    if (vnpu === undefined || driver === undefined || vnpuSettings === undefined) {
      yield* editor.edit(settings.bundle, withRequest, { hook, mark: true })
      return undefined
    }
    const poststop = destroyHook(vnpuSettings.destroyProgram, vnpu)
    const edit = editor.edit(settings.bundle, withRequest, { hook, mark: true, poststop })
    return yield* settleVnpu(vnpu, vnpuSettings, edit).pipe(Effect.provideService(Driver, driver))
  })
  const spec =
    settings.decoded === undefined ? SpecParser.layer : SpecParser.layerDecoded(settings.bundle, settings.decoded)
  const layer = Layer.mergeAll(spec, BundleEditor.layer).pipe(Layer.provideMerge(SyncFileSystem.layer))
  const exit = Effect.runSyncExit(program.pipe(Effect.provide(layer)))
  return Exit.isSuccess(exit) ? exit.value : failureMessage(exit.cause)
}
