import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { parse as parseToml } from "smol-toml"
import { CLI_NAME, DEFAULT_CONFIG_DIR, HookConfig } from "../HookConfig.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import * as NodePlatform from "../platform/NodePlatform.ts"
import { selfDir } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { cliProtocolOf } from "../schemas/CliProtocol.ts"
import { parseMountList } from "../schemas/MountList.ts"
import { FileTrust, type TrustError } from "../services/FileTrust.ts"
import { contentsProblem, safetyCache, sourceProblem } from "../services/MountSafety.ts"
import { parseRuntimeConf, RUNTIME_CONF, type RuntimeConfKey } from "../wrapper/RuntimeConf.ts"
import { listCdiDevices } from "./Cdi.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { type HostFiles, type HostStat, hostFiles } from "./HostFiles.ts"
import { CONTAINERD_DROP_IN, canonical, importedFiles } from "./install/ContainerdToml.ts"

const DOCTOR_FLAGS: ReadonlyArray<Flag> = [
  { name: "--root", value: "DIR", help: "check the tree rooted at DIR instead of / (default /)" },
  { name: "--config-dir", value: "DIR", help: "the mount lists' dir (default /etc/ascend-docker-runtime.d)" },
  { name: "--cli", value: "PATH", help: "the native CLI (default: ascend-docker-cli next to this program)" },
  { name: "--dev-root", value: "DIR", help: "where the device nodes are (default /dev)" },
  { name: "--json", help: "one JSON document, for machines" },
  { name: "--help", help: "this text" }
]

export const DOCTOR_USAGE = `usage: ascend-docker-hook doctor [--root DIR] [--config-dir DIR] [--cli PATH] [--dev-root DIR] [--json]

Checks this host the way the hook and the native CLI will, and says what is wrong and how to fix it:
the config dir and each mount list (owner, mode, parents, contents), each listed path (exists, and
would the native CLI accept it), the CLI next to the hook, the NPU device nodes, and whether Docker,
containerd, CRI-O or Podman are set up to use the hook or CDI (their config files are read, never
changed). Exit 0 when nothing fails; --json for machines; --root to check a tree other than /.

${flagHelp(DOCTOR_FLAGS)}`

