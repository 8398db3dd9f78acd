import { installGuard } from "./ErrorLine.ts"
import { runMain } from "./Main.ts"
import { warmUp } from "./Warmup.ts"

/**
 * Entry of the self-contained binary, run once at build time to make its startup snapshot: the modules
 * are initialised and the pipeline warmed there, and what runs at container start is only the function
 * below, which reads argv, env and stdin fresh.
 */
warmUp()
process.getBuiltinModule("node:v8").startupSnapshot.setDeserializeMainFunction(() => {
  installGuard()
  runMain()
})
