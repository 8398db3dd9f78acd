import { Limits } from "../Limits.ts"
import { hasControl } from "./Text.ts"

/**
 * Lexical normalization of an absolute POSIX path, as Go's filepath.Clean and Node's path.resolve do:
 * `//`, `.`, `..` and a trailing `/` go; links are not looked at.
 */
export const normalizeAbsolute = (p: string): string => {
  if (p.startsWith("/") && !p.includes("//") && !p.includes("/.") && (p.length === 1 || !p.endsWith("/"))) return p
  const out: Array<string> = []
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") out.pop()
    else out.push(part)
  }
  return `/${out.join("/")}`
}

/** Go's path.Join for an absolute base: join, then clean. */
export const joinPath = (base: string, ...rest: ReadonlyArray<string>): string =>
  normalizeAbsolute([base, ...rest].join("/"))

/** The directory part of an absolute path, as path.dirname does. */
export const dirnameOf = (p: string): string => {
  const n = normalizeAbsolute(p)
  const i = n.lastIndexOf("/")
  return i <= 0 ? "/" : n.slice(0, i)
}

/** Why a string is not a usable absolute host path, or undefined when it is one. */
export const absolutePathProblem = (p: string): string | undefined => {
  if (p.length === 0) return "is empty"
  if (p.length > Limits.pathChars) return `is longer than ${Limits.pathChars} characters`
  if (hasControl(p)) return "holds a NUL or control character"
  if (!p.startsWith("/")) return "is not an absolute path"
  return undefined
}

/** The characters the native ascend-docker-cli accepts in a path. */
export const CLI_PATH_CHARS = /^[A-Za-z0-9._/~-]+$/

/** `p` made absolute against `cwd` (absolute already: cleaned), as path.resolve does. */
export const resolveFrom = (cwd: string, p: string): string =>
  p.startsWith("/") ? normalizeAbsolute(p) : joinPath(cwd, p)

/** The last component of a path, as path.basename does (`/a/b/` gives `b`). */
export const basenameOf = (p: string): string => {
  const parts = p.split("/").filter((x) => x !== "")
  return parts[parts.length - 1] ?? ""
}
