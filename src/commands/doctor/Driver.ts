import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import { driverSource } from "../../services/Driver.ts"
import { leftoverVnpus } from "../../wrapper/Vnpu.ts"
import { DEFAULT_STATE_DIR } from "../../wrapper/VnpuRecord.ts"
import type { Check, DoctorCheck } from "./Check.ts"

/** The driver library: whether device facts come from it (vNPU, chip-aware sets) or from /dev, and vNPUs left behind. */

/** Where the device facts come from: libdcmi.so as the loader finds it (and trusts it), or the nodes under /dev. */
export const driverLibrary: DoctorCheck = {
  name: "driver library",
  looksAt: "libdcmi.so where the loader finds it (ld.so.cache, the default dirs), checked as the wrapper checks it",
  // The loader's cache is this host's; a --root tree's libraries are not what this host's loader would load.
  run: (ctx) => {
    if (ctx.o.root !== "/") return []
    const arch = process.arch === "arm64" ? "arm64" : "x64"
    const found = Effect.runSync(driverSource(ctx.host.fs, arch))
    const line: Check =
      found.source === "driver"
        ? {
            id: "driver",
            status: "ok",
            message: `driver: ${found.path} (libdcmi.so, found and trusted as the wrapper loads it): vNPU (ASCEND_VNPU_SPECS) and the chip's own device set`
          }
        : {
            id: "driver",
            status: "ok",
            message:
              "driver: no trusted libdcmi.so where the loader looks: device sets from the nodes under /dev; vNPU requests are refused"
          }
    return [line]
  }
}

/** vNPUs a killed wrapper left: each holds a share of an NPU until it is destroyed or the host reboots. */
export const leftoverVnpu: DoctorCheck = {
  name: "leftover vNPUs",
  looksAt: `the wrapper's vNPU records under ${DEFAULT_STATE_DIR}/vnpu`,
  run: (ctx) =>
    Effect.runSync(
      leftoverVnpus(ctx.at(DEFAULT_STATE_DIR)).pipe(Effect.provideService(FileSystem.FileSystem, ctx.host.fs))
    ).map(
      ({ containerId, vnpu }): Check =>
        vnpu.vdevId === null
          ? {
              id: `vnpu:${containerId}`,
              status: "warn",
              message: `vNPU: the wrapper was killed while the driver made a vNPU on NPU ${vnpu.phy} (card ${vnpu.card} device ${vnpu.device}) for container ${containerId}; its id is unknown`,
              fix: `npu-smi info -t info-vnpu -i ${vnpu.card} -c ${vnpu.device} lists it; destroy it with npu-smi, then ascend-docker-runtime delete ${containerId}`
            }
          : {
              id: `vnpu:${containerId}`,
              status: "warn",
              message: `vNPU ${vnpu.vdevId} on NPU ${vnpu.phy} (card ${vnpu.card} device ${vnpu.device}) was left by container ${containerId}`,
              fix: `ascend-docker-runtime delete ${containerId} (destroys it)`
            }
    )
}

/** The driver checks, in the order doctor reports them. */
export const DRIVER_CHECKS: ReadonlyArray<DoctorCheck> = [driverLibrary, leftoverVnpu]
