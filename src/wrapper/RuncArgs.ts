/** runc's global options that take a value (`--root DIR` or `--root=DIR`). */
const GLOBAL_VALUE_OPTIONS = new Set(["--root", "--log", "--log-format", "--criu", "--rootless"])

/** What the runtime wrapper needs from a runc command line. */
export interface RuncCommand {
  /** The subcommand (`create`, `run`, `start`, `delete`, ...), if any. */
  readonly command?: string
  /** The `--bundle`/`-b` value as given, for create and run; undefined means runc's default, the cwd. */
  readonly bundle?: string
  /** runc's `--log` and `--log-format`, where the engine reads a failed runtime's error from. */
  readonly log?: string
  readonly logFormat?: string
}

/**
 * Reads a runc command line the way runc does: global options, then the command, then its options.
 * Only the command and the bundle matter; everything is passed on to runc unchanged.
 */
export const parseRuncArgs = (args: ReadonlyArray<string>): RuncCommand => {
  let i = 0
  const logging: { log?: string; logFormat?: string } = {}
  while (i < args.length && args[i]!.startsWith("-")) {
    const arg = args[i]!
    const eq = arg.indexOf("=")
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const value = eq > 0 ? arg.slice(eq + 1) : args[i + 1]
    if (name === "--log" && value !== undefined) logging.log = value
    if (name === "--log-format" && value !== undefined) logging.logFormat = value
    i += GLOBAL_VALUE_OPTIONS.has(arg) ? 2 : 1
  }
  const command = args[i]
  if (command === undefined) return {}
  if (command !== "create" && command !== "run") return { command, ...logging }
  for (let j = i + 1; j < args.length; j++) {
    const arg = args[j]!
    if (arg === "--") break
    if (arg === "--bundle" || arg === "-b") return { command, bundle: args[j + 1] ?? "", ...logging }
    if (arg.startsWith("--bundle=")) return { command, bundle: arg.slice("--bundle=".length), ...logging }
    if (arg.startsWith("-b=")) return { command, bundle: arg.slice(3), ...logging }
  }
  return { command, ...logging }
}
