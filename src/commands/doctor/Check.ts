import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import { HookConfig } from "../../HookConfig.ts"
import * as NodePlatform from "../../platform/NodePlatform.ts"
import { cliProtocolOf } from "../../schemas/CliProtocol.ts"
import { FileTrust, type TrustError } from "../../services/FileTrust.ts"
import { parseRuntimeConf, RUNTIME_CONF, type RuntimeConfKey } from "../../wrapper/RuntimeConf.ts"
import { listCdiDevices } from "../Cdi.ts"
import type { HostFiles } from "../HostFiles.ts"

/**
 * What a doctor check is: a named value saying what it looks at and turning a host into result lines,
 * each with its fix. `diagnose` runs a list of them; adding a check is adding a value to a list. The facts
 * several checks share (the CLI's protocol, the CDI devices offered, the wrapper's settings) are worked out
 * once, on first use, in the context every check is given.
 */

/** One finding. `fail`: the hook or the CLI will refuse, or NPU containers will not work; `warn`: worth a look. */
export interface Check {
  readonly id: string
  readonly status: "ok" | "warn" | "fail"
  readonly message: string
  readonly fix?: string
}

/** One check: its name, what it looks at, and its result lines for a host. */
export interface DoctorCheck {
  readonly name: string
  readonly looksAt: string
  readonly run: (ctx: DoctorContext) => ReadonlyArray<Check>
}

/** Where doctor looks: a host tree rooted at `root`, and the paths in it. */
export interface DoctorOptions {
  readonly root: string
  readonly configDir: string
  readonly cliPath: string
  readonly devRoot: string
}

/** What every check is given. */
export interface DoctorContext {
  readonly o: DoctorOptions
  readonly host: HostFiles
  /** A path as the host sees it, under the root. */
  readonly at: (p: string) => string
  /** The text of a file under the root, or undefined when it cannot be read. */
  readonly read: (p: string) => string | undefined
  /** The config dir, under the root. */
  readonly configDir: string
  /** The protocol the CLI speaks (undefined: unreadable): it decides how strictly sources are judged. */
  readonly cliProtocol: "2021" | "2023" | undefined
  /** A FileTrust check as a result line (`fail` with its fix when refused), and whether it passed. */
  readonly trusted: (
    id: string,
    ok: string,
    f: (t: FileTrust["Service"]) => Effect.Effect<unknown, TrustError>
  ) => { readonly line: Check; readonly ok: boolean }
  /** Whether the config dir is trusted (the lists and settings in it are looked at only then). */
  readonly configDirTrusted: () => boolean
  /** The wrapper's settings from a trusted runtime.conf that parses; none otherwise. */
  readonly wrapperSettings: () => Partial<Record<RuntimeConfKey, string>>
  /** The NPU devices the CDI specs under the root offer. */
  readonly cdiDevices: () => ReadonlyArray<string>
  /** A unit's ActiveState as systemd reports it (`failed`, `active`...), undefined where systemd cannot be asked. */
  readonly unitState: (unit: string) => string | undefined
  /** The first line of an engine daemon's `--version`, undefined where it cannot be asked. */
  readonly versionOf: (program: "containerd" | "dockerd") => string | undefined
}

const trustFix = (e: TrustError): string => {
  switch (e.reason) {
    case "Missing":
      return `create it, or point the hook at the right place`
    case "Owner":
      return `chown root:root ${e.path}`
    case "Writable":
      return `chmod go-w ${e.path}`
    case "Symlink":
      return `replace the link ${e.path} with the file itself`
    case "NotExecutable":
      return `chmod 755 ${e.path}`
    default:
      return `make ${e.path} a ${e.role.includes("dir") || e.role.startsWith("parent") ? "directory" : "regular file"}`
  }
}

/** A value worked out on first use. */
const once = <A>(f: () => A): (() => A) => {
  let memo: { readonly value: A } | undefined
  return () => {
    memo ??= { value: f() }
    return memo.value
  }
}

/** The context of a doctor run over `host`. */
export const doctorContext = (
  o: DoctorOptions,
  host: HostFiles,
  unitState: (unit: string) => string | undefined = () => undefined,
  versionOf: (program: "containerd" | "dockerd") => string | undefined = () => undefined
): DoctorContext => {
  const path = process.getBuiltinModule("node:path")
  const at = (p: string) => path.join(o.root, p)
  const configDir = at(o.configDir)
  let cliProtocol: "2021" | "2023" | undefined
  try {
    cliProtocol = cliProtocolOf(host.readBytes(at(o.cliPath)))
  } catch {}
  const trustLayer = FileTrust.layer.pipe(
    Layer.provide(
      Layer.mergeAll(
        Layer.succeed(FileSystem.FileSystem, host.fs),
        HookConfig.layer(NodePlatform.listSettings(configDir))
      )
    )
  )
  const trusted: DoctorContext["trusted"] = (id, ok, f) => {
    const exit = Effect.runSyncExit(
      Effect.gen(function* () {
        return yield* f(yield* FileTrust)
      }).pipe(Effect.provide(trustLayer))
    )
    if (Exit.isSuccess(exit)) return { line: { id, status: "ok", message: ok }, ok: true }
    const e = exit.cause.reasons.find((r) => r._tag === "Fail")?.error as TrustError | undefined
    const line: Check = {
      id,
      status: "fail",
      message: e?.message ?? "cannot be checked",
      ...(e ? { fix: trustFix(e) } : {})
    }
    return { line, ok: false }
  }
  const configDirTrusted = once(() => trusted("config-dir", "", (t) => t.directory(configDir, "config dir")).ok)
  const wrapperSettings = once(() => {
    const conf = path.join(configDir, RUNTIME_CONF)
    if (!configDirTrusted() || !host.exists(conf)) return {}
    if (!trusted("runtime-conf", "", (t) => t.file(conf, "wrapper settings")).ok) return {}
    const parsed = parseRuntimeConf(host.readText(conf))
    return typeof parsed === "string" ? {} : parsed
  })
  const cdiDevices = once(() =>
    listCdiDevices([at("/etc/cdi"), at("/var/run/cdi")], host).names.filter(
      (n) => n.startsWith("ascend.com/npu=") || n.startsWith("huawei.com/npu=")
    )
  )
  const read = (p: string) => {
    try {
      return host.readText(at(p))
    } catch {
      return undefined
    }
  }
  return {
    o,
    host,
    at,
    read,
    configDir,
    cliProtocol,
    trusted,
    configDirTrusted,
    wrapperSettings,
    cdiDevices,
    unitState,
    versionOf
  }
}
