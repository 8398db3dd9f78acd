import { installGuard, lastResort } from "../ErrorLine.ts"

/** Set by the build: which program this bundle is, or "multi" for the binary, which asks its own name. */
declare const PROGRAM: "hook" | "runtime" | "multi"
/** Set by the build: true for the Node bundle, whose admin commands live in a file of their own. */
declare const ADMIN_BESIDE: boolean

/**
 * The one entry of every build. Its first act is the last-resort guard, so that even a defect while the
 * rest initialises ends as one line and exit 1; the program is loaded after it, by a dynamic import: the
 * binary is built with code splitting, so the wrapper, the hook and the admin commands are chunks of their
 * own and a program loads and initialises only its own code. The binary is multi-call: invoked through a
 * link named `ascend-docker-runtime` it is the runtime wrapper, called `ascend-docker-destroy` (a vNPU's
 * poststop hook) the vNPU destroy, otherwise the hook.
 */
// Nothing here ever prints a stack (every failure is one line), so none is captured: each span Effect.fn
// opens and each error made would otherwise record one, which costs on a cold start.
Error.stackTraceLimit = 0

/** The name this process was started by: the multi-call binary is the program of that name. */
const calledAs = process.argv0.slice(process.argv0.lastIndexOf("/") + 1)

// Written so that a bundler folds the constant and drops the other program from a single-program build.
if (PROGRAM === "multi" && calledAs === "ascend-docker-destroy") {
  // The poststop hook of a vNPU container (wrapper/Vnpu.ts): it needs the driver, so the binary only.
  installGuard("ascend-docker-destroy")
  void import("./destroy.ts").then((destroy) => destroy.run())
} else if (PROGRAM === "runtime" || (PROGRAM === "multi" && calledAs === "ascend-docker-runtime")) {
  // No process-wide guard here (its process.on costs ~0.3 ms, on every container's create): the wrapper runs
  // synchronously to its exec or exit and ends anything it throws as its one line, and whatever escapes
  // that, or the loading of its code, is this promise's rejection, caught below.
  void import("./runtime.ts").then((wrapper) => wrapper.run()).catch(lastResort("ascend-docker-runtime"))
} else {
  installGuard()
  void import("./hook.ts").then((hook) =>
    hook.run(() =>
      ADMIN_BESIDE ? Promise.resolve(require(`${__dirname}/ascend-docker-hook-admin.cjs`)) : import("./admin.ts")
    )
  )
}
