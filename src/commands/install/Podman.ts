import { podmanHooksd } from "../doctor/Hooksd.ts"
import { fail, ownInstall, ownUninstall } from "./Core.ts"
import type { Engine } from "./Engine.ts"
import { hooksdFile, hooksdJson, PODMAN_HOOKS_D } from "./Hooksd.ts"

/**
 * Podman reads hooks.d only. With a 2021 CLI it gets the hooks.d hook; a 2023 CLI leaves the device nodes
 * to the runtime wrapper, which Podman does not run, so its route is CDI: no hooks.d hook (one of ours is
 * removed), and the spec `cdi generate` makes, after the files (runInstaller), where the devices are.
 */

/** Podman: the hooks.d hook (2021 CLI), or none and a CDI spec (2023 CLI). */
export const podman: Engine = {
  name: "podman",
  install: (ctx) => {
    if (ctx.protocol !== "2023")
      return ownInstall(ctx, hooksdFile(PODMAN_HOOKS_D, "podman"), hooksdJson(ctx.hookPath, ctx.gateArgs))
    // The spec describes this host's devices, so it is made only where they are.
    if (ctx.o.root !== "/")
      return fail(
        "podman: the CLI speaks the 2023 protocol, so Podman's route is CDI, and the spec describes the " +
          "devices of the host it is made on: run ascend-docker-hook cdi generate there (not with --root)"
      )
    return ownInstall(ctx, hooksdFile(PODMAN_HOOKS_D, "podman", "podman: no hooks.d hook with a 2023 CLI"), undefined)
  },
  uninstall: (ctx) => ownUninstall(ctx, hooksdFile(PODMAN_HOOKS_D, "podman")),
  checks: [podmanHooksd],
  restart: undefined
}
