import { CLI_NAME, DEFAULT_CONFIG_DIR } from "../Defaults.ts"
import { defectText, errorLine } from "../ErrorLine.ts"
import { bunNative } from "../platform/BunNative.ts"
import { replaceProcess } from "../platform/execve.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { selfDir } from "../platform/Self.ts"
import { withoutLoaderVariables } from "../schemas/LoaderEnv.ts"
import { basenameOf, dirnameOf, joinPath, resolveFrom } from "../schemas/Paths.ts"
import { parseRuncArgs, type RuncCommand } from "../wrapper/RuncArgs.ts"
import { parseRuntimeConf, RUNTIME_CONF, RUNTIME_CONF_MAX_BYTES, type RuntimeConfKey } from "../wrapper/RuntimeConf.ts"
import { containerIdOf, DEFAULT_STATE_DIR, recordPath } from "../wrapper/VnpuRecord.ts"

/**
 * `ascend-docker-runtime`: an OCI runtime for Docker and containerd that is runc plus the hook. Invoked
 * with runc's command line; on `create` and `run` it edits the bundle's config.json for a container that
 * asks for NPUs (src/wrapper), then becomes runc with the arguments unchanged. Every other command goes
 * straight to runc without loading Effect or anything else. This file is the only code of the wrapper
 * that touches `process`. Its settings come from its own environment (the daemon's, set by the admin),
 * never from a container:
 *   ASCEND_DOCKER_RUNTIME_RUNC       the real runc (default: `runc` on PATH, then the usual sbin/bin dirs)
 *   ASCEND_DOCKER_RUNTIME_HOOK       the hook (default: ascend-docker-hook next to this program)
 *   ASCEND_DOCKER_RUNTIME_HOOK_ARGS  extra arguments for the hook, separated by spaces
 *   ASCEND_DOCKER_RUNTIME_MODE       hook (default) or cdi (no hook, no CLI: the CDI edits applied here)
 *   ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL  2021 or 2023 (default: detected from the CLI next to the hook)
 *   ASCEND_DOCKER_RUNTIME_DEV_ROOT   where the device nodes are (default /dev)
 *   ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV  accept (default), ignore or refuse an env request from a
 *                                    container without CAP_SYS_ADMIN (passed on to the hook)
 *   ASCEND_DOCKER_RUNTIME_CONFIG_DIR the mount lists' dir (default /etc/ascend-docker-runtime.d; passed
 *                                    on to the hook as --config-dir when set)
 * On create and run, the same keys (but RUNC and CONFIG_DIR) are also read from runtime.conf in the config
 * dir (wrapper/RuntimeConf.ts), for engines that cannot give a runtime an env; the env wins.
 */
const PROGRAM = "ascend-docker-runtime"
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/** The real runc, found as runc's callers find it (PATH), skipping this program if it is named runc. */
const findRunc = (env: NodeJS.ProcessEnv): string | undefined => {
  const configured = env.ASCEND_DOCKER_RUNTIME_RUNC
  if (configured !== undefined && configured !== "") return configured
  // Absolute dirs only, in a loop (no array method: every container's create runs this).
  const dirs: Array<string> = []
  for (const dir of `${env.PATH ?? ""}:${DEFAULT_PATH}`.split(":")) if (dir.startsWith("/")) dirs.push(dir)
  const bun = bunNative()
  if (bun !== undefined) {
    // In the binary, without node:fs: the same search, and a candidate of another size than this program
    // is certainly not this program. One of the same size is left to the exact check below.
    const found = bun.which("runc", { PATH: dirs.join(":") })
    if (found === null) return undefined
    if (bun.file(found).size !== bun.file(process.execPath).size) return found
  }
  const fs = nodeFs()
  const self = fs.realpathSync(process.execPath)
  for (const dir of dirs) {
    const candidate = joinPath(dir, "runc")
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile() && fs.realpathSync(candidate) !== self) return candidate
    } catch {}
  }
  return undefined
}

