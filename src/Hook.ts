import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ExecError } from "./platform/Exec.ts"
import type { EnvError } from "./schemas/AscendEnv.ts"
import type { SpecError } from "./schemas/ContainerSpec.ts"
import type { StateError } from "./schemas/ContainerState.ts"
import type { MountError } from "./schemas/MountList.ts"
import { CliLauncher, type LaunchError } from "./services/CliLauncher.ts"
import { EnvDecoder } from "./services/EnvDecoder.ts"
import { FileTrust, type TrustError } from "./services/FileTrust.ts"
import { MountResolver } from "./services/MountResolver.ts"
import { SpecParser } from "./services/SpecParser.ts"
import { StateReader } from "./services/StateReader.ts"

/** Every way the hook can refuse; each has a one-line message naming the stage, value and place. */
export type HookError = StateError | SpecError | EnvError | MountError | TrustError | LaunchError

/** The five stages, which is what the pipeline needs. */
export type Stages = StateReader | SpecParser | EnvDecoder | MountResolver | CliLauncher

/**
 * Stages 1-5 without the exec: the CLI's argv, or None for a container that asks for no NPU.
 * Nothing is run and nothing mounted; `--dry-run` prints this.
 */
export const plan: Effect.Effect<Option.Option<ReadonlyArray<string>>, HookError, Stages> = Effect.gen(function* () {
  const state = yield* (yield* StateReader).read
  const config = yield* (yield* SpecParser).parse(state.bundle)
  const request = yield* (yield* EnvDecoder).decode(config.env)
  if (Option.isNone(request)) return Option.none()
  const mounts = yield* (yield* MountResolver).resolve(request.value.mountLists)
  const argv = yield* (yield* CliLauncher).prepare({
    devices: request.value.devices,
    pid: state.pid,
    rootfs: config.rootfs,
    mounts,
    options: request.value.options
  })
  return Option.some(argv)
}).pipe(Effect.withSpan("Hook.plan"))

/**
 * The hook: plan, then become the CLI. Succeeds with the exit status to end with (0 when there is nothing
 * to do; the CLI's own status where the CLI could only be spawned, not exec'd).
 */
export const run: Effect.Effect<number, HookError | ExecError, Stages> = Effect.gen(function* () {
  const argv = yield* plan
  if (Option.isNone(argv)) return 0
  return yield* (yield* CliLauncher).launch(argv.value)
})

/** All five stages and FileTrust, needing only the platform: FileSystem, Exec, HookConfig. */
export const layer = Layer.mergeAll(MountResolver.layer, CliLauncher.layer).pipe(
  Layer.provide(FileTrust.layer),
  Layer.merge(Layer.mergeAll(StateReader.layer, SpecParser.layer, EnvDecoder.layer))
)
