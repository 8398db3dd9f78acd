import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The project root and the built hook. */
export const ROOT = path.resolve(import.meta.dirname, "../..")
export const HOOK = path.join(ROOT, "dist/ascend-docker-hook.cjs")
/** The self-contained binary for this machine (Bun-compiled), and the arm64 one, run under qemu-user. */
export const BINARY = path.join(ROOT, "dist/ascend-docker-hook")
export const ARM64_BINARY = path.join(ROOT, "dist/ascend-docker-hook-linux-arm64")
/** How to run an arm64 program here: Debian's qemu-user-static with the arm64 C library (libc6-arm64-cross). */
export const QEMU_ARM64 = ["/usr/bin/qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"] as const
/** True under CI (which .ci/run sets itself): there a missing tool fails a suite instead of skipping it. */
export const inCI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false"

/**
 * The builds every process-level suite runs: the Node bundle, this machine's binary and, where qemu-user
 * can run it (always in CI, where .ci/run installs it), the arm64 binary. Outside CI without qemu the arm64
 * runs are left out with a warning, never silently.
 */
export const processBuilds = (): ReadonlyArray<Build> => {
  const qemu = fs.existsSync(QEMU_ARM64[0]) && fs.existsSync(`${QEMU_ARM64[2]}/lib/ld-linux-aarch64.so.1`)
  if (!qemu && !inCI) {
    console.warn("warning: qemu-aarch64-static or libc6-arm64-cross missing: the arm64 binary's runs are left out")
    return ["bundle", "binary"]
  }
  return ["bundle", "binary", "arm64"]
}

/** The builds of the hook, as the command that runs each. */
export const BUILDS = {
  bundle: () => [NODE, HOOK],
  binary: () => [BINARY],
  arm64: () => [...QEMU_ARM64, ARM64_BINARY]
} as const
export type Build = keyof typeof BUILDS

/** A build's program copied into `dir` (alone there, so nothing is "next to it" but what a test puts), as its command. */
export const relocatedBuild = (build: Build, dir: string): ReadonlyArray<string> => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  const from = build === "bundle" ? HOOK : build === "binary" ? BINARY : ARM64_BINARY
  const to = path.join(dir, build === "bundle" ? "ascend-docker-hook.cjs" : "ascend-docker-hook")
  fs.copyFileSync(fs.realpathSync(from), to)
  fs.chmodSync(to, 0o755)
  return build === "bundle" ? [NODE, to] : build === "binary" ? [to] : [...QEMU_ARM64, to]
}
/** The Node the tests run on: the project's Node 24 under `npm test`. */
export const NODE = process.execPath

const safe = (dir: string): boolean => {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      const st = fs.statSync(d)
      if ((st.mode & 0o022) !== 0 || (st.uid !== 0 && st.uid !== process.getuid!())) return false
    } catch {
      return false
    }
    if (d === "/") return true
  }
}

/**
 * A base directory whose parents are all owned by root (or us) and writable by nobody else, so the hook's
 * file-trust checks pass on fixtures. /tmp (1777) would not do; CI clones wherever it likes.
 */
export const trustedBase = (): string => {
  const candidates = [path.join(os.homedir(), ".cache"), "/var/lib"]
  for (const parent of candidates) {
    if (!fs.existsSync(parent)) fs.mkdirSync(parent, { recursive: true, mode: 0o755 })
    if (!safe(parent)) continue
    const base = path.join(parent, "ascend-docker-hook-tests")
    fs.mkdirSync(base, { recursive: true, mode: 0o755 })
    fs.chmodSync(base, 0o755)
    return base
  }
  throw new Error(`no trusted base directory among ${candidates.join(", ")}`)
}

/** The CLI generations: 2021 (the seed's, with --devices) and 2023 (today's six options, no --devices). */
export type CliProtocol = "2021" | "2023"

/** The compiled recording CLI of a generation, built once by the global setup (each alone in its dir). */
export const recordingCli = (protocol: CliProtocol = "2021"): string =>
  path.join(trustedBase(), protocol === "2021" ? "bin" : "bin-2023", "ascend-docker-cli")

