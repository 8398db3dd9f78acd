import type { Subcommand } from "../schemas/Invocation.ts"

/**
 * The admin commands (explain, install/uninstall, cdi, doctor, node-setup), loaded only when one is asked for: the
 * Node bundle has them in a file of their own (dist/ascend-docker-hook-admin.cjs), the binary in a part
 * of its bundle that initialises on first use, so the hook's start-up never pays for them.
 */
export const run = (command: Subcommand, args: ReadonlyArray<string>): number | Promise<number> => {
  if (command === "explain")
    return (require("../commands/Explain.ts") as typeof import("../commands/Explain.ts")).explain(args)
  if (command === "cdi") return (require("../commands/Cdi.ts") as typeof import("../commands/Cdi.ts")).runCdi(args)
  if (command === "dev-links")
    return (require("../commands/DevLinks.ts") as typeof import("../commands/DevLinks.ts")).runDevLinks(args)
  if (command === "node-setup")
    return (require("../commands/NodeSetup.ts") as typeof import("../commands/NodeSetup.ts")).runNodeSetup(args)
  if (command === "doctor")
    return (require("../commands/Doctor.ts") as typeof import("../commands/Doctor.ts")).runDoctor(args)
  return (require("../commands/Install.ts") as typeof import("../commands/Install.ts")).runInstaller(command, args)
}
