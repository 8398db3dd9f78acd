import { Limits } from "./Limits.ts"
import { nodeFs } from "./platform/NodeFs.ts"
import { oneLine } from "./schemas/Text.ts"

/** The one error line, prefixed with the program's name and cut to Limits.errorLineBytes (newline included). */
export const errorLine = (message: string, program = "ascend-docker-hook"): string => {
  const line = `${program}: ${oneLine(message)}`
  const bytes = new TextEncoder().encode(line)
  if (bytes.length <= Limits.errorLineBytes - 1) return `${line}\n`
  const cut = new TextDecoder().decode(bytes.subarray(0, Limits.errorLineBytes - 5)).replace(/\uFFFD$/, "")
  return `${cut}...\n`
}

/**
 * What escaped, as its line: a system call's error says which and why (`write: input/output error (EIO)`).
 * The errno table is loaded only then, keeping it off every program's start-up.
 */
export const defectText = (e: unknown): string =>
  (e as NodeJS.ErrnoException | undefined)?.syscall !== undefined
    ? (require("./platform/Errno.ts") as typeof import("./platform/Errno.ts")).errorText(e)
    : `internal error: ${e instanceof Error ? e.message : String(e)}`

/** The last resort: what escaped, as one line on stderr, and exit 1, never a stack trace. */
export const lastResort =
  (program = "ascend-docker-hook") =>
  (e: unknown): never => {
    nodeFs().writeSync(2, errorLine(defectText(e), program))
    process.exit(1)
  }

/** The last-resort guard for the whole process: anything that escapes, from anywhere, ends as `lastResort`. */
export const installGuard = (program = "ascend-docker-hook"): void => {
  const guard = lastResort(program)
  process.on("uncaughtException", guard)
  process.on("unhandledRejection", guard)
}
