import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { HookConfig } from "./HookConfig.ts"
import type { ExecError } from "./platform/Exec.ts"
import { type AscendRequest, EnvError, VISIBLE_DEVICES, VNPU_SPECS } from "./schemas/AscendEnv.ts"
import { conflictingDuplicates, gateRequest, ignoresEnv, lookupEnv } from "./schemas/ContainerEnv.ts"
import type { SpecError } from "./schemas/ContainerSpec.ts"
import type { ContainerState, StateError } from "./schemas/ContainerState.ts"
import { WRAPPER_MARK_KEY, WRAPPER_MARK_VALUE } from "./schemas/EnvLookup.ts"
import type { MountError } from "./schemas/MountList.ts"
import { CliLauncher, type LaunchError } from "./services/CliLauncher.ts"
import { EnvDecoder } from "./services/EnvDecoder.ts"
import { FileTrust, type TrustError } from "./services/FileTrust.ts"
import { MountResolver, type ResolvedMounts } from "./services/MountResolver.ts"
import type { DestinationError } from "./services/MountSafety.ts"
import { RunLog } from "./services/RunLog.ts"
import { SpecParser } from "./services/SpecParser.ts"
import { StateReader } from "./services/StateReader.ts"

/** The mount list the UB fabric's driver files are in, where the host has one. */
export const UB_DRIVER_LIST = "ub_driver"

/** Every way the hook can refuse; each has a one-line message naming the stage, value and place. */
export type HookError = StateError | SpecError | EnvError | MountError | DestinationError | TrustError | LaunchError

/** The five stages, which is what the pipeline needs. */
export type Stages = StateReader | SpecParser | EnvDecoder | MountResolver | CliLauncher | HookConfig

/** What the stages after the state decided for one container: its request and, for an NPU container, the argv. */
export interface Planned {
  readonly rootfs: string
  /** None: the container asks for no NPU. */
  readonly request: Option.Option<AscendRequest>
  readonly mounts: ResolvedMounts
  /** The CLI's argv; None when there is nothing to do. */
  readonly argv: Option.Option<ReadonlyArray<string>>
  /** The container asked by env but is unprivileged, and the policy is `ignore`. */
  readonly ignored: boolean
  /** ASCEND_ variables its env sets more than once with different values (the first is used). */
  readonly duplicates: ReadonlyArray<string>
}

/**
 * A container that asks for a virtual NPU (ASCEND_VNPU_SPECS) has one only if the wrapper made it at create,
 * which also rewrote the request to the vNPU's id with the VIRTUAL option. Without the wrapper (the hook
 * alone, as hooks.d runs it), the request still names the physical NPU the vNPU was to be cut from: it is
 * refused, never given the whole NPU in the slice's place. VIRTUAL set by the container itself names a vNPU
 * that exists already, as upstream reads it. A container the wrapper created (its mark) had the vNPU ask
 * judged there (made, refused, or ignored under the privilege gate while a CDI annotation's request was
 * served): the hook follows that. The mark is no boundary: a container that forges it gets the physical NPU
 * it names, which it could ask for without ASCEND_VNPU_SPECS; the check keeps an honest ask from a silent
 * wrong answer.
 */
export const vnpuMadeFirst = (env: ReadonlyArray<string>, request: AscendRequest): Result.Result<void, EnvError> => {
  const specs = lookupEnv(env, VNPU_SPECS)
  if (specs === undefined || request.options.includes("VIRTUAL")) return Result.void
  if (lookupEnv(env, WRAPPER_MARK_KEY) === WRAPPER_MARK_VALUE) return Result.void
  return Result.fail(
    new EnvError({
      variable: VNPU_SPECS,
      reason: "NeedsWrapper",
      item: specs,
      detail:
        "asks for a virtual NPU, which only the runtime wrapper (ascend-docker-runtime) makes, at create; this container was not created through it, and is not given the whole NPU instead"
    })
  )
}

/** Stage 1: the container state, from stdin or --state. */
export const readState: Effect.Effect<ContainerState, StateError, StateReader> = Effect.gen(function* () {
  return yield* (yield* StateReader).read
})

/** Stages 2-5 for a known state, without the exec: nothing is run and nothing mounted. */
export const planFor = (state: ContainerState): Effect.Effect<Planned, HookError, Stages> =>
  Effect.gen(function* () {
    const config = yield* (yield* SpecParser).parse(state.bundle)
    const { unprivilegedEnv = "accept" } = yield* HookConfig
    const duplicates = conflictingDuplicates(config.env).map((d) => d.key)
    const visible = lookupEnv(config.env, VISIBLE_DEVICES)
    const gated = ignoresEnv(config.privileged, unprivilegedEnv, visible)
      ? { request: Option.none<AscendRequest>(), ignored: true }
      : yield* Effect.fromResult(
          gateRequest(yield* (yield* EnvDecoder).decode(config.env), config.privileged, unprivilegedEnv, visible ?? "")
        )
    const decoded = gated.request
    if (Option.isNone(decoded)) {
      return {
        rootfs: config.rootfs,
        request: decoded,
        mounts: { files: [], dirs: [] },
        argv: Option.none(),
        ignored: gated.ignored,
        duplicates
      }
    }
    yield* Effect.fromResult(vnpuMadeFirst(config.env, decoded.value))
    const { request, mounts, argv } = yield* launchFor(config.rootfs, decoded.value, state.pid, {
      checkDestinations: true
    })
    return {
      rootfs: config.rootfs,
      request: Option.some(request),
      mounts,
      argv: Option.some(argv),
      ignored: false,
      duplicates
    }
  }).pipe(Effect.withSpan("Hook.planFor"))