/**
 * runtime.conf's settings, or the reason it is refused; none when there is no file. Read only if it is a
 * regular file (not a link) of root's or ours, and neither it nor its directory is writable by others.
 */
const readRuntimeConf = (
  fs: typeof import("node:fs"),
  file: string
): Partial<Record<RuntimeConfKey, string>> | string => {
  let st: import("node:fs").Stats
  try {
    st = fs.lstatSync(file)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? {} : `${file}: ${(e as Error).message}`
  }
  const uid = process.getuid?.() ?? 0
  const trusted = (s: import("node:fs").Stats) => (s.uid === 0 || s.uid === uid) && (s.mode & 0o022) === 0
  if (!st.isFile()) return `${file} is not a regular file; it decides what every container gets`
  if (!trusted(st) || !trusted(fs.statSync(dirnameOf(file))))
    return `${file} (or its directory) is not root's or is writable by others; it decides what every container gets`
  if (st.size > RUNTIME_CONF_MAX_BYTES) return `${file} is larger than ${RUNTIME_CONF_MAX_BYTES} bytes`
  const parsed = parseRuntimeConf(fs.readFileSync(file, "utf8"))
  return typeof parsed === "string" ? `${dirnameOf(file)}/${parsed}` : parsed
}

/**
 * A refusal: the line on stderr, and in runc's log when the engine gave one (containerd's shim and
 * dockerd read a failed runtime's error from there, not from stderr), in runc's format.
 */
const refuser =
  (fs: () => typeof import("node:fs"), command: RuncCommand) =>
  (message: string): number => {
    const line = errorLine(message, PROGRAM)
    fs().writeSync(2, line)
    if (command.log !== undefined && command.log !== "") {
      const msg = line.trimEnd()
      const time = new Date().toISOString()
      const entry =
        command.logFormat === "json"
          ? `${JSON.stringify({ level: "error", msg, time })}\n`
          : `time="${time}" level=error msg=${JSON.stringify(msg)}\n`
      try {
        fs().appendFileSync(command.log, entry, { mode: 0o600 })
      } catch {}
    }
    return 1
  }

/** The vNPU parts (bin/destroy.ts), loaded only for the commands that need them. */
const vnpuRuntime = () => require("./destroy.ts") as typeof import("./destroy.ts")

/**
 * runc for a container that got a vNPU: as a child, not by execve, so that a runc that refuses the container
 * (before any poststop hook could run) is answered by destroying the vNPU. runc's status is the wrapper's.
 */
const runcForVnpu = (
  runc: string,
  args: ReadonlyArray<string>,
  runcEnv: Record<string, string>,
  settle: (ok: boolean) => string | undefined,
  refuse: (message: string) => number
): number => {
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process")
  const result = spawnSync(runc, args, { stdio: "inherit", env: runcEnv })
  const status = result.error !== undefined ? 1 : (result.status ?? 1)
  const failure = settle(status === 0)
  if (failure !== undefined) refuse(failure)
  return status
}

