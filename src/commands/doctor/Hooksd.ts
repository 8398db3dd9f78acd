import { CRIO_HOOKS_D, PODMAN_HOOKS_D } from "../install/Hooksd.ts"
import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/** The hooks.d hook of CRI-O and of Podman: it must run a hook that exists and speak the CLI's protocol. */

const parsedHook = (text: string): { readonly hook: string | undefined; readonly args: ReadonlyArray<unknown> } => {
  try {
    const parsed = (JSON.parse(text) as { hook?: { path?: string; args?: Array<unknown> } }).hook
    return { hook: parsed?.path, args: parsed?.args ?? [] }
  } catch {
    return { hook: undefined, args: [] }
  }
}

const protocolLine = (ctx: DoctorContext, id: "crio" | "podman", args: ReadonlyArray<unknown>): Check | undefined => {
  const registered = args.includes("2023") && args.includes("--cli-protocol") ? "2023" : "2021"
  const cli = ctx.cliProtocol
  if (cli !== undefined && registered !== cli)
    return {
      id: `${id}-protocol`,
      status: "fail",
      message: `${id}: the hooks.d hook speaks the ${registered} protocol, the CLI the ${cli}: every NPU container will fail`,
      fix: `ascend-docker-hook install --runtime ${id}`
    }
  if (cli === "2023")
    return {
      id: `${id}-protocol`,
      status: "fail",
      message: `${id}: a hooks.d hook with a 2023 CLI gives containers no device nodes (nothing adds them)`,
      fix:
        id === "podman"
          ? "use CDI: ascend-docker-hook cdi generate; podman run --device ascend.com/npu=0"
          : "run containers through the ascend-docker-runtime wrapper"
    }
  return cli === undefined
    ? undefined
    : { id: `${id}-protocol`, status: "ok", message: `${id}: hook and CLI both speak ${registered}` }
}

/** The hooks.d file of one engine, when there is one. */
const hooksd = (id: "crio" | "podman", file: string): DoctorCheck => ({
  name: `${id} hooks.d`,
  looksAt: `${file}: the hook it runs, and the protocol it speaks against the CLI's`,
  run: (ctx) => {
    const text = ctx.read(file)
    if (text === undefined) return []
    const { hook, args } = parsedHook(text)
    const protocol = protocolLine(ctx, id, args)
    const runs: Check =
      hook !== undefined && ctx.host.exists(ctx.at(hook))
        ? { id, status: "ok", message: `${id}: hooks.d entry runs ${hook}` }
        : {
            id,
            status: "fail",
            message: `${id}: ${file} names a hook that does not exist (${hook ?? "unreadable"})`,
            fix: `ascend-docker-hook install --runtime ${id}`
          }
    return protocol === undefined ? [runs] : [protocol, runs]
  }
})

/** CRI-O's hooks.d hook (its default runtime's containers, 2021 CLI). */
export const crioHooksd: DoctorCheck = hooksd("crio", CRIO_HOOKS_D)
/** Podman's hooks.d hook. */
export const podmanHooksd: DoctorCheck = hooksd("podman", PODMAN_HOOKS_D)

/** The unprivileged-env policy each hooks.d hook is given (its args), for the hooks.d files there are. */
export const hooksdPolicies = (ctx: DoctorContext): ReadonlyArray<string> =>
  [CRIO_HOOKS_D, PODMAN_HOOKS_D]
    .map((f) => ctx.read(f))
    .filter((t): t is string => t !== undefined)
    .map((t) => {
      try {
        const args = (JSON.parse(t) as { hook?: { args?: Array<unknown> } }).hook?.args ?? []
        const i = args.indexOf("--unprivileged-env")
        return i < 0 ? "accept" : String(args[i + 1])
      } catch {
        return "accept"
      }
    })