/**
 * Stages 4-5 for a decoded request: the UB fabric's list where it applies, the mount lists read and
 * trust-checked, the destinations checked against the rootfs (the hook at prestart; the wrapper's plan at
 * create leaves them to the planned hook, which checks them against the rootfs as it is then), the CLI
 * trust-checked and its argv for `pid`.
 */
export const launchFor = (
  rootfs: string,
  decoded: AscendRequest,
  pid: number,
  options: { readonly checkDestinations: boolean }
): Effect.Effect<
  { readonly request: AscendRequest; readonly mounts: ResolvedMounts; readonly argv: ReadonlyArray<string> },
  HookError,
  MountResolver | CliLauncher | HookConfig
> =>
  Effect.gen(function* () {
    const { protocol = "2021" } = yield* HookConfig
    const resolver = yield* MountResolver
    // 2023: on hosts with the UB fabric (an ub_driver list in the config dir) its driver list comes too,
    // and the CLI must then accept links, unless the container set DISABLE_UB_MOUNT=True (upstream's rule).
    const ub = protocol === "2023" && !decoded.disableUbMount && (yield* resolver.hasList(UB_DRIVER_LIST))
    const request: AscendRequest = ub
      ? {
          ...decoded,
          allowLink: true,
          mountLists: decoded.mountLists.includes(UB_DRIVER_LIST)
            ? decoded.mountLists
            : [...decoded.mountLists, UB_DRIVER_LIST]
        }
      : decoded
    const mounts = yield* resolver.resolve(request.mountLists, {
      allowLinks: protocol === "2021" || request.allowLink,
      linkedParents: protocol === "2021"
    })
    if (options.checkDestinations) yield* resolver.checkDestinations(rootfs, [...mounts.files, ...mounts.dirs])
    const argv = yield* (yield* CliLauncher).prepare({
      devices: request.devices,
      allowLink: request.allowLink,
      pid,
      rootfs,
      mounts,
      options: request.options
    })
    return { request, mounts, argv }
  })

/**
 * Stages 1-5 without the exec: the CLI's argv, or None for a container that asks for no NPU.
 * Nothing is run and nothing mounted; `--dry-run` prints this.
 */
export const plan: Effect.Effect<Option.Option<ReadonlyArray<string>>, HookError, Stages> = Effect.flatMap(
  readState,
  (state) => Effect.map(planFor(state), (planned) => planned.argv)
).pipe(Effect.withSpan("Hook.plan"))

/**
 * The hook, as it ships: plan, report the run to RunLog (a tap), then become the CLI. Succeeds with the
 * exit status to end with (0 when there is nothing to do; the CLI's own status where the CLI could only
 * be spawned, not exec'd). A refusal is reported too, with the container id once it is known.
 */
export const run: Effect.Effect<number, HookError | ExecError, Stages> = Effect.gen(function* () {
  const log = yield* RunLog
  const refused = (id: string | undefined) => (e: HookError) =>
    log.record({ id, outcome: `error:${e._tag}:${e.reason}` })
  const state = yield* readState.pipe(Effect.tapError(refused(undefined)))
  const planned = yield* planFor(state).pipe(Effect.tapError(refused(state.id)))
  const request = Option.getOrUndefined(planned.request)
  yield* log.record({
    id: state.id,
    devices: request?.devices,
    options: request?.options,
    mounts: planned.mounts.files.length + planned.mounts.dirs.length,
    duplicates: planned.duplicates,
    outcome: planned.ignored ? "ignored:unprivileged-env" : Option.isNone(planned.argv) ? "not-npu" : "exec"
  })
  if (Option.isNone(planned.argv)) return 0
  return yield* (yield* CliLauncher).launch(planned.argv.value)
}).pipe(Effect.withSpan("Hook.run"))

/** All five stages and FileTrust, with the given StateReader, needing only FileSystem, Exec, HookConfig. */
export const layerWith = <E, R>(
  stateReader: Layer.Layer<StateReader, E, R>,
  specParser: Layer.Layer<SpecParser, never, FileSystem.FileSystem> = SpecParser.layer
) =>
  Layer.mergeAll(MountResolver.layer, CliLauncher.layer).pipe(
    Layer.provide(FileTrust.layer),
    Layer.merge(Layer.mergeAll(stateReader, specParser, EnvDecoder.layer))
  )

/** All five stages and FileTrust, needing only the platform: FileSystem, Exec, HookConfig. */
export const layer = layerWith(StateReader.layer)
