import type { DoctorCheck } from "./Check.ts"

/** CDI: the NPU devices the specs in /etc/cdi and /var/run/cdi offer (Podman, docker >= 25, containerd, CRI-O). */
export const cdi: DoctorCheck = {
  name: "CDI",
  looksAt: "ascend.com/npu and huawei.com/npu devices in the CDI specs of /etc/cdi and /var/run/cdi",
  run: (ctx) => {
    const names = ctx.cdiDevices()
    return [
      names.length > 0
        ? {
            id: "cdi",
            status: "ok",
            message: `CDI: ${names.length} NPU devices offered (${names.slice(0, 4).join(" ")}${names.length > 4 ? " ..." : ""})`
          }
        : {
            id: "cdi",
            status: "warn",
            message: "CDI: no ascend.com/npu (or huawei.com/npu) spec in /etc/cdi or /var/run/cdi",
            fix: "ascend-docker-hook cdi generate"
          }
    ]
  }
}

/** The CDI checks, in the order doctor reports them. */
export const CDI_CHECKS: ReadonlyArray<DoctorCheck> = [cdi]
