import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import { parse as parseToml } from "smol-toml"
import { nodeFs } from "../platform/NodeFs.ts"
import * as NodePlatform from "../platform/NodePlatform.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { joinPath } from "../schemas/Paths.ts"
import { type DeviceNode, DeviceNodes } from "../services/DeviceNodes.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { type HostFiles, hostFiles } from "./HostFiles.ts"
import { importedFiles } from "./install/ContainerdToml.ts"

const FLAGS: ReadonlyArray<Flag> = [
  { name: "--dev-root", value: "DIR", absolute: true, help: "where the device nodes are (default /dev)" },
  { name: "--dry-run", help: "print the links it would make, make none" },
  { name: "--help", help: "this text" }
]

export const DEV_LINKS_USAGE = `usage: ascend-docker-hook dev-links [--dev-root DIR] [--dry-run]

Makes /dev/char/<major>:<minor> (block devices: /dev/block/...) a link to each NPU device node the host
has: every davinciN and the shared nodes, the set the wrapper and cdi generate give containers. systemd
resolves a container's device rules through these links when it re-applies them (systemctl daemon-reload,
under the systemd cgroup driver): a rule whose node has no such link is dropped, and the container loses
its NPUs. The driver makes its nodes without them. Idempotent; a link or file already there that does not
lead to the node is left alone and named (exit 1); a link of this form whose node's numbers changed is
replaced. install --dev-char-links runs it at every boot.

${flagHelp(FLAGS)}`

/** Where one node's /dev/char link stands. `stale`: a link of our form whose target is gone or renumbered. */
export interface DevLink {
  readonly node: DeviceNode
  readonly link: string
  readonly target: string
  readonly state: "present" | "missing" | "stale" | "foreign"
}

/** The link text this tool writes for a node: relative, as udev writes its own. */
const linkTarget = (devRoot: string, node: DeviceNode) => `..${node.hostPath.slice(devRoot.replace(/\/+$/, "").length)}`
const OURS = /^\.\.\/(v?davinci\d+|davinci_manager(_docker)?|devmm_svm|hisi_hdc|dvpp_cmdlist|(uburma|ummu)\/[^/]+)$/

/** The NPU nodes under `devRoot`: every davinciN and the shared ones, read as the wrapper reads them. */
export const npuNodes = (host: HostFiles, devRoot: string): ReadonlyArray<DeviceNode> => {
  const program = Effect.gen(function* () {
    const nodes = yield* DeviceNodes
    return [...(yield* nodes.npus(yield* nodes.present)), ...(yield* nodes.shared)]
  })
  const exit = Effect.runSyncExit(
    program.pipe(Effect.provide(DeviceNodes.layer(devRoot)), Effect.provideService(FileSystem.FileSystem, host.fs))
  )
  if (Exit.isFailure(exit)) throw new Error(NodePlatform.failureMessage(exit.cause))
  return exit.value
}

const isLink = (host: HostFiles, path: string): boolean => {
  try {
    return host.lstat(path).isSymbolicLink()
  } catch {
    return false
  }
}

const leadsTo = (host: HostFiles, link: string, node: DeviceNode): boolean => {
  try {
    return host.realPath(link) === host.realPath(node.hostPath)
  } catch {
    return false
  }
}

const stateOf = (host: HostFiles, node: DeviceNode, link: string): DevLink["state"] => {
  if (!isLink(host, link)) return host.exists(link) ? "foreign" : "missing"
  if (leadsTo(host, link, node)) return "present"
  const text = Effect.runSync(Effect.orElseSucceed(host.fs.readLink(link), () => ""))
  return OURS.test(text) ? "stale" : "foreign"
}

/** Every NPU node's /dev/char (or /dev/block) link and where it stands; nothing is changed. */
export const devLinks = (host: HostFiles, devRoot: string): ReadonlyArray<DevLink> =>
  npuNodes(host, devRoot).map((node) => {
    const link = joinPath(devRoot, `${node.type === "c" ? "char" : "block"}/${node.major}:${node.minor}`)
    const target = linkTarget(devRoot, node)
    return { node, link, target, state: stateOf(host, node, link) }
  })

/** Makes one link atomically: a link beside it under a name of this run's, renamed over. */
const makeLink = (host: HostFiles, l: DevLink) =>
  Effect.runSync(
    Effect.gen(function* () {
      const dir = l.link.slice(0, l.link.lastIndexOf("/"))
      yield* host.fs.makeDirectory(dir, { recursive: true, mode: 0o755 })
      const temp = `${dir}/.${l.link.slice(dir.length + 1)}.ascend-new.${process.pid}`
      yield* host.fs.remove(temp, { force: true }).pipe(Effect.ignore)
      yield* host.fs.symlink(l.target, temp)
      yield* host.fs.rename(temp, l.link)
    })
  )

