import { installGuard } from "./ErrorLine.ts"

/**
 * The hook's entry (the plain bundle). Its first act is the last-resort guard, so that even a defect while
 * the bundle's modules initialise ends as one line and exit 1. The hook itself is loaded after the guard
 * is in place (a `require`, so the bundler keeps it lazy).
 */
installGuard()
;(require("./Main.ts") as typeof import("./Main.ts")).runMain()
