import type { DoctorCheck } from "./Check.ts"
import { hooksdPolicies } from "./Hooksd.ts"

/** Who may ask for NPUs, and how the wrapper gives them: runtime.conf's settings and the hooks.d hooks' args. */

/** The unprivileged-env policy of the wrapper (runtime.conf) and of each hooks.d hook. */
export const unprivilegedEnv: DoctorCheck = {
  name: "who may ask",
  looksAt: "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV in runtime.conf, --unprivileged-env in the hooks.d hooks",
  run: (ctx) => {
    const settings = ctx.wrapperSettings()
    const hooks = hooksdPolicies(ctx)
    const policy = settings.ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV ?? "accept"
    return [
      {
        id: "unprivileged-env",
        status: policy === "accept" || hooks.includes("accept") ? "warn" : "ok",
        message:
          `who may ask: ASCEND_VISIBLE_DEVICES from a container without CAP_SYS_ADMIN is ${policy === "accept" ? "accepted" : policy === "ignore" ? "ignored" : "refused"} by the wrapper` +
          (settings.ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV === undefined
            ? " (the default; the daemon's env may say otherwise)"
            : " (runtime.conf)") +
          (hooks.length > 0 ? `, ${hooks.join("/")} by the hooks.d hook` : "") +
          "; CDI names and cdi.k8s.io annotations are honoured whatever the setting",
        ...(policy === "accept"
          ? {
              fix: "ascend-docker-hook install --unprivileged-env ignore (any image or pod that sets the variable gets NPUs)"
            }
          : {})
      }
    ]
  }
}

/** The wrapper's mode, when runtime.conf sets one. */
export const wrapperMode: DoctorCheck = {
  name: "wrapper mode",
  looksAt: "ASCEND_DOCKER_RUNTIME_MODE in runtime.conf",
  run: (ctx) => {
    const mode = ctx.wrapperSettings().ASCEND_DOCKER_RUNTIME_MODE
    return mode === undefined
      ? []
      : [{ id: "wrapper-mode", status: "ok", message: `wrapper mode: ${mode} (runtime.conf)` }]
  }
}

/** The policy checks, in the order doctor reports them. */
export const POLICY_CHECKS: ReadonlyArray<DoctorCheck> = [unprivilegedEnv, wrapperMode]
