import { parse as parseToml, stringify as stringifyToml } from "smol-toml"
import { type CliProtocol, HOOK_ENV } from "../HookConfig.ts"
import { isBinary, selfDir } from "../platform/Self.ts"
import { cliProtocolOf } from "../schemas/CliProtocol.ts"

export const INSTALL_USAGE = `usage: ascend-docker-hook install|uninstall [--runtime NAME]... [--default-runtime]
                                             [--prefix DIR] [--root DIR] [--dry-run]

install places ascend-docker-hook (and ascend-docker-runtime, a link to it) in PREFIX/bin, a default
/etc/ascend-docker-runtime.d/base.list if there is none, and registers with each runtime named:
  docker      /etc/docker/daemon.json: runtimes.ascend (merged; other keys kept; a backup is kept)
  containerd  /etc/containerd/config.toml: a runtimes.ascend entry (runc v2 shim, BinaryName)
  crio        /usr/share/containers/oci/hooks.d/ascend-docker-hook.json (hooks schema 1.0.0)
  podman      /etc/containers/oci/hooks.d/ascend-docker-hook.json
uninstall undoes exactly that. Installing twice changes nothing.

  --runtime NAME      docker, containerd, crio or podman; repeat for several
  --default-runtime   make ascend the default runtime of docker / containerd
  --prefix DIR        where bin/ goes (default /usr/local)
  --root DIR          act on a tree rooted at DIR instead of / (images, tests)
  --cli-protocol P    the CLI's protocol, 2021 or 2023 (default: read from the ascend-docker-cli in PREFIX/bin)
  --dry-run           print every change, write nothing

With a 2023 CLI (every CLI shipped since March 2023) device nodes must come from the wrapper (docker,
containerd: it detects the protocol itself) or from CDI; a hooks.d hook (crio, podman) cannot add them, so
install refuses that route and says which one to use.`

export const RUNTIMES = ["docker", "containerd", "crio", "podman"] as const
export type RuntimeName = (typeof RUNTIMES)[number]

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

const BACKUP = ".ascend-backup"
const RUNTIME_NAME = "ascend"

