import { errorLine } from "./ErrorLine.ts"

/**
 * The hook's entry. Its first act is the last-resort guard: whatever escapes, even a defect while the
 * bundle's modules initialise, ends as one line on stderr and exit 1, never a stack trace. The hook
 * itself is loaded after the guard is in place (a `require`, so the bundler keeps it lazy).
 */
process.on("uncaughtException", (e) => {
  process
    .getBuiltinModule("node:fs")
    .writeSync(2, errorLine(`internal error: ${e instanceof Error ? e.message : String(e)}`))
  process.exit(1)
})
require("./Main.ts")
