import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import { parseRuntimeConf, RUNTIME_CONF, renderRuntimeConf } from "../../wrapper/RuntimeConf.ts"
import {
  backupAny,
  type Changes,
  exists,
  FORCE_HINT,
  fail,
  type Options,
  type PlanContext,
  ROOT_OWNED
} from "./Core.ts"
import { type Change, current, fileChange, type InstallError } from "./Files.ts"

/**
 * The engine-blind settings install writes: the default mount list (never overwriting one that is there) and
 * the wrapper's runtime.conf (only when a flag sets something), both in /etc/ascend-docker-runtime.d.
 */

export const BASE_LIST = "/etc/ascend-docker-runtime.d/base.list"
const RUNTIME_CONF_PATH = `${BASE_LIST.slice(0, BASE_LIST.lastIndexOf("/"))}/${RUNTIME_CONF}`

/**
 * The paths current Ascend drivers install, for the default mount list: what people mount today, with
 * npu-smi from whichever of /usr/local/bin and /usr/local/sbin has it (bin when neither does yet).
 */
export const defaultBaseList = (npuSmiDir: "/usr/local/bin" | "/usr/local/sbin"): string =>
  `# Host paths every NPU container gets (ascend-docker-hook). One absolute path a line; # for comments.
/usr/local/Ascend/driver/lib64
/usr/local/Ascend/driver/include
/usr/local/Ascend/driver/version.info
/etc/ascend_install.info
/usr/local/dcmi
${npuSmiDir}/npu-smi
`

/** install: the default mount list where there is none. */
export const baseListInstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const base = yield* current(ctx.fs, ctx.at(BASE_LIST))
    if (base.kind !== "missing")
      return [{ action: "keep", path: ctx.at(BASE_LIST), why: "an existing mount list is never overwritten" }]
    const npuSmiDir =
      !(yield* exists(ctx, "/usr/local/bin/npu-smi")) && (yield* exists(ctx, "/usr/local/sbin/npu-smi"))
        ? "/usr/local/sbin"
        : "/usr/local/bin"
    const why = "the default mount list (current Ascend driver paths)"
    return [fileChange(ctx.at(BASE_LIST), base, defaultBaseList(npuSmiDir), why, ROOT_OWNED)!]
  })

/** uninstall: the mount list goes only when it is a default one, unedited. */
export const baseListUninstall = (ctx: PlanContext): Changes =>
  Effect.map(current(ctx.fs, ctx.at(BASE_LIST)), (base): ReadonlyArray<Change> => {
    const defaults = [defaultBaseList("/usr/local/bin"), defaultBaseList("/usr/local/sbin")]
    if (base.kind === "file" && defaults.includes(base.text))
      return [{ action: "remove", path: ctx.at(BASE_LIST), why: "the default mount list, unedited" }]
    return base.kind === "missing"
      ? []
      : [{ action: "keep", path: ctx.at(BASE_LIST), why: "the mount list was edited; kept" }]
  })

const at = (o: Options, p: string) => (o.root === "/" ? p : `${o.root.replace(/\/+$/, "")}${p}`)

/** runtime.conf as it is, and whether it is ours (it starts with the header install writes). */
const runtimeConf = (fs: FileSystem.FileSystem, o: Options) =>
  Effect.map(current(fs, at(o, RUNTIME_CONF_PATH)), (conf) => ({
    conf,
    ours: conf.kind === "file" && conf.text.startsWith(renderRuntimeConf({}))
  }))

/**
 * The hooks.d hook's extra args: the unprivileged-env policy given, else what the settings file says now,
 * so a reinstall keeps the hooks.d hook in step with it.
 */
export const gateArgsOf = (fs: FileSystem.FileSystem, o: Options): Effect.Effect<ReadonlyArray<string>, InstallError> =>
  Effect.map(runtimeConf(fs, o), ({ conf, ours }) => {
    const existing = ours && conf.kind === "file" ? parseRuntimeConf(conf.text) : {}
    const policy =
      o.unprivilegedEnv ?? (typeof existing === "string" ? undefined : existing.ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV)
    return policy === undefined || policy === "accept" ? [] : ["--unprivileged-env", policy]
  })

/** install: runtime.conf written when a flag sets something in it; kept as it is otherwise. */
export const runtimeConfInstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const { o } = ctx
    const { conf, ours } = yield* runtimeConf(ctx.fs, o)
    const settings = {
      ...(o.wrapperMode === undefined ? {} : { ASCEND_DOCKER_RUNTIME_MODE: o.wrapperMode }),
      ...(o.cliProtocol === undefined ? {} : { ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL: o.cliProtocol }),
      ...(o.unprivilegedEnv === undefined ? {} : { ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: o.unprivilegedEnv })
    }
    if (Object.keys(settings).length === 0)
      return conf.kind === "missing"
        ? []
        : [
            {
              action: "keep",
              path: ctx.at(RUNTIME_CONF_PATH),
              why: "the wrapper's settings, as they are (--mode, --cli-protocol, --unprivileged-env change them)"
            }
          ]
    if (conf.kind !== "missing" && !ours && !o.force)
      return yield* fail(`${RUNTIME_CONF_PATH} is there and not ours${FORCE_HINT}`)
    const backup =
      conf.kind !== "missing" && !ours
        ? yield* backupAny(ctx, RUNTIME_CONF_PATH, conf, `backup of ${RUNTIME_CONF_PATH}, which was not ours`)
        : []
    const next = renderRuntimeConf(settings)
    return [...backup, fileChange(ctx.at(RUNTIME_CONF_PATH), conf, next, "the wrapper's settings", ROOT_OWNED)!]
  })

/** uninstall: runtime.conf removed when it is ours. */
export const runtimeConfUninstall = (ctx: PlanContext): Changes =>
  Effect.map(
    runtimeConf(ctx.fs, ctx.o),
    ({ ours }): ReadonlyArray<Change> =>
      ours ? [{ action: "remove", path: ctx.at(RUNTIME_CONF_PATH), why: "the wrapper's settings" }] : []
  )