/** Compiles test/support/recording-cli.c for both generations, mode 0755. */
export const buildRecordingCli = (): void => {
  for (const protocol of ["2021", "2023"] as const) {
    const out = recordingCli(protocol)
    fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o755 })
    fs.chmodSync(path.dirname(out), 0o755)
    const tmp = `${out}.${process.pid}`
    const define = protocol === "2023" ? ["-DCLI_2023"] : []
    execFileSync("gcc", ["-O2", "-Wall", ...define, "-o", tmp, path.join(ROOT, "test/support/recording-cli.c")])
    fs.chmodSync(tmp, 0o755)
    fs.renameSync(tmp, out)
  }
}

/** A fresh, trusted scratch directory for one test; removed by the caller's cleanup. */
export const scratch = (): string => {
  const dir = fs.mkdtempSync(path.join(trustedBase(), "t-"))
  fs.chmodSync(dir, 0o755)
  return dir
}

/** What a test host looks like: list files, a bundle's config.json, and the state on stdin. */
export interface HostSpec {
  readonly env?: ReadonlyArray<string>
  readonly lists?: Readonly<Record<string, string>>
  readonly config?: unknown
  readonly rootPath?: string
  readonly pid?: number
}

/** A host laid out under a scratch dir. */
export interface Host {
  readonly dir: string
  readonly configDir: string
  readonly bundle: string
  readonly record: string
  readonly cli: string
  readonly state: string
}

/** Lays out config dir, bundle and state; the CLI defaults to the shared recording one. */
export const makeHost = (spec: HostSpec = {}): Host => {
  const dir = scratch()
  const configDir = path.join(dir, "conf")
  const bundle = path.join(dir, "bundle")
  fs.mkdirSync(configDir, { mode: 0o755 })
  fs.mkdirSync(path.join(bundle, "rootfs"), { recursive: true, mode: 0o755 })
  for (const [name, content] of Object.entries(spec.lists ?? { base: "" })) {
    fs.writeFileSync(path.join(configDir, `${name}.list`), content, { mode: 0o644 })
  }
  const config = spec.config ?? { process: { env: spec.env ?? [] }, root: { path: spec.rootPath ?? "rootfs" } }
  fs.writeFileSync(path.join(bundle, "config.json"), typeof config === "string" ? config : JSON.stringify(config))
  const state = JSON.stringify({ ociVersion: "1.0.2-dev", id: "c1", status: "creating", pid: spec.pid ?? 4242, bundle })
  return { dir, configDir, bundle, record: path.join(dir, "record.json"), cli: recordingCli(), state }
}

/** What one run of the built hook did. */
export interface HookRun {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  /** The recording CLI's record, or undefined when the CLI never ran. */
  readonly cli?: {
    readonly argv: ReadonlyArray<string>
    readonly env: ReadonlyArray<string>
    readonly nonblock: ReadonlyArray<number>
  }
}

/** Runs the built hook as a process, as a runtime would: state on stdin, cwd the bundle. */
export const runHook = (
  host: Host,
  options: {
    readonly args?: ReadonlyArray<string>
    readonly stdin?: string | Buffer
    readonly env?: Readonly<Record<string, string>>
    readonly cliArgs?: boolean
    readonly build?: Build
  } = {}
): HookRun => {
  fs.rmSync(host.record, { force: true })
  const [command, ...prefix] = BUILDS[options.build ?? "bundle"]()
  const args = [
    ...prefix,
    ...(options.cliArgs === false ? [] : ["--config-dir", host.configDir, "--cli", host.cli]),
    ...(options.args ?? [])
  ]
  const result = spawnSync(command!, args, {
    cwd: host.bundle,
    input: options.stdin ?? host.state,
    env: { ADH_RECORD: host.record, ...options.env },
    encoding: "utf8",
    timeout: 30_000
  })
  const cli = fs.existsSync(host.record) ? JSON.parse(fs.readFileSync(host.record, "utf8")) : undefined
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, cli }
}

/** Removes a scratch dir, first unmounting anything a runtime left mounted under it (Podman does). */
export const cleanup = (dir: string) => {
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
  for (const m of mounts) spawnSync("umount", ["-l", m])
  fs.rmSync(dir, { recursive: true, force: true })
}

/** What the README's embedding example (example/embed.ts) says the hook would exec. */
export const EMBED_EXAMPLE_ARGV: ReadonlyArray<string> = [
  "/usr/local/bin/ascend-docker-cli",
  "--devices",
  "0,1",
  "--pid",
  "42",
  "--rootfs",
  "/run/c1/rootfs",
  "--mount-file",
  "/usr/local/bin/npu-smi",
  "--mount-dir",
  "/usr/local/Ascend/driver/lib64"
]
