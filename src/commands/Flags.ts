/**
 * The admin commands' one flag parser: a command declares its flags once, and the same table parses argv
 * (`--flag VALUE`, `--flag=VALUE`, booleans, repeatable flags, an allowed set of values) and writes the
 * flags part of `--help`. Errors are one line naming the flag. The hook's own argv is not parsed here
 * (schemas/Invocation.ts): it is on the container-start path and keeps its seed-compatible rules.
 */

export interface Flag {
  readonly name: `--${string}`
  /** The value's placeholder in --help (`DIR`, `NAME`); absent for a boolean flag. */
  readonly value?: string
  /** The values allowed, checked by the parser and listed in --help. */
  readonly oneOf?: ReadonlyArray<string>
  readonly repeat?: boolean
  /** A value must be an absolute path. */
  readonly absolute?: boolean
  readonly help: string
}

export interface Parsed {
  /** The values given for a flag, in order (booleans: `["true"]`). */
  readonly all: (name: string) => ReadonlyArray<string>
  readonly one: (name: string) => string | undefined
  readonly has: (name: string) => boolean
  /** Arguments that are not flags, in order. */
  readonly positional: ReadonlyArray<string>
}

/** Parses `args` by `flags`; `--help` is the caller's (it is looked for first). A string is the error line. */
export const parseFlags = (
  args: ReadonlyArray<string>,
  flags: ReadonlyArray<Flag>,
  options: { readonly positional?: boolean } = {}
): Parsed | string => {
  const values = new Map<string, Array<string>>()
  const positional: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const flag = flags.find((f) => f.name === name)
    if (flag === undefined) {
      if (options.positional === true && !arg.startsWith("-")) {
        positional.push(arg)
        continue
      }
      return `unknown argument ${JSON.stringify(arg)} (see --help)`
    }
    let value = "true"
    if (flag.value !== undefined) {
      const v = eq > 0 ? arg.slice(eq + 1) : args[++i]
      if (v === undefined || (eq < 0 && v.startsWith("--"))) return `${flag.name} takes a value (${flag.value})`
      if (flag.oneOf !== undefined && !flag.oneOf.includes(v))
        return `${flag.name} takes one of ${flag.oneOf.join(", ")}`
      if (flag.absolute === true && !v.startsWith("/")) return `${flag.name} takes an absolute path`
      value = v
    } else if (eq > 0) return `${flag.name} takes no value`
    const seen = values.get(flag.name)
    if (seen === undefined) values.set(flag.name, [value])
    else if (flag.repeat === true) {
      if (!seen.includes(value)) seen.push(value)
    } else if (flag.value !== undefined) return `${flag.name} given twice`
  }
  return {
    all: (name) => values.get(name) ?? [],
    one: (name) => values.get(name)?.[0],
    has: (name) => values.has(name),
    positional
  }
}

/** The flags part of --help, one aligned line a flag (with its allowed values). */
export const flagHelp = (flags: ReadonlyArray<Flag>): string => {
  const heads = flags.map((f) => `  ${f.name}${f.value === undefined ? "" : ` ${f.value}`}`)
  const width = Math.max(...heads.map((h) => h.length)) + 2
  return flags
    .map((f, i) => {
      const allowed = f.oneOf === undefined ? "" : ` (${f.oneOf.join(", ")})`
      const again = f.repeat === true ? "; repeat for several" : ""
      return `${heads[i]!.padEnd(width)}${f.help}${allowed}${again}`
    })
    .join("\n")
}
