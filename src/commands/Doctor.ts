import { CLI_NAME, DEFAULT_CONFIG_DIR } from "../HookConfig.ts"
import { engineVersion } from "../platform/HostCommands.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { selfDir } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { systemdUnitState } from "../platform/SystemdState.ts"
import { CDI_CHECKS } from "./doctor/Cdi.ts"
import { type Check, type DoctorCheck, type DoctorOptions, doctorContext } from "./doctor/Check.ts"
import { CLI_CHECKS } from "./doctor/Cli.ts"
import { CONFIG_CHECKS } from "./doctor/Config.ts"
import { DEVICE_CHECKS } from "./doctor/Devices.ts"
import { DRIVER_CHECKS } from "./doctor/Driver.ts"
import { ENGINE_CHECKS } from "./doctor/Engines.ts"
import { HOST_CHECKS } from "./doctor/Host.ts"
import { POLICY_CHECKS } from "./doctor/Policy.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { type HostFiles, hostFiles } from "./HostFiles.ts"
import { RUNTIMES } from "./install/Core.ts"
import { ENGINES } from "./install/Engine.ts"

export type { Check, DoctorCheck } from "./doctor/Check.ts"

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

/**
 * Every check doctor runs, in the order it reports them: the config dir and its lists, the CLI, the device
 * nodes, CDI, each engine's own (from its install unit), then who may ask for NPUs. A new check is a new
 * value in one of these lists.
 */
export const CHECKS: ReadonlyArray<DoctorCheck> = [
  ...CONFIG_CHECKS,
  ...CLI_CHECKS,
  ...DEVICE_CHECKS,
  ...DRIVER_CHECKS,
  ...CDI_CHECKS,
  ...HOST_CHECKS,
  ...ENGINE_CHECKS,
  ...RUNTIMES.flatMap((r) => ENGINES[r].checks),
  ...POLICY_CHECKS
]

/** Runs every check against a host tree rooted at `root`. */
export const diagnose = (
  o: DoctorOptions,
  host: HostFiles = hostFiles(SyncFileSystem.make(nodeFs())),
  checks: ReadonlyArray<DoctorCheck> = CHECKS,
  unitState: (unit: string) => string | undefined = () => undefined,
  versionOf: (program: "containerd" | "dockerd") => string | undefined = () => undefined
): Array<Check> => {
  const ctx = doctorContext(o, host, unitState, versionOf)
  return checks.flatMap((c) => c.run(ctx))
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
  const root = path.resolve(flags.one("--root") ?? "/")
  const options = {
    root,
    configDir: flags.one("--config-dir") ?? DEFAULT_CONFIG_DIR,
    cliPath: flags.one("--cli") ?? path.join(selfDir(), CLI_NAME),
    devRoot: flags.one("--dev-root") ?? "/dev"
  }
  const checks = diagnose(options, undefined, CHECKS, systemdUnitState(root), engineVersion(root))
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