/** One change to one file; `content` undefined with action remove. */
export interface Change {
  readonly path: string
  readonly action: "create" | "update" | "remove" | "unchanged" | "keep"
  readonly why: string
  readonly content?: string | Uint8Array
  readonly link?: string
  readonly mode?: number
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

/** daemon.json with runtimes.ascend (and default-runtime if asked); other keys untouched. */
export const dockerInstall = (text: string | undefined, runtimePath: string, makeDefault: boolean): string => {
  const config: Json = text === undefined || text.trim() === "" ? {} : JSON.parse(text)
  if (!isObject(config)) throw new Error("daemon.json is not a JSON object")
  const runtimes = isObject(config.runtimes) ? config.runtimes : {}
  const next: Json = { ...config, runtimes: { ...runtimes, [RUNTIME_NAME]: { path: runtimePath } } }
  if (makeDefault) next["default-runtime"] = RUNTIME_NAME
  return `${JSON.stringify(next, null, 2)}\n`
}

/** daemon.json without what install added; default-runtime back to what the backup had. */
export const dockerUninstall = (text: string, backup: string | undefined): string | undefined => {
  const config: Json = JSON.parse(text)
  if (!isObject(config)) throw new Error("daemon.json is not a JSON object")
  const before: Json = backup === undefined ? {} : JSON.parse(backup)
  const next: Json = { ...config }
  if (isObject(next.runtimes)) {
    const { [RUNTIME_NAME]: _, ...rest } = next.runtimes
    if (Object.keys(rest).length === 0 && !isObject(before.runtimes)) delete next.runtimes
    else next.runtimes = rest
  }
  if (next["default-runtime"] === RUNTIME_NAME) {
    if (before["default-runtime"] === undefined) delete next["default-runtime"]
    else next["default-runtime"] = before["default-runtime"]
  }
  return Object.keys(next).length === 0 && backup === undefined ? undefined : `${JSON.stringify(next, null, 2)}\n`
}

/** The CRI plugin's table path, by config version: containerd 1.x (version 2) or 2.x (version 3). */
const criPath = (config: Json): ReadonlyArray<string> =>
  config.version === 3
    ? ["plugins", "io.containerd.cri.v1.runtime", "containerd"]
    : ["plugins", "io.containerd.grpc.v1.cri", "containerd"]

const table = (root: Json, keys: ReadonlyArray<string>, create: boolean): Json | undefined => {
  let at = root
  for (const key of keys) {
    if (!isObject(at[key])) {
      if (!create) return undefined
      at[key] = {}
    }
    at = at[key] as Json
  }
  return at
}

/** containerd's config.toml with a runtimes.ascend entry (runc v2 shim running the wrapper). */
export const containerdInstall = (text: string | undefined, runtimePath: string, makeDefault: boolean): string => {
  const config = (text === undefined || text.trim() === "" ? { version: 2 } : parseToml(text)) as Json
  const cri = table(config, criPath(config), true)!
  const runtimes = table(cri, ["runtimes"], true)!
  runtimes[RUNTIME_NAME] = { runtime_type: "io.containerd.runc.v2", options: { BinaryName: runtimePath } }
  if (makeDefault) cri.default_runtime_name = RUNTIME_NAME
  return `${stringifyToml(config)}\n`
}

/** containerd's config.toml without what install added. */
export const containerdUninstall = (text: string, backup: string | undefined): string => {
  const config = parseToml(text) as Json
  const before = (backup === undefined ? {} : parseToml(backup)) as Json
  const cri = table(config, criPath(config), false)
  if (cri !== undefined) {
    const runtimes = table(cri, ["runtimes"], false)
    if (runtimes !== undefined) delete runtimes[RUNTIME_NAME]
    if (cri.default_runtime_name === RUNTIME_NAME) {
      const previous = table(before, criPath(before), false)?.default_runtime_name
      if (previous === undefined) delete cri.default_runtime_name
      else cri.default_runtime_name = previous
    }
  }
  return `${stringifyToml(config)}\n`
}

/** The OCI hooks.d file CRI-O and Podman read: schema 1.0.0, every container, prestart. */
export const hooksdJson = (hookPath: string): string =>
  `${JSON.stringify(
    {
      version: "1.0.0",
      hook: { path: hookPath, args: ["ascend-docker-hook"], env: HOOK_ENV },
      when: { always: true },
      stages: ["prestart"]
    },
    null,
    2
  )}\n`

interface Options {
  readonly runtimes: ReadonlyArray<RuntimeName>
  readonly makeDefault: boolean
  readonly prefix: string
  readonly root: string
  readonly dryRun: boolean
  readonly cliProtocol: CliProtocol | undefined
}

const parseOptions = (args: ReadonlyArray<string>): Options | string => {
  const runtimes: Array<RuntimeName> = []
  let makeDefault = false
  let prefix = "/usr/local"
  let root = "/"
  let dryRun = false
  let cliProtocol: CliProtocol | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.indexOf("=")
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg
    const value = () => (eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : args[++i])
    if (flag === "--runtime") {
      const v = value()
      if (!(RUNTIMES as ReadonlyArray<string | undefined>).includes(v))
        return `--runtime takes one of ${RUNTIMES.join(", ")}`
      if (!runtimes.includes(v as RuntimeName)) runtimes.push(v as RuntimeName)
    } else if (flag === "--default-runtime") makeDefault = true
    else if (flag === "--dry-run") dryRun = true
    else if (flag === "--cli-protocol") {
      const v = value()
      if (v !== "2021" && v !== "2023") return "--cli-protocol takes 2021 or 2023"
      cliProtocol = v
    } else if (flag === "--prefix" || flag === "--root") {
      const v = value()
      if (v === undefined || !v.startsWith("/")) return `${flag} takes an absolute path`
      if (flag === "--prefix") prefix = v
      else root = v
    } else return `unknown argument ${JSON.stringify(arg)} (see --help)`
  }
  return { runtimes, makeDefault, prefix, root, dryRun, cliProtocol }
}

