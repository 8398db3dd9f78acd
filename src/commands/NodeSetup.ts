import { CLI_NAME, DEFAULT_CONFIG_DIR } from "../Defaults.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { diagnose } from "./Doctor.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { runInstaller } from "./Install.ts"
import { ENGINES, type EngineName, fingerprint, onHost, take } from "./nodesetup/Engines.ts"
import { claim, ownerDir, readOwner, release, withLock } from "./nodesetup/Owner.ts"

/**
 * node-setup: the installer image's entry point, one per node (a DaemonSet's pod). Against the host's root
 * mounted at --host-root it runs install (which copies this very binary onto the host), makes each engine
 * take the change, then stays up: ready for the probe once doctor passes for what it set up; on SIGTERM it
 * uninstalls (unless --keep-on-exit or a newer pod owns the install) and makes the engines take that too.
 */
const FLAGS: ReadonlyArray<Flag> = [
  { name: "--host-root", value: "DIR", absolute: true, help: "where the host's root is mounted (default /host)" },
  {
    name: "--runtime",
    value: "NAME",
    oneOf: ["docker", "containerd", "crio"],
    repeat: true,
    help: "set up this engine"
  },
  { name: "--mode", value: "M", oneOf: ["hook", "cdi"], help: "as install --mode" },
  { name: "--cli-protocol", value: "P", oneOf: ["2021", "2023"], help: "as install --cli-protocol" },
  { name: "--unprivileged-env", value: "P", oneOf: ["accept", "ignore", "refuse"], help: "as install" },
  { name: "--default-runtime", help: "as install --default-runtime" },
  { name: "--prefix", value: "DIR", absolute: true, help: "where bin/ goes on the host (default /usr/local)" },
  {
    name: "--restart-mode",
    value: "HOW",
    oneOf: ["signal", "systemd", "none"],
    help: "signal (default): SIGHUP to dockerd, SIGTERM to containerd / CRI-O (found by socket) and wait for its return; systemd: systemctl reload docker / restart containerd, crio through the host's system bus, then wait the same; none: only say what to restart"
  },
  { name: "--restart-timeout", value: "SECONDS", help: "how long to wait for an engine to take a change (default 60)" },
  { name: "--keep-on-exit", help: "on SIGTERM leave the install in place" },
  { name: "--probe", help: "readiness probe: exit 0 iff this pod's setup is done and the host passes doctor for it" },
  {
    name: "--mark-dir",
    value: "DIR",
    absolute: true,
    help: "where the readiness mark is kept, in the pod's own filesystem (default /run/ascend-node-setup)"
  },
  { name: "--help", help: "this text" }
]

export const NODE_SETUP_USAGE = `usage: ascend-docker-hook node-setup --runtime NAME... [--host-root DIR] [--restart-mode signal|systemd|none]
                                     [--keep-on-exit] [install's flags]
       ascend-docker-hook node-setup --probe

The installer image's entry point (a DaemonSet pod per node, hostPID, the host's /etc, /usr/local and /run
mounted under --host-root, /dev read-only). It installs onto the host as install --root HOST-ROOT does,
copying this binary to PREFIX/bin there, makes each engine take the change (dockerd: SIGHUP; containerd,
CRI-O: SIGTERM to the pid behind their socket, then waits until systemd has started them again; with
--restart-mode systemd the same asked of systemd over the host's system bus), and stays
up. --probe exits 0 once that is done and doctor finds nothing failing in what it set up. On SIGTERM it
uninstalls (byte for byte where nobody edited since) and makes the engines take that, unless --keep-on-exit
or a newer node-setup on this node has claimed the install since (HOST-ROOT/run/ascend-node-setup/owner.json).

${flagHelp(FLAGS)}`

interface Setup {
  readonly hostRoot: string
  readonly prefix: string
  readonly runtimes: ReadonlyArray<EngineName>
  readonly mode: "hook" | "cdi"
  readonly installArgs: ReadonlyArray<string>
  readonly restartMode: "signal" | "systemd" | "none"
  readonly timeoutMs: number
  readonly keep: boolean
  readonly markDir: string
}

