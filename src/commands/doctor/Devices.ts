import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/** The NPU device nodes: davinciN, and the shared nodes every NPU container needs. */

const devRoot = (ctx: DoctorContext) => ctx.at(ctx.o.devRoot)

const isChar = (ctx: DoctorContext, name: string) => {
  try {
    return ctx.host.stat(process.getBuiltinModule("node:path").join(devRoot(ctx), name)).isCharacterDevice()
  } catch {
    return false
  }
}

/** The NPUs: a character device davinciN each. */
export const npus: DoctorCheck = {
  name: "NPUs",
  looksAt: "davinciN character devices under the dev root",
  run: (ctx) => {
    let found: Array<string> = []
    try {
      found = ctx.host.readDirectory(devRoot(ctx)).filter((n) => /^davinci[0-9]+$/.test(n) && isChar(ctx, n))
    } catch {}
    const line: Check =
      found.length > 0
        ? {
            id: "npus",
            status: "ok",
            message: `${found.length} NPU device nodes under ${devRoot(ctx)} (${found.sort().join(", ")})`
          }
        : {
            id: "npus",
            status: "fail",
            message: `no NPU device nodes (davinciN) under ${devRoot(ctx)}`,
            fix: "install and load the Ascend driver (npu-smi info should list the NPUs)"
          }
    return [line]
  }
}

/** The shared nodes: the manager (which may come as davinci_manager_docker), devmm_svm and hisi_hdc. */
export const sharedDevices: DoctorCheck = {
  name: "shared device nodes",
  looksAt: "davinci_manager (or davinci_manager_docker), devmm_svm, hisi_hdc under the dev root",
  run: (ctx) =>
    ["davinci_manager", "devmm_svm", "hisi_hdc"].map(
      (name): Check =>
        isChar(ctx, name) || (name === "davinci_manager" && isChar(ctx, "davinci_manager_docker"))
          ? { id: `device:${name}`, status: "ok", message: `${devRoot(ctx)}/${name}: present` }
          : {
              id: `device:${name}`,
              status: "fail",
              message: `${devRoot(ctx)}/${name} is missing; NPU containers need it`,
              fix: "install and load the Ascend driver"
            }
    )
}

/** The device checks, in the order doctor reports them. */
export const DEVICE_CHECKS: ReadonlyArray<DoctorCheck> = [npus, sharedDevices]