/** One finding. `fail`: the hook or the CLI will refuse, or NPU containers will not work; `warn`: worth a look. */
export interface Check {
  readonly id: string
  readonly status: "ok" | "warn" | "fail"
  readonly message: string
  readonly fix?: string
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

/** Runs every check against a host tree rooted at `root`. */
export const diagnose = (
  o: { root: string; configDir: string; cliPath: string; devRoot: string },
  host: HostFiles = hostFiles(SyncFileSystem.make(nodeFs()))
): Array<Check> => {
  const path = process.getBuiltinModule("node:path")
  const at = (p: string) => path.join(o.root, p)
  const checks: Array<Check> = []
  const add = (c: Check) => checks.push(c)
  const configDir = at(o.configDir)
  let wrapperSettings: Partial<Record<RuntimeConfKey, string>> = {}
  const sync = host.fs
  const cache = safetyCache()
  // Which protocol the CLI speaks (undefined: unreadable): it decides how strictly sources are judged,
  // and has its own check below.
  let cliProtocol: "2021" | "2023" | undefined
  try {
    cliProtocol = cliProtocolOf(host.readBytes(at(o.cliPath)))
  } catch {}
  const listProtocol = cliProtocol ?? "2021"
  const trustLayer = FileTrust.layer.pipe(
    Layer.provide(
      Layer.mergeAll(
        Layer.succeed(FileSystem.FileSystem, host.fs),
        HookConfig.layer(NodePlatform.listSettings(configDir))
      )
    )
  )
  const trust = <A>(f: (t: FileTrust["Service"]) => Effect.Effect<A, TrustError>) => {
    return Effect.runSyncExit(
      Effect.gen(function* () {
        return yield* f(yield* FileTrust)
      }).pipe(Effect.provide(trustLayer))
    )
  }
  const trusted = (id: string, ok: string, exit: Exit.Exit<unknown, TrustError>) => {
    if (Exit.isSuccess(exit)) add({ id, status: "ok", message: ok })
    else {
      const e = exit.cause.reasons.find((r) => r._tag === "Fail")?.error as TrustError | undefined
      add({ id, status: "fail", message: e?.message ?? "cannot be checked", ...(e ? { fix: trustFix(e) } : {}) })
    }
    return Exit.isSuccess(exit)
  }

  // The config dir and its mount lists.
  if (
    trusted(
      "config-dir",
      `config dir ${configDir}: trusted`,
      trust((t) => t.directory(configDir, "config dir"))
    )
  ) {
    const lists = [...host.readDirectory(configDir)].filter((f) => f.endsWith(".list")).sort()
    if (!lists.includes("base.list")) {
      add({
        id: "base-list",
        status: "fail",
        message: `${configDir}/base.list is missing: every NPU container asks for it unless ASCEND_RUNTIME_MOUNTS says otherwise`,
        fix: "ascend-docker-hook install (writes the default), or create it"
      })
    }
    // The wrapper's settings file: what install set, or what an admin wrote; refused at create when untrusted.
    const conf = path.join(configDir, RUNTIME_CONF)
    if (host.exists(conf)) {
      if (
        trusted(
          "runtime-conf",
          `wrapper settings ${conf}: trusted`,
          trust((t) => t.file(conf, "wrapper settings"))
        )
      ) {
        const parsed = parseRuntimeConf(host.readText(conf))
        if (typeof parsed === "string")
          add({
            id: "runtime-conf",
            status: "fail",
            message: `${configDir}/${parsed}: every NPU container will fail`,
            fix: "fix that line"
          })
        else wrapperSettings = parsed
      }
    }
    for (const list of lists) {
      const file = path.join(configDir, list)
      const ok = trusted(
        `list:${list}`,
        `mount list ${file}: trusted`,
        trust((t) => t.file(file, "mount list"))
      )
      if (!ok) continue
      const parsed = parseMountList(host.readText(file), file)
      if (Result.isFailure(parsed)) {
        add({ id: `lines:${list}`, status: "fail", message: parsed.failure.message, fix: "fix that line" })
        continue
      }
      for (const entry of parsed.success) {
        const id = `path:${list}:${entry.line}`
        const where = `${list}:${entry.line} ${entry.path}`
        const real = at(entry.path)
        let lst: HostStat | undefined
        try {
          lst = host.lstat(real)
        } catch {}
        if (lst === undefined) {
          add({
            id,
            status: "warn",
            message: `${where}: does not exist; the hook skips it`,
            fix: "install the driver part it names, or drop the line"
          })
          continue
        }
        // The CLI's own checks of a source (MountSafety, what the hook runs before the CLI), by protocol:
        // today's refuses symlinked parents, and a symlinked source unless the container sets ASCEND_ALLOW_LINK.
        const rules =
          listProtocol === "2023"
            ? { allowLinks: false, linkedParents: false }
            : { allowLinks: true, linkedParents: true }
        if (lst.isSymbolicLink() && !rules.allowLinks) {
          add({
            id,
            status: "warn",
            message: `${where}: is a symbolic link; today's CLI refuses it unless the container sets ASCEND_ALLOW_LINK=True`,
            fix: `list the target, ${host.realPath(real)}`
          })
          continue
        }
        const problem = Effect.runSync(
          Effect.flatMap(sync.lstat(real), (info) => sourceProblem(sync, real, info, rules, cache)).pipe(
            Effect.orElseSucceed(() => undefined)
          )
        )
        if (problem !== undefined) {
          add({
            id,
            status: "fail",
            message: `${where}: ${problem.detail}`,
            fix: problem.detail.replace(/^.*fix: /, "")
          })
          continue
        }
        if (host.stat(real).isDirectory()) {
          const inside = Effect.runSync(contentsProblem(sync, real, rules.allowLinks))
          if (inside.problem !== undefined) {
            add({
              id,
              status: "fail",
              message: `${where}: inside it, ${inside.problem}`,
              fix: "fix or remove that entry"
            })
            continue
          }
          add({
            id,
            status: inside.complete ? "ok" : "warn",
            message: `${where}: mountable${inside.complete ? `, ${inside.walked} entries inside checked` : `; only the first ${inside.walked} entries inside checked`}`
          })
        } else add({ id, status: "ok", message: `${where}: mountable` })
      }
    }
  }

  // The CLI the hook will exec.
  trusted(
    "cli",
    `CLI ${at(o.cliPath)}: trusted and executable`,
    trust((t) => t.file(at(o.cliPath), "CLI", { executable: true }))
  )

  // Which protocol the CLI speaks, and which the registrations below use (they must agree).
  if (cliProtocol !== undefined)
    add({
      id: "cli-protocol",
      status: "ok",
      message:
        cliProtocol === "2023"
          ? "the CLI speaks the 2023 protocol (no --devices): device nodes must come from the wrapper or CDI"
          : "the CLI speaks the 2021 protocol (--devices): it makes the device nodes itself"
    })

  // NPU device nodes.
  const devRoot = at(o.devRoot)
  const isChar = (name: string) => {
    try {
      return host.stat(path.join(devRoot, name)).isCharacterDevice()
    } catch {
      return false
    }
  }
  let npus: Array<string> = []
  try {
    npus = host.readDirectory(devRoot).filter((n) => /^davinci[0-9]+$/.test(n) && isChar(n))
  } catch {}
  add(
    npus.length > 0
      ? {
          id: "npus",
          status: "ok",
          message: `${npus.length} NPU device nodes under ${devRoot} (${npus.sort().join(", ")})`
        }
      : {
          id: "npus",
          status: "fail",
          message: `no NPU device nodes (davinciN) under ${devRoot}`,
          fix: "install and load the Ascend driver (npu-smi info should list the NPUs)"
        }
  )
  // The manager node may come as davinci_manager_docker; devmm_svm and hisi_hdc every NPU container needs.
  for (const name of ["davinci_manager", "devmm_svm", "hisi_hdc"]) {
    add(
      isChar(name) || (name === "davinci_manager" && isChar("davinci_manager_docker"))
        ? { id: `device:${name}`, status: "ok", message: `${devRoot}/${name}: present` }
        : {
            id: `device:${name}`,
            status: "fail",
            message: `${devRoot}/${name} is missing; NPU containers need it`,
            fix: "install and load the Ascend driver"
          }
    )
  }

  // Runtimes: set up to use the hook (wrapper or hooks.d) or CDI? Their files are read, never changed.
  const read = (p: string) => {
    try {
      return host.readText(at(p))
    } catch {
      return undefined
    }
  }
  const cdi = listCdiDevices([at("/etc/cdi"), at("/var/run/cdi")], host).names.filter(
    (n) => n.startsWith("ascend.com/npu=") || n.startsWith("huawei.com/npu=")
  )
  add(
    cdi.length > 0
      ? {
          id: "cdi",
          status: "ok",
          message: `CDI: ${cdi.length} NPU devices offered (${cdi.slice(0, 4).join(" ")}${cdi.length > 4 ? " ..." : ""})`
        }
      : {
          id: "cdi",
          status: "warn",
          message: "CDI: no ascend.com/npu (or huawei.com/npu) spec in /etc/cdi or /var/run/cdi",
          fix: "ascend-docker-hook cdi generate"
        }
  )
  const daemon = read("/etc/docker/daemon.json")
  if (daemon !== undefined) {
    let runtime: unknown
    try {
      runtime = (JSON.parse(daemon) as { runtimes?: Record<string, { path?: string }> }).runtimes?.ascend?.path
    } catch {
      add({
        id: "docker",
        status: "fail",
        message: "docker: /etc/docker/daemon.json is not valid JSON; dockerd will not start",
        fix: "fix the file"
      })
    }
    if (typeof runtime === "string") {
      add(
        host.exists(at(runtime))
          ? { id: "docker", status: "ok", message: `docker: runtime ascend -> ${runtime}` }
          : {
              id: "docker",
              status: "fail",
              message: `docker: runtime ascend points at ${runtime}, which does not exist`,
              fix: "ascend-docker-hook install --runtime docker"
            }
      )
    } else if (!checks.some((c) => c.id === "docker")) {
      add({
        id: "docker",
        status: cdi.length > 0 ? "ok" : "warn",
        message: `docker: no ascend runtime${cdi.length > 0 ? "; CDI devices can be used (docker >= 25: --device ascend.com/npu=0)" : ""}`,
        fix: "ascend-docker-hook install --runtime docker, or cdi generate"
      })
    }
  }
  const containerd = read("/etc/containerd/config.toml")
  if (containerd !== undefined) {
    try {
      // The config and what it imports (our drop-in among them), as containerd reads them.
      const main = parseToml(containerd) as Record<string, unknown>
      const imports = (Array.isArray(main.imports) ? main.imports : []).filter(
        (i): i is string => typeof i === "string"
      )
      const files = importedFiles(imports, (dir) => host.namesIn(at(dir)))
      const texts = [containerd, ...files.map((f) => read(f) ?? "")]
      const text = texts.map((t) => JSON.stringify(parseToml(t))).join("\n")
      const has = text.includes('"ascend":{"runtime_type"') || /"BinaryName":"[^"]*ascend-docker-runtime"/.test(text)
      const cdiOn = /"enable_cdi":true/.test(text)
      add(
        has || cdiOn
          ? {
              id: "containerd",
              status: "ok",
              message: `containerd: ${has ? "runtime ascend configured" : "CDI enabled"}`
            }
          : {
              id: "containerd",
              status: "warn",
              message: "containerd: neither an ascend runtime nor enable_cdi",
              fix: "ascend-docker-hook install --runtime containerd"
            }
      )
      // containerd 1.x: our drop-in carries a copy of the CRI section; an edit of config.toml's since is hidden by it.
      const dropIn = files.includes(CONTAINERD_DROP_IN) ? read(CONTAINERD_DROP_IN) : undefined
      if (dropIn !== undefined && main.version === 2) {
        const { runtimes: copiedRuntimes, ...copied } = criOf(parseToml(dropIn))
        const { runtimes: mainRuntimes, ...own } = criOf(main)
        const { ascend: _, ...copiedOthers } = (copiedRuntimes ?? {}) as Record<string, unknown>
        const stale =
          canonical({ ...copied, runtimes: copiedOthers }) !== canonical({ ...own, runtimes: mainRuntimes ?? {} })
        const beforeUs = files
          .slice(0, files.indexOf(CONTAINERD_DROP_IN))
          .some((f) => JSON.stringify(parseToml(read(f) ?? "")).includes("io.containerd.grpc.v1.cri"))
        if (stale && !beforeUs)
          add({
            id: "containerd-drop-in",
            status: "warn",
            message: `containerd: the CRI section in ${CONTAINERD_DROP_IN} differs from config.toml's; containerd 1.x uses the drop-in's whole`,
            fix: "ascend-docker-hook install --runtime containerd (refreshes the copy)"
          })
      }
    } catch {
      add({
        id: "containerd",
        status: "fail",
        message: "containerd: /etc/containerd/config.toml (or a file it imports) is not valid TOML",
        fix: "fix the file"
      })
    }
  }
  for (const [id, file] of [
    ["crio", "/usr/share/containers/oci/hooks.d/ascend-docker-hook.json"],
    ["podman", "/etc/containers/oci/hooks.d/ascend-docker-hook.json"]
  ] as const) {
    const text = read(file)
    if (text === undefined) continue
    let hook: string | undefined
    let args: ReadonlyArray<unknown> = []
    try {
      const parsed = (JSON.parse(text) as { hook?: { path?: string; args?: Array<unknown> } }).hook
      hook = parsed?.path
      args = parsed?.args ?? []
    } catch {}
    const registered = args.includes("2023") && args.includes("--cli-protocol") ? "2023" : "2021"
    if (cliProtocol !== undefined && registered !== cliProtocol) {
      add({
        id: `${id}-protocol`,
        status: "fail",
        message: `${id}: the hooks.d hook speaks the ${registered} protocol, the CLI the ${cliProtocol}: every NPU container will fail`,
        fix: `ascend-docker-hook install --runtime ${id}`
      })
    } else if (cliProtocol === "2023") {
      add({
        id: `${id}-protocol`,
        status: "fail",
        message: `${id}: a hooks.d hook with a 2023 CLI gives containers no device nodes (nothing adds them)`,
        fix:
          id === "podman"
            ? "use CDI: ascend-docker-hook cdi generate; podman run --device ascend.com/npu=0"
            : "run containers through the ascend-docker-runtime wrapper"
      })
    } else if (cliProtocol !== undefined)
      add({ id: `${id}-protocol`, status: "ok", message: `${id}: hook and CLI both speak ${registered}` })
    add(
      hook !== undefined && host.exists(at(hook))
        ? { id, status: "ok", message: `${id}: hooks.d entry runs ${hook}` }
        : {
            id,
            status: "fail",
            message: `${id}: ${file} names a hook that does not exist (${hook ?? "unreadable"})`,
            fix: `ascend-docker-hook install --runtime ${id}`
          }
    )
  }
  // Who may ask for NPUs: the wrapper's policy (runtime.conf) and the hooks.d hook's (its args).
  const hooksPolicies = [
    "/usr/share/containers/oci/hooks.d/ascend-docker-hook.json",
    "/etc/containers/oci/hooks.d/ascend-docker-hook.json"
  ]
    .map((f) => read(f))
    .filter((t): t is string => t !== undefined)
    .map((t) => {
      try {
        const args = (JSON.parse(t) as { hook?: { args?: Array<unknown> } }).hook?.args ?? []
        const i = args.indexOf("--unprivileged-env")
        return i < 0 ? "accept" : String(args[i + 1])
      } catch {
        return "accept"
      }
    })
  const policy = wrapperSettings.ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV ?? "accept"
  add({
    id: "unprivileged-env",
    status: policy === "accept" || hooksPolicies.includes("accept") ? "warn" : "ok",
    message:
      `who may ask: ASCEND_VISIBLE_DEVICES from a container without CAP_SYS_ADMIN is ${policy === "accept" ? "accepted" : policy === "ignore" ? "ignored" : "refused"} by the wrapper` +
      (wrapperSettings.ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV === undefined
        ? " (the default; the daemon's env may say otherwise)"
        : " (runtime.conf)") +
      (hooksPolicies.length > 0 ? `, ${hooksPolicies.join("/")} by the hooks.d hook` : "") +
      "; CDI names and cdi.k8s.io annotations are honoured whatever the setting",
    ...(policy === "accept"
      ? {
          fix: "ascend-docker-hook install --unprivileged-env ignore (any image or pod that sets the variable gets NPUs)"
        }
      : {})
  })
  if (wrapperSettings.ASCEND_DOCKER_RUNTIME_MODE !== undefined)
    add({
      id: "wrapper-mode",
      status: "ok",
      message: `wrapper mode: ${wrapperSettings.ASCEND_DOCKER_RUNTIME_MODE} (runtime.conf)`
    })
  return checks
}

