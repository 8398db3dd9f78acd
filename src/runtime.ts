import { installGuard } from "./ErrorLine.ts"

/** Entry of `ascend-docker-runtime` (the plain bundle): the guard first, then the wrapper, loaded lazily. */
installGuard("ascend-docker-runtime")
;(require("./RuntimeMain.ts") as typeof import("./RuntimeMain.ts")).runRuntime()