const out = (line: string) => void nodeFs().writeSync(1, `${line}\n`)
const err = (line: string) => void nodeFs().writeSync(2, `ascend-docker-hook node-setup: ${line}\n`)

/** The flags as a Setup, or the error line. */
const setupOf = (args: ReadonlyArray<string>): Setup | string => {
  const flags = parseFlags(args, FLAGS)
  if (typeof flags === "string") return flags
  const timeout = flags.one("--restart-timeout") ?? "60"
  if (!/^[0-9]{1,4}$/.test(timeout) || Number(timeout) === 0)
    return `--restart-timeout takes whole seconds from 1 to 9999, not ${JSON.stringify(timeout)}`
  const hostRoot = (flags.one("--host-root") ?? "/host").replace(/\/+$/, "") || "/"
  const prefix = flags.one("--prefix") ?? "/usr/local"
  const runtimes = flags.all("--runtime") as ReadonlyArray<EngineName>
  const passed = ["--mode", "--cli-protocol", "--unprivileged-env"].flatMap((f) => {
    const v = flags.one(f)
    return v === undefined ? [] : [f, v]
  })
  return {
    hostRoot,
    prefix,
    runtimes,
    mode: (flags.one("--mode") ?? "hook") as Setup["mode"],
    installArgs: [
      ...["--root", hostRoot, "--prefix", prefix],
      ...runtimes.flatMap((r) => ["--runtime", r]),
      ...(flags.has("--default-runtime") ? ["--default-runtime"] : []),
      ...passed
    ],
    restartMode: (flags.one("--restart-mode") ?? "signal") as Setup["restartMode"],
    timeoutMs: Number(timeout) * 1000,
    keep: flags.has("--keep-on-exit"),
    markDir: flags.one("--mark-dir") ?? "/run/ascend-node-setup"
  }
}

/**
 * Runs install or uninstall, then makes each engine whose files changed take it. `done`: the installer
 * succeeded (it writes all or nothing); `ok`: and every engine took the change.
 */
const change = async (s: Setup, mode: "install" | "uninstall"): Promise<{ done: boolean; ok: boolean }> => {
  const engines = s.runtimes.map((r) => ENGINES[r])
  const before = engines.map((e) => fingerprint(s.hostRoot, e))
  if (runInstaller(mode, s.installArgs) !== 0) return { done: false, ok: false }
  let ok = true
  for (const [i, engine] of engines.entries()) {
    if (fingerprint(s.hostRoot, engine) === before[i]) {
      out(`${engine.name}: its config did not change; ${engine.daemon} left as it is`)
      continue
    }
    const taken = await take(s.hostRoot, engine, s.restartMode, mode === "install", s.timeoutMs)
    if (taken.ok) out(taken.line)
    else {
      err(taken.line)
      ok = false
    }
  }
  return { done: true, ok }
}

/** The checks of doctor that concern what node-setup set up, and whether they pass. */
export const readiness = (s: Pick<Setup, "hostRoot" | "prefix" | "runtimes" | "mode">) => {
  const checks = diagnose({
    root: s.hostRoot,
    configDir: DEFAULT_CONFIG_DIR,
    cliPath: `${s.prefix.replace(/\/+$/, "")}/bin/${CLI_NAME}`,
    devRoot: "/dev"
  })
  // The driver and its device nodes are not node-setup's to set up (doctor reports them; the device plugin
  // offers no NPU there); in CDI mode the hook's CLI is not used.
  const ours = checks.filter(
    (c) => c.id !== "npus" && !c.id.startsWith("device:") && !(s.mode === "cdi" && c.id.startsWith("cli"))
  )
  const problems = ours.filter((c) => c.status === "fail").map((c) => c.message)
  for (const r of s.runtimes) {
    if (r === "crio") {
      if (!onHost(s.hostRoot, ENGINES.crio.files[1]!)) problems.push(`crio: ${ENGINES.crio.files[1]} is missing`)
    } else if (!ours.some((c) => c.id === r && c.status === "ok"))
      problems.push(`${r}: doctor does not find the ascend runtime registered`)
  }
  return problems
}

const MARK = "ready.json"

