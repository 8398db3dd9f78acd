import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { UnprivilegedEnvPolicy } from "./schemas/AscendEnv.ts"

/** Where the hook looks for things and who it is: set by whoever installs the hook, never by the container. */
export interface HookSettings {
  /** Directory of the `<name>.list` mount lists. */
  readonly configDir: string
  /** Absolute path of the native `ascend-docker-cli`. */
  readonly cliPath: string
  /** Where the container state is read from: `/dev/stdin` as a hook, a file with `--state`. */
  readonly statePath: string
  /** The hook's own uid: files it trusts are owned by root or by it. */
  readonly uid: number
  /** Which ascend-docker-cli generation the argv is for; 2021 (the seed's) when not given. */
  readonly protocol?: CliProtocol
  /** What an env request from an unprivileged container gets; `accept` when not given. */
  readonly unprivilegedEnv?: UnprivilegedEnvPolicy
}

/**
 * The two generations of Huawei's ascend-docker-cli: 2021 takes `--devices` and mounts the device nodes
 * itself; 2023 (every CLI shipped since March 2023) has no `--devices`, takes `--allow-link`, and leaves the
 * device nodes to the runtime wrapper.
 */
export type CliProtocol = "2021" | "2023"

export { CLI_NAME, DEFAULT_CONFIG_DIR, HOOK_ENV, STDIN_PATH } from "./Defaults.ts"

/** The hook's settings as a service, so stages read them from the context rather than from globals. */
export class HookConfig extends Context.Service<HookConfig, HookSettings>()("ascend-docker-hook/HookConfig") {
  /** Provides fixed settings. */
  static readonly layer = (settings: HookSettings): Layer.Layer<HookConfig> => Layer.succeed(HookConfig, settings)
}