/** Reads a file's text under the root, or undefined if it does not exist. */
const readText = (file: string): string | undefined => {
  const fs = process.getBuiltinModule("node:fs")
  try {
    return fs.readFileSync(file, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}

/** Works out every change, reading but writing nothing. */
export const plan = (mode: "install" | "uninstall", o: Options): ReadonlyArray<Change> => {
  const fs = process.getBuiltinModule("node:fs")
  const path = process.getBuiltinModule("node:path")
  const at = (p: string) => path.join(o.root, p)
  const hookPath = path.join(o.prefix, "bin", "ascend-docker-hook")
  const runtimePath = path.join(o.prefix, "bin", "ascend-docker-runtime")
  const changes: Array<Change> = []
  const npuSmiDir =
    !fs.existsSync(at("/usr/local/bin/npu-smi")) && fs.existsSync(at("/usr/local/sbin/npu-smi"))
      ? "/usr/local/sbin"
      : "/usr/local/bin"
  // Which protocol the CLI next to the hook speaks decides which routes can give a container its devices.
  const cli = at(path.join(o.prefix, "bin", "ascend-docker-cli"))
  const protocol: CliProtocol =
    o.cliProtocol ?? (fs.existsSync(cli) ? cliProtocolOf(new Uint8Array(fs.readFileSync(cli))) : "2021")
  const fileChange = (p: string, next: string | undefined, why: string, fileMode = 0o644) => {
    const current = readText(at(p))
    if (next === undefined) {
      if (current !== undefined) changes.push({ path: p, action: "remove", why })
    } else if (current === next) changes.push({ path: p, action: "unchanged", why })
    else
      changes.push({ path: p, action: current === undefined ? "create" : "update", why, content: next, mode: fileMode })
  }
  const backupOf = (p: string, why: string) => {
    const current = readText(at(p))
    if (mode === "install" && current !== undefined && readText(at(`${p}${BACKUP}`)) === undefined) {
      changes.push({
        path: `${p}${BACKUP}`,
        action: "create",
        why: `backup of ${p} before ${why}`,
        content: current,
        mode: 0o600
      })
    }
    if (mode === "uninstall" && readText(at(`${p}${BACKUP}`)) !== undefined) {
      changes.push({ path: `${p}${BACKUP}`, action: "remove", why: `backup of ${p}, no longer needed` })
    }
  }

  if (mode === "install") {
    const source = sourceBinary()
    const bytes = fs.readFileSync(source)
    const current = fs.existsSync(at(hookPath)) ? fs.readFileSync(at(hookPath)) : undefined
    changes.push(
      current?.equals(bytes)
        ? { path: hookPath, action: "unchanged", why: "the hook binary" }
        : {
            path: hookPath,
            action: current === undefined ? "create" : "update",
            why: `the hook binary, from ${source}`,
            content: bytes,
            mode: 0o755
          }
    )
    let link: string | undefined
    try {
      link = fs.readlinkSync(at(runtimePath))
    } catch {}
    changes.push(
      link === "ascend-docker-hook"
        ? { path: runtimePath, action: "unchanged", why: "the runtime wrapper (a link to the hook binary)" }
        : {
            path: runtimePath,
            action: link === undefined ? "create" : "update",
            why: "the runtime wrapper (a link to the hook binary)",
            link: "ascend-docker-hook"
          }
    )
    const base = "/etc/ascend-docker-runtime.d/base.list"
    changes.push(
      readText(at(base)) === undefined
        ? {
            path: base,
            action: "create",
            why: "the default mount list (current Ascend driver paths)",
            content: defaultBaseList(npuSmiDir),
            mode: 0o644
          }
        : { path: base, action: "keep", why: "an existing mount list is never overwritten" }
    )
  } else {
    if (fs.existsSync(at(hookPath))) changes.push({ path: hookPath, action: "remove", why: "the hook binary" })
    let link: string | undefined
    try {
      link = fs.readlinkSync(at(runtimePath))
    } catch {}
    if (link === "ascend-docker-hook")
      changes.push({ path: runtimePath, action: "remove", why: "the runtime wrapper link" })
    const base = "/etc/ascend-docker-runtime.d/base.list"
    const text = readText(at(base))
    if (text === defaultBaseList("/usr/local/bin") || text === defaultBaseList("/usr/local/sbin"))
      changes.push({ path: base, action: "remove", why: "the default mount list, unedited" })
    else if (text !== undefined) changes.push({ path: base, action: "keep", why: "the mount list was edited; kept" })
  }

  /**
   * A runtime's own config file: merged on install (after a backup of the admin's file); on uninstall,
   * the backup itself when the file is as install left it (comments and all), else only our entries out.
   */
  const registerIn = (
    p: string,
    install: (text: string | undefined) => string,
    uninstall: (text: string, backup: string | undefined) => string | undefined,
    why: string
  ) => {
    const text = readText(at(p))
    const backup = readText(at(`${p}${BACKUP}`))
    backupOf(p, "adding the ascend runtime")
    if (mode === "install") fileChange(p, install(text), why)
    else if (text !== undefined) {
      const untouched = backup !== undefined && install(backup) === text
      fileChange(p, untouched ? backup : uninstall(text, backup), `${why} removed`)
    }
  }

  for (const runtime of o.runtimes) {
    if (runtime === "docker") {
      registerIn(
        "/etc/docker/daemon.json",
        (text) => dockerInstall(text, runtimePath, o.makeDefault),
        dockerUninstall,
        "docker: runtimes.ascend"
      )
    } else if (runtime === "containerd") {
      registerIn(
        "/etc/containerd/config.toml",
        (text) => containerdInstall(text, runtimePath, o.makeDefault),
        containerdUninstall,
        "containerd: runtimes.ascend"
      )
    } else {
      if (mode === "install" && protocol === "2023") {
        throw new Error(
          `${runtime}: the CLI speaks the 2023 protocol, which leaves the device nodes to the runtime wrapper; a hooks.d hook ` +
            `cannot add them, so it is not set up. ${
              runtime === "podman"
                ? "Use CDI instead: ascend-docker-hook cdi generate, then podman run --device ascend.com/npu=0"
                : "Run CRI-O containers through the wrapper (runtime path <prefix>/bin/ascend-docker-runtime), or use CDI"
            } (--cli-protocol 2021 if this CLI is in fact the 2021 one)`
        )
      }
      const p =
        runtime === "crio"
          ? "/usr/share/containers/oci/hooks.d/ascend-docker-hook.json"
          : "/etc/containers/oci/hooks.d/ascend-docker-hook.json"
      fileChange(
        p,
        mode === "install" ? hooksdJson(hookPath) : undefined,
        `${runtime}: OCI hook for every container, prestart`
      )
    }
  }
  return changes
}

/** Where the binary to install comes from: this very executable, or the one built next to the bundle. */
const sourceBinary = (): string => {
  const fs = process.getBuiltinModule("node:fs")
  const path = process.getBuiltinModule("node:path")
  if (isBinary()) return fs.realpathSync(process.execPath)
  const beside = path.join(selfDir(), "ascend-docker-hook")
  if (fs.existsSync(beside)) return beside
  throw new Error(`install needs the self-contained binary; none at ${beside} (run npm run build)`)
}

/** Applies the changes: each file written to a temp file and renamed over, dirs made as needed. */
const apply = (root: string, changes: ReadonlyArray<Change>) => {
  const fs = process.getBuiltinModule("node:fs")
  const path = process.getBuiltinModule("node:path")
  for (const c of changes) {
    const target = path.join(root, c.path)
    if (c.action === "remove") fs.rmSync(target, { force: true })
    else if (c.action === "create" || c.action === "update") {
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 })
      const tmp = `${target}.ascend-tmp`
      fs.rmSync(tmp, { force: true })
      if (c.link !== undefined) fs.symlinkSync(c.link, tmp)
      else {
        fs.writeFileSync(tmp, c.content!, { mode: c.mode ?? 0o644 })
        fs.chmodSync(tmp, c.mode ?? 0o644)
      }
      fs.renameSync(tmp, target)
    }
  }
}