/** --probe: the mark this pod's node-setup left, and doctor on the host for what it set up. */
const probe = (markDir: string): number => {
  let s: Setup
  try {
    s = JSON.parse(nodeFs().readFileSync(`${markDir}/${MARK}`, "utf8")) as Setup
  } catch {
    err(`not ready: no ${markDir}/${MARK} (node-setup has not finished, or it failed: see its log)`)
    return 1
  }
  const problems = readiness(s)
  for (const p of problems) err(`not ready: ${p}`)
  if (problems.length === 0) out(`ready: ${s.runtimes.join(", ")} set up on ${s.hostRoot}`)
  return problems.length === 0 ? 0 : 1
}

/** Resolves on the first SIGTERM or SIGINT (kept alive meanwhile). */
const stopSignal = (): Promise<string> =>
  new Promise((resolve) => {
    const alive = setInterval(() => {}, 1 << 30)
    const on = (sig: string) => () => {
      clearInterval(alive)
      resolve(sig)
    }
    process.once("SIGTERM", on("SIGTERM"))
    process.once("SIGINT", on("SIGINT"))
  })

/** The whole life of node-setup: set up, stay up, undo on SIGTERM. */
const serve = async (s: Setup): Promise<number> => {
  const fs = nodeFs()
  const stop = stopSignal()
  const instance = `${process.getBuiltinModule("node:os").hostname()}/${process.pid}/${Date.now().toString(36)}`
  const dir = ownerDir(s.hostRoot)
  const lockWait = 2 * s.timeoutMs * s.runtimes.length + 30_000
  fs.rmSync(`${s.markDir}/${MARK}`, { force: true })
  // Install and claim under the lock: an older pod's check-and-uninstall runs wholly before or after.
  // Claimed only when install succeeded (it writes all or nothing): a failed one leaves the last owner's.
  const setUp = await withLock(dir, lockWait, async () => {
    const { done, ok } = await change(s, "install")
    if (done) {
      const record = claim(dir, instance, s.installArgs)
      out(`node-setup: ${instance} owns the install on this node (generation ${record.generation})`)
    }
    return ok
  })
  if (setUp) {
    fs.mkdirSync(s.markDir, { recursive: true, mode: 0o755 })
    fs.writeFileSync(`${s.markDir}/${MARK}`, JSON.stringify(s))
    const problems = readiness(s)
    out(
      problems.length === 0
        ? "node-setup: done; the host passes doctor for it"
        : `node-setup: done; not ready yet: ${problems.join("; ")}`
    )
  } else err("setup did not complete (see above); not ready, staying up so that SIGTERM can undo it")
  const sig = await stop
  fs.rmSync(`${s.markDir}/${MARK}`, { force: true })
  if (s.keep) {
    out(`node-setup: ${sig}: --keep-on-exit, the install stays`)
    return 0
  }
  return withLock(dir, lockWait, async () => {
    const owner = readOwner(dir)
    if (owner?.instance !== instance) {
      out(
        `node-setup: ${sig}: ${owner === undefined ? "nobody" : `${owner.instance} (generation ${owner.generation})`} owns the install now; left in place`
      )
      return 0
    }
    out(`node-setup: ${sig}: undoing the install`)
    const { done, ok } = await change(s, "uninstall")
    if (done) release(dir, instance)
    return ok ? 0 : 1
  })
}

/** The node-setup subcommand. */
export const runNodeSetup = (args: ReadonlyArray<string>): number | Promise<number> => {
  if (args.includes("--help")) {
    out(NODE_SETUP_USAGE)
    return 0
  }
  const s = setupOf(args)
  if (typeof s === "string") {
    err(s)
    return 1
  }
  if (args.includes("--probe")) return probe(s.markDir)
  if (s.runtimes.length === 0) {
    err("name at least one engine: --runtime docker|containerd|crio")
    return 1
  }
  if (!nodeFs().existsSync(`${s.hostRoot}/etc`)) {
    err(`--host-root ${s.hostRoot}: no etc/ there; mount the host's /etc at ${s.hostRoot}/etc`)
    return 1
  }
  return serve(s).catch((e: unknown) => {
    err(e instanceof Error ? e.message : String(e))
    return 1
  })
}
