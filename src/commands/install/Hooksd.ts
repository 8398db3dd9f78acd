import { HOOK_ENV } from "../../HookConfig.ts"
import { type Own, ROOT_OWNED } from "./Core.ts"

/**
 * The OCI hooks.d file CRI-O (with a 2021 CLI) and Podman read: the hook for every container, prestart,
 * with the unprivileged-env policy as args. A file wholly ours, told from the admin's by its exact bytes.
 */

/** Where CRI-O reads hooks.d files by default. */
export const CRIO_HOOKS_D = "/usr/share/containers/oci/hooks.d/ascend-docker-hook.json"
/** Where Podman reads hooks.d files by default (the admin's directory, which overrides CRI-O's). */
export const PODMAN_HOOKS_D = "/etc/containers/oci/hooks.d/ascend-docker-hook.json"

/** The OCI hooks.d file CRI-O and Podman read: schema 1.0.0, every container, prestart. */
export const hooksdJson = (hookPath: string, extraArgs: ReadonlyArray<string> = []): string =>
  `${JSON.stringify(
    {
      version: "1.0.0",
      hook: { path: hookPath, args: ["ascend-docker-hook", ...extraArgs], env: HOOK_ENV },
      when: { always: true },
      stages: ["prestart"]
    },
    null,
    2
  )}\n`

/** Whether a hooks.d file is one of ours (any prefix): a file we wrote, not the admin's. */
export const isOurHooksd = (text: string): boolean => {
  try {
    const hook = (JSON.parse(text) as { hook?: { path?: unknown; args?: unknown } }).hook
    const args = Array.isArray(hook?.args) ? hook.args.slice(1).map(String) : []
    return typeof hook?.path === "string" && hooksdJson(hook.path, args) === text
  } catch {
    return false
  }
}

/** The hooks.d file at `path` as a file of ours, for `engine`, described as `why`. */
export const hooksdFile = (
  path: string,
  engine: string,
  why = `${engine}: OCI hook for every container, prestart`
): Own => ({ path, isOurs: isOurHooksd, why, fresh: ROOT_OWNED })