/** `install` / `uninstall`: prints each change (`create`, `update`, `remove`, `unchanged`, `keep`), then makes them. */
export const runInstaller = (mode: "install" | "uninstall", args: ReadonlyArray<string>): number => {
  const fs = process.getBuiltinModule("node:fs")
  const out = (line: string) => fs.writeSync(1, `${line}\n`)
  if (args.includes("--help")) {
    out(INSTALL_USAGE)
    return 0
  }
  const options = parseOptions(args)
  if (typeof options === "string") {
    fs.writeSync(2, `ascend-docker-hook ${mode}: ${options}\n`)
    return 1
  }
  try {
    const changes = plan(mode, options)
    for (const c of changes) out(`${options.dryRun ? "would " : ""}${c.action.padEnd(9)} ${c.path}  (${c.why})`)
    if (!options.dryRun) apply(options.root, changes)
    const changed = changes.filter((c) => c.action !== "unchanged" && c.action !== "keep").length
    out(
      `${mode}: ${changed === 0 ? "nothing to change" : `${changed} change${changed === 1 ? "" : "s"}${options.dryRun ? " (dry run, nothing written)" : ""}`}`
    )
    if (mode === "install" && !options.dryRun && options.runtimes.includes("docker"))
      out("docker: restart dockerd to pick up the runtime")
    if (mode === "install" && !options.dryRun && options.runtimes.includes("containerd"))
      out("containerd: restart containerd to pick up the runtime")
    return 0
  } catch (e) {
    fs.writeSync(2, `ascend-docker-hook ${mode}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}\n`)
    return 1
  }
}
