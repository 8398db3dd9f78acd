import * as Result from "effect/Result"
import type { CliProtocol } from "../HookConfig.ts"
import type { UnprivilegedEnvPolicy } from "./AscendEnv.ts"

/** How the hook was invoked: the hook entry's `args`, set by an installer, never by the container. */
export interface Invocation {
  readonly command: "hook" | "help" | "version" | Subcommand
  readonly configDir?: string
  readonly cliPath?: string
  readonly statePath?: string
  readonly logFile?: string
  readonly cliProtocol?: CliProtocol
  readonly unprivilegedEnv?: UnprivilegedEnvPolicy
  readonly dryRun: boolean
  /** A subcommand's own arguments. */
  readonly rest?: ReadonlyArray<string>
}

/** Commands for admins, run by hand: never by a runtime, never on the hook's start-up path. */
export const SUBCOMMANDS = ["explain", "install", "uninstall", "cdi", "doctor", "dev-links", "node-setup"] as const
export type Subcommand = (typeof SUBCOMMANDS)[number]

export const USAGE = `usage: ascend-docker-hook [--config-dir DIR] [--cli PATH] [--cli-protocol 2021|2023] [--state FILE] [--log FILE]
                          [--dry-run] [--help] [--version]
       ascend-docker-hook explain --bundle DIR [--config-dir DIR] [--cli PATH]
       ascend-docker-hook install|uninstall [--runtime docker|containerd|crio|podman]... [--dry-run] (see install --help)
       ascend-docker-hook cdi generate|list ...  (see cdi --help)
       ascend-docker-hook doctor [--json]
       ascend-docker-hook dev-links [--dev-root DIR] [--dry-run]  (see dev-links --help)
       ascend-docker-hook node-setup --runtime NAME... [--host-root DIR]  (the installer image's entry; see node-setup --help)

OCI prestart hook: reads the container state on stdin and becomes ascend-docker-cli with the NPUs and
driver mounts the container asks for (ASCEND_VISIBLE_DEVICES, ASCEND_RUNTIME_MOUNTS, ASCEND_RUNTIME_OPTIONS).

  --config-dir DIR  mount lists <DIR>/<name>.list (default /etc/ascend-docker-runtime.d)
  --cli PATH        the native CLI (default: ascend-docker-cli next to this hook)
  --cli-protocol P  the CLI's generation: 2021 (default; --devices, as the seed) or 2023 (every CLI since
                    March 2023: no --devices, --allow-link from ASCEND_ALLOW_LINK; the wrapper adds the nodes)
  --unprivileged-env P  an ASCEND_VISIBLE_DEVICES request from a container without CAP_SYS_ADMIN:
                    accept (default), ignore (as no request; the run log says so) or refuse
  --state FILE      read the container state from FILE instead of stdin
  --log FILE        append one line per run to FILE (mode 0640, rotated at 2 MiB, 2 kept);
                    the Ascend default is /var/log/ascend-docker-runtime/hook-run.log
  --dry-run         do everything but the exec; print the CLI's argv as a JSON array (null: no NPU asked for)
  --help            this text
  --version         the version`

const VALUE_FLAGS = {
  "--config-dir": "configDir",
  "--cli": "cliPath",
  "--state": "statePath",
  "--log": "logFile",
  "--cli-protocol": "cliProtocol",
  "--unprivileged-env": "unprivilegedEnv"
} as const

/** Parses the hook's own arguments (`--flag value` or `--flag=value`); an unknown one is an error. */
export const parseInvocation = (args: ReadonlyArray<string>): Result.Result<Invocation, string> => {
  const first = args[0]
  if (first !== undefined && (SUBCOMMANDS as ReadonlyArray<string>).includes(first)) {
    return Result.succeed({ command: first as Subcommand, dryRun: false, rest: args.slice(1) })
  }
  const out: { -readonly [K in keyof Invocation]: Invocation[K] } = { command: "hook", dryRun: false }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (flag === "--help" || flag === "-h") return Result.succeed({ command: "help", dryRun: false })
    if (flag === "--version") return Result.succeed({ command: "version", dryRun: false })
    if (flag === "--dry-run" && eq === -1) {
      out.dryRun = true
      continue
    }
    if (Object.hasOwn(VALUE_FLAGS, flag)) {
      const key = VALUE_FLAGS[flag as keyof typeof VALUE_FLAGS]
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1)
      if (value === undefined || value === "") return Result.fail(`${flag} needs a value`)
      if (key === "cliProtocol") {
        if (value !== "2021" && value !== "2023")
          return Result.fail(`--cli-protocol takes 2021 or 2023, not ${JSON.stringify(value)}`)
        out.cliProtocol = value
        continue
      }
      if (key === "unprivilegedEnv") {
        if (value !== "accept" && value !== "ignore" && value !== "refuse") {
          return Result.fail(`--unprivileged-env takes accept, ignore or refuse, not ${JSON.stringify(value)}`)
        }
        out.unprivilegedEnv = value
        continue
      }
      out[key] = value
      continue
    }
    return Result.fail(`unknown argument ${JSON.stringify(arg)} (see --help)`)
  }
  return Result.succeed(out)
}
