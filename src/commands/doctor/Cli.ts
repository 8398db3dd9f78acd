import type { DoctorCheck } from "./Check.ts"

/** The native CLI the hook will exec: trusted and executable, and which protocol it speaks. */

/** The CLI: trusted as the hook trusts it, and executable. */
export const cli: DoctorCheck = {
  name: "CLI",
  looksAt: "the ascend-docker-cli the hook execs: owner, mode, parents, executable",
  run: (ctx) => {
    const file = ctx.at(ctx.o.cliPath)
    return [
      ctx.trusted("cli", `CLI ${file}: trusted and executable`, (t) => t.file(file, "CLI", { executable: true })).line
    ]
  }
}

/** Which protocol the CLI speaks: the registrations (checked per engine) must agree with it. */
export const cliProtocol: DoctorCheck = {
  name: "CLI protocol",
  looksAt: "the CLI's option table: --devices (2021) or allow-link (2023)",
  run: (ctx) =>
    ctx.cliProtocol === undefined
      ? []
      : [
          {
            id: "cli-protocol",
            status: "ok",
            message:
              ctx.cliProtocol === "2023"
                ? "the CLI speaks the 2023 protocol (no --devices): device nodes must come from the wrapper or CDI"
                : "the CLI speaks the 2021 protocol (--devices): it makes the device nodes itself"
          }
        ]
}

/** The CLI's checks, in the order doctor reports them. */
export const CLI_CHECKS: ReadonlyArray<DoctorCheck> = [cli, cliProtocol]