/** `dev-links`: makes the missing links, replaces stale ones of ours, names the ones it must leave. */
export const runDevLinks = (
  args: ReadonlyArray<string>,
  host: HostFiles = hostFiles(SyncFileSystem.make(nodeFs()))
): number => {
  const fs = nodeFs()
  const out = (m: string) => fs.writeSync(1, `${m}\n`)
  const err = (m: string) => {
    fs.writeSync(2, `ascend-docker-hook dev-links: ${m}\n`)
    return 1
  }
  if (args.includes("--help")) {
    out(DEV_LINKS_USAGE)
    return 0
  }
  const flags = parseFlags(args, FLAGS)
  if (typeof flags === "string") return err(flags)
  const devRoot = flags.one("--dev-root") ?? "/dev"
  const dryRun = flags.has("--dry-run")
  let links: ReadonlyArray<DevLink>
  try {
    links = devLinks(host, devRoot)
  } catch (e) {
    return err((e as Error).message)
  }
  if (links.length === 0) return err(`no NPU device nodes under ${devRoot}`)
  const foreign = links.filter((l) => l.state === "foreign")
  for (const l of links.filter((l) => l.state === "missing" || l.state === "stale")) {
    try {
      if (!dryRun) makeLink(host, l)
    } catch (e) {
      return err(`cannot make ${l.link}: ${(e as Error).message}`)
    }
    out(
      `${dryRun ? "would link" : "linked"} ${l.link} -> ${l.target}${l.state === "stale" ? " (replacing a stale one)" : ""}`
    )
  }
  for (const l of foreign)
    fs.writeSync(2, `ascend-docker-hook dev-links: ${l.link} is not a link to ${l.node.hostPath}; left alone\n`)
  const made = links.filter((l) => l.state === "missing" || l.state === "stale").length
  out(
    `dev-links: ${made} ${dryRun ? "to make" : "made"}, ${links.length - made - foreign.length} already there, ${foreign.length} left alone`
  )
  return foreign.length > 0 ? 1 : 0
}

/** An engine whose config puts containers under the systemd cgroup driver, and where it says so. */
export interface SystemdCgroupUser {
  readonly engine: "containerd" | "docker" | "crio"
  readonly where: string
}

const walkToml = (v: unknown, key: string): boolean =>
  typeof v === "object" && v !== null && !(v instanceof Date)
    ? Object.entries(v).some(([k, x]) => (k === key && x === true) || walkToml(x, key))
    : false

const tomlOf = (host: HostFiles, file: string): unknown => {
  try {
    return parseToml(host.readText(file))
  } catch {
    return undefined
  }
}

/**
 * The engines on this host whose config selects the systemd cgroup driver (where a daemon-reload re-applies
 * device rules): containerd's runc option SystemdCgroup = true (config.toml and its imports), Docker's
 * exec-opts native.cgroupdriver=systemd, CRI-O's cgroup_manager (systemd unless set otherwise).
 */
export const systemdCgroupUsers = (host: HostFiles, root: string): ReadonlyArray<SystemdCgroupUser> => {
  const at = (p: string) => joinPath(root, p)
  const found: Array<SystemdCgroupUser> = []
  const containerd = tomlOf(host, at("/etc/containerd/config.toml")) as { imports?: unknown } | undefined
  if (containerd !== undefined) {
    const imports = Array.isArray(containerd.imports) ? containerd.imports.filter((i) => typeof i === "string") : []
    const files = ["/etc/containerd/config.toml", ...importedFiles(imports, (d) => host.namesIn(at(d)))]
    const file = files.find((f) => walkToml(f === files[0] ? containerd : tomlOf(host, at(f)), "SystemdCgroup"))
    if (file !== undefined) found.push({ engine: "containerd", where: `${file}: SystemdCgroup = true` })
  }
  try {
    const daemon = JSON.parse(host.readText(at("/etc/docker/daemon.json"))) as { "exec-opts"?: unknown }
    const opts = Array.isArray(daemon["exec-opts"]) ? daemon["exec-opts"] : []
    if (opts.some((o) => typeof o === "string" && o.replace(/\s/g, "") === "native.cgroupdriver=systemd"))
      found.push({ engine: "docker", where: "/etc/docker/daemon.json: exec-opts native.cgroupdriver=systemd" })
  } catch {}
  const crio = [
    "/etc/crio/crio.conf",
    ...host.namesIn(at("/etc/crio/crio.conf.d")).map((n) => `/etc/crio/crio.conf.d/${n}`)
  ]
  const present = crio.filter((f) => host.exists(at(f)))
  if (present.length > 0) {
    const manager = present
      .map((f) => /^\s*cgroup_manager\s*=\s*"([^"]*)"/m.exec(host.readText(at(f)))?.[1])
      .filter((m) => m !== undefined)
      .at(-1)
    if (manager === undefined || manager === "systemd")
      found.push({
        engine: "crio",
        where: manager === undefined ? "CRI-O's default cgroup_manager (systemd)" : 'cgroup_manager = "systemd"'
      })
  }
  return found
}
