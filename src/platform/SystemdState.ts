import { nodeFs } from "./NodeFs.ts"

/**
 * A unit's ActiveState from the systemd that runs this host, for doctor: undefined where systemd is not
 * PID 1 (containers, these test machines) or does not answer in time. Only for root "/": a --root tree's
 * units are not the running systemd's.
 */
export const systemdUnitState =
  (root: string) =>
  (unit: string): string | undefined => {
    if (root !== "/" || !nodeFs().existsSync("/run/systemd/system")) return undefined
    const r = process
      .getBuiltinModule("node:child_process")
      .spawnSync("systemctl", ["show", "--property=ActiveState", "--value", unit], { encoding: "utf8", timeout: 5000 })
    const state = r.status === 0 ? r.stdout.trim() : ""
    return state === "" ? undefined : state
  }
