import { installGuard } from "../ErrorLine.ts"

/** Set by the build: which program this bundle is, or "multi" for the binary, which asks its own name. */
declare const PROGRAM: "hook" | "runtime" | "multi"
/** Set by the build: true for the Node bundle, whose admin commands live in a file of their own. */
declare const ADMIN_BESIDE: boolean

/**
 * The one entry of every build. Its first act is the last-resort guard, so that even a defect while the
 * rest initialises ends as one line and exit 1; the program is loaded after it (a `require`, so the
 * bundler keeps it lazy, and each program initialises only its own modules). The binary is multi-call:
 * invoked through a link named `ascend-docker-runtime` it is the runtime wrapper, otherwise the hook.
 */
const name = process.argv0.slice(process.argv0.lastIndexOf("/") + 1)
const program = PROGRAM === "multi" ? (name === "ascend-docker-runtime" ? "runtime" : "hook") : PROGRAM
if (program === "runtime") {
  installGuard("ascend-docker-runtime")
  ;(require("./runtime.ts") as typeof import("./runtime.ts")).run()
} else {
  installGuard()
  ;(require("./hook.ts") as typeof import("./hook.ts")).run(() =>
    ADMIN_BESIDE
      ? require(`${__dirname}/ascend-docker-hook-admin.cjs`)
      : (require("./admin.ts") as typeof import("./admin.ts"))
  )
}
