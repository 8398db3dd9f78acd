import { installGuard } from "./ErrorLine.ts"
import { runMain } from "./Main.ts"
import { runRuntime } from "./RuntimeMain.ts"
import { warmUp } from "./Warmup.ts"

/**
 * Entry of the self-contained binary, run once at build time to make its startup snapshot: the modules
 * are initialised and the pipeline warmed there, and what runs at container start is only the function
 * below, which reads argv, env and stdin fresh. One binary, two programs: invoked under the name
 * `ascend-docker-runtime` (a link to it) it is the runtime wrapper, otherwise the hook.
 */
warmUp()
process.getBuiltinModule("node:v8").startupSnapshot.setDeserializeMainFunction(() => {
  const name = process.getBuiltinModule("node:path").basename(process.argv0 ?? "")
  if (name === "ascend-docker-runtime") {
    installGuard("ascend-docker-runtime")
    runRuntime()
  } else {
    installGuard()
    runMain()
  }
})
