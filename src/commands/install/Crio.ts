import * as Effect from "effect/Effect"
import { parse as parseToml, stringify as stringifyToml } from "smol-toml"
import { crioHooksd } from "../doctor/Hooksd.ts"
import { type Changes, ownInstall, ownUninstall, type PlanContext, startsWithHeader } from "./Core.ts"
import { RUNTIME_NAME } from "./Docker.ts"
import type { Engine } from "./Engine.ts"
import { current, ownerLike, textOf } from "./Files.ts"
import { CRIO_HOOKS_D, hooksdFile, hooksdJson } from "./Hooksd.ts"

/**
 * CRI-O gets the wrapper as a runtime handler (`ascend`, for a RuntimeClass) in a drop-in of ours; with a
 * 2021 CLI the hooks.d file (every container, prestart) is written too, for containers run by CRI-O's
 * default runtime (the wrapper does not add a hook a container already has).
 */

export const CRIO_CONFIG = "/etc/crio/crio.conf"
export const CRIO_DROP_IN_DIR = "/etc/crio/crio.conf.d"
export const CRIO_DROP_IN = `${CRIO_DROP_IN_DIR}/99-ascend.conf`

type Toml = Record<string, unknown>
const isTable = (v: unknown): v is Toml => typeof v === "object" && v !== null && !Array.isArray(v)

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

const dropInFile = (ctx: PlanContext) =>
  Effect.map(current(ctx.fs, ctx.at(CRIO_CONFIG)), (main) => ({
    main,
    own: {
      path: CRIO_DROP_IN,
      isOurs: (text: string) => startsWithHeader(text),
      why: "crio: runtime handler ascend (the wrapper)",
      fresh: ownerLike(main, 0o644)
    }
  }))

/** The admin's configs, crio.conf then its drop-ins in name order (ours left out), as CRI-O merges them. */
const adminConfigs = (ctx: PlanContext, mainText: string | undefined) =>
  Effect.gen(function* () {
    const configs = [mainText ?? ""]
    const names = yield* ctx.fs
      .readDirectory(ctx.at(CRIO_DROP_IN_DIR))
      .pipe(Effect.orElseSucceed(() => [] as Array<string>))
    for (const n of [...names].sort())
      if (n.endsWith(".conf") && `${CRIO_DROP_IN_DIR}/${n}` !== CRIO_DROP_IN)
        configs.push(textOf(yield* current(ctx.fs, ctx.at(`${CRIO_DROP_IN_DIR}/${n}`))) ?? "")
    return configs
  })

const install = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const hooks =
      ctx.protocol === "2021"
        ? yield* ownInstall(ctx, hooksdFile(CRIO_HOOKS_D, "crio"), hooksdJson(ctx.hookPath, ctx.gateArgs))
        : []
    const { main, own } = yield* dropInFile(ctx)
    const monitor = monitorSettings(yield* adminConfigs(ctx, textOf(main)))
    return [...hooks, ...(yield* ownInstall(ctx, own, crioDropIn(ctx.runtimePath, monitor, ctx.o.makeDefault)))]
  })

const uninstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const hooks = hooksdFile(CRIO_HOOKS_D, "crio", ctx.protocol === "2021" ? undefined : "crio: OCI hook")
    const { own } = yield* dropInFile(ctx)
    return [...(yield* ownUninstall(ctx, hooks)), ...(yield* ownUninstall(ctx, own))]
  })

/** CRI-O: the ascend handler's drop-in, and the hooks.d hook with a 2021 CLI. */
export const crio: Engine = { name: "crio", install, uninstall, checks: [crioHooksd], restart: "crio" }