/** `doctor`: prints each finding with its fix; exit 1 when any check fails. */
export const runDoctor = (args: ReadonlyArray<string>): number => {
  const fs = nodeFs()
  const path = process.getBuiltinModule("node:path")
  if (args.includes("--help")) {
    fs.writeSync(1, `${DOCTOR_USAGE}\n`)
    return 0
  }
  const flags = parseFlags(args, DOCTOR_FLAGS)
  if (typeof flags === "string") {
    fs.writeSync(2, `ascend-docker-hook doctor: ${flags}\n`)
    return 1
  }
  const json = flags.has("--json")
  const checks = diagnose({
    root: path.resolve(flags.one("--root") ?? "/"),
    configDir: flags.one("--config-dir") ?? DEFAULT_CONFIG_DIR,
    cliPath: flags.one("--cli") ?? path.join(selfDir(), CLI_NAME),
    devRoot: flags.one("--dev-root") ?? "/dev"
  })
  const ok = !checks.some((c) => c.status === "fail")
  if (json) fs.writeSync(1, `${JSON.stringify({ ok, checks }, null, 2)}\n`)
  else {
    for (const c of checks) {
      fs.writeSync(1, `${c.status.toUpperCase().padEnd(4)} ${c.message}\n`)
      if (c.fix !== undefined && c.status !== "ok") fs.writeSync(1, `     fix: ${c.fix}\n`)
    }
    fs.writeSync(1, ok ? "all is well\n" : `${checks.filter((c) => c.status === "fail").length} problem(s) found\n`)
  }
  return ok ? 0 : 1
}

/** The CRI plugin's section of a containerd 1.x config, flattened to what the drop-in copies. */
const criOf = (config: Record<string, unknown>): Record<string, unknown> => {
  const cri = ((config.plugins as Record<string, unknown> | undefined)?.["io.containerd.grpc.v1.cri"] ?? {}) as Record<
    string,
    unknown
  >
  const { containerd, ...rest } = cri
  const { runtimes, ...inner } = (containerd ?? {}) as Record<string, unknown>
  return { ...rest, containerd: inner, runtimes }
}