const main = (): number => {
  const args = process.argv.slice(2)
  const env = process.env
  const runc = findRunc(env)
  // node:fs only where a command needs it: the pass-through of the binary never loads it.
  const fs = nodeFs
  if (runc === undefined) {
    fs().writeSync(2, errorLine("cannot find runc (set ASCEND_DOCKER_RUNTIME_RUNC)", PROGRAM))
    return 1
  }
  // runc gets the daemon's env without what would make a root program load foreign code (SECURITY.md).
  const runcEnv = withoutLoaderVariables(env)
  const command = parseRuncArgs(args)
  const refuse = refuser(fs, command)
  const exec = (): number => {
    try {
      return replaceProcess(runc, [runc, ...args], runcEnv)
    } catch (e) {
      return refuse(`cannot run ${runc}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  if (command.command === "create" || command.command === "run") {
    const configDir = env.ASCEND_DOCKER_RUNTIME_CONFIG_DIR || undefined
    const conf = readRuntimeConf(
      fs(),
      joinPath(resolveFrom(process.cwd(), configDir ?? DEFAULT_CONFIG_DIR), RUNTIME_CONF)
    )
    if (typeof conf === "string") return refuse(conf)
    const setting = (key: RuntimeConfKey): string | undefined => env[key] || conf[key] || undefined
    const mode = setting("ASCEND_DOCKER_RUNTIME_MODE") || "hook"
    if (mode !== "hook" && mode !== "cdi") {
      return refuse(`ASCEND_DOCKER_RUNTIME_MODE must be hook or cdi, not ${JSON.stringify(mode)}`)
    }
    const protocol = setting("ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL")
    if (protocol !== undefined && protocol !== "2021" && protocol !== "2023") {
      return refuse(`ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL must be 2021 or 2023, not ${JSON.stringify(protocol)}`)
    }
    const policy = setting("ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV") || "accept"
    if (policy !== "accept" && policy !== "ignore" && policy !== "refuse") {
      return refuse(
        `ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV must be accept, ignore or refuse, not ${JSON.stringify(policy)}`
      )
    }
    const cwd = process.cwd()
    const bundle = resolveFrom(cwd, command.bundle ?? ".")
    // Most containers ask for nothing: their mark is made without loading Effect; anything else, or anything
    // that path is not sure of, takes the full path from the start.
    const { markIfNoRequest } = require("../wrapper/NoRequest.ts") as typeof import("../wrapper/NoRequest.ts")
    const look = markIfNoRequest(fs(), bundle)
    if (look === "edited" || look === "unchanged") return exec()
    const hookPath = setting("ASCEND_DOCKER_RUNTIME_HOOK") || joinPath(selfDir(), "ascend-docker-hook")
    const { prepareBundle } = require("../wrapper/WrapperMain.ts") as typeof import("../wrapper/WrapperMain.ts")
    const failure = prepareBundle({
      bundle,
      decoded: look === "full" ? undefined : look.asks,
      mode,
      devRoot: resolveFrom(cwd, setting("ASCEND_DOCKER_RUNTIME_DEV_ROOT") || "/dev"),
      configDir: resolveFrom(cwd, configDir ?? DEFAULT_CONFIG_DIR),
      configDirGiven: configDir !== undefined,
      protocol,
      hook: {
        path: hookPath,
        args: [
          basenameOf(hookPath),
          ...(setting("ASCEND_DOCKER_RUNTIME_HOOK_ARGS") ?? "").split(/\s+/).filter((a) => a !== "")
        ]
      },
      cliPath: joinPath(dirnameOf(hookPath), CLI_NAME),
      uid: process.getuid?.() ?? 0,
      unprivilegedEnv: policy,
      vnpu: vnpuRuntime().vnpuSettings(env, args)
    })
    if (typeof failure === "string") return refuse(failure)
    if (failure !== undefined) return runcForVnpu(runc, args, runcEnv, failure.settle, refuse)
  }
  if (command.command === "delete") {
    // One stat on delete; Effect and the driver load only when a killed wrapper left a vNPU's record.
    const id = containerIdOf(args)
    const stateDir = env.ASCEND_DOCKER_RUNTIME_STATE_DIR || DEFAULT_STATE_DIR
    const bun = bunNative()
    const record = id === undefined ? undefined : recordPath(stateDir, id)
    // In the binary without node:fs (a record is never empty; size is 0 for a missing file).
    if (record !== undefined && (bun !== undefined ? bun.file(record).size > 0 : fs().existsSync(record))) {
      const leftover = vnpuRuntime().destroyLeftoverOnDelete(env, args)
      if (leftover !== undefined) refuse(leftover)
    }
  }
  return exec()
}

/**
 * Runs the wrapper for this process and exits with its status, synchronously: nothing is left to run, and
 * Bun prints a deferred warning after a failed execve, which must not follow our one line.
 */
export const run = (): never => {
  let status: number
  try {
    status = main()
  } catch (e) {
    nodeFs().writeSync(2, errorLine(defectText(e), PROGRAM))
    status = 1
  }
  process.exit(status)
}
