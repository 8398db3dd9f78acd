/**
 * Variables that change what code a process loads or runs before its own main: the dynamic loader's
 * (`LD_*`, glibc's tunables and module paths), Node's (`NODE_OPTIONS` can `--require` a file) and Bun's
 * (`BUN_OPTIONS` can `--preload` one, `BUN_BE_BUN` turns a compiled program into the `bun` CLI). A root
 * program started by the hook or the wrapper never gets them (SECURITY.md).
 */
const PREFIXES = ["LD_", "BUN_", "NODE_", "DYLD_"] as const
const NAMES = new Set([
  "GCONV_PATH",
  "GLIBC_TUNABLES",
  "LOCPATH",
  "NLSPATH",
  "MALLOC_CHECK_",
  "HOSTALIASES",
  "RES_OPTIONS"
])

/** True for a variable name that must not reach a program the hook or wrapper starts. */
export const isLoaderVariable = (name: string): boolean => {
  if (NAMES.has(name)) return true
  // A loop, not `some`: this runs on every start of the wrapper and the hook, before anything else needs it.
  for (const p of PREFIXES) if (name.startsWith(p)) return true
  return false
}

/** `NAME=value` entries without the loader variables (an entry without `=` is kept as it is). */
export const withoutLoaderVariables = (env: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) if (value !== undefined && !isLoaderVariable(name)) out[name] = value
  return out
}
