import { parse as parseToml, stringify as stringifyToml } from "smol-toml"
import { HOOK_ENV } from "../../HookConfig.ts"
import { RUNTIME_NAME } from "./Docker.ts"

/**
 * CRI-O and Podman. CRI-O gets the wrapper as a runtime handler (`ascend`, for a RuntimeClass) in a
 * drop-in of ours; with a 2021 CLI the hooks.d file (every container, prestart) is written too, for
 * containers run by CRI-O's default runtime (the wrapper does not add a hook a container already has). Podman reads
 * hooks.d only.
 */

export const CRIO_CONFIG = "/etc/crio/crio.conf"
export const CRIO_DROP_IN_DIR = "/etc/crio/crio.conf.d"
export const CRIO_DROP_IN = `${CRIO_DROP_IN_DIR}/99-ascend.conf`
export const CRIO_HOOKS_D = "/usr/share/containers/oci/hooks.d/ascend-docker-hook.json"
export const PODMAN_HOOKS_D = "/etc/containers/oci/hooks.d/ascend-docker-hook.json"

type Toml = Record<string, unknown>
const isTable = (v: unknown): v is Toml => typeof v === "object" && v !== null && !Array.isArray(v)

/** The OCI hooks.d file CRI-O and Podman read: schema 1.0.0, every container, prestart. */
export const hooksdJson = (hookPath: string, extraArgs: ReadonlyArray<string> = []): string =>
  `${JSON.stringify(
    {
      version: "1.0.0",
      hook: { path: hookPath, args: ["ascend-docker-hook", ...extraArgs], env: HOOK_ENV },
      when: { always: true },
      stages: ["prestart"]
    },
    null,
    2
  )}\n`

/** Whether a hooks.d file is one of ours (any prefix): a file we wrote, not the admin's. */
export const isOurHooksd = (text: string): boolean => {
  try {
    const hook = (JSON.parse(text) as { hook?: { path?: unknown; args?: unknown } }).hook
    const args = Array.isArray(hook?.args) ? hook.args.slice(1).map(String) : []
    return typeof hook?.path === "string" && hooksdJson(hook.path, args) === text
  } catch {
    return false
  }
}

/**
 * The monitor settings CRI-O's default runtime has in the admin's configs (crio.conf, then its drop-ins in
 * name order, later wins as CRI-O merges them), to give the ascend handler the same conmon.
 */
export const monitorSettings = (configs: ReadonlyArray<string>): Toml => {
  let defaultRuntime = "runc"
  const runtimes: Record<string, Toml> = {}
  for (const text of configs) {
    let config: Toml
    try {
      config = parseToml(text) as Toml
    } catch {
      continue
    }
    const runtime = isTable(config.crio) && isTable(config.crio.runtime) ? config.crio.runtime : undefined
    if (runtime === undefined) continue
    if (typeof runtime.default_runtime === "string") defaultRuntime = runtime.default_runtime
    if (isTable(runtime.runtimes))
      for (const [name, entry] of Object.entries(runtime.runtimes))
        if (isTable(entry)) runtimes[name] = { ...runtimes[name], ...entry }
  }
  const base = runtimes[defaultRuntime] ?? {}
  const out: Toml = {}
  for (const key of ["monitor_path", "monitor_cgroup", "monitor_env", "monitor_exec_cgroup"])
    if (base[key] !== undefined) out[key] = base[key]
  return out
}

/** The drop-in: the wrapper as runtime handler `ascend` (runc's state root, an OCI runtime, the default's conmon). */
export const crioDropIn = (runtimePath: string, monitor: Toml, makeDefault: boolean): string =>
  `# Written by ascend-docker-hook install; uninstall removes it.\n${stringifyToml({
    crio: {
      runtime: {
        ...(makeDefault ? { default_runtime: RUNTIME_NAME } : {}),
        runtimes: {
          [RUNTIME_NAME]: { runtime_path: runtimePath, runtime_type: "oci", runtime_root: "/run/runc", ...monitor }
        }
      }
    }
  }).trimEnd()}\n`
