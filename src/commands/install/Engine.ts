import type { DoctorCheck } from "../doctor/Check.ts"
import { containerd } from "./Containerd.ts"
import type { Changes, PlanContext, RuntimeName } from "./Core.ts"
import { crio } from "./Crio.ts"
import { docker } from "./Docker.ts"
import { podman } from "./Podman.ts"

/**
 * One engine's part of install, the way NVIDIA's installer gives each runtime a Setup/Cleanup pair: what
 * install changes for it, what uninstall changes, what doctor checks of it, and the daemon to restart. Everything else (the binary,
 * the mount list, runtime.conf, backups, the all-or-nothing apply) is engine-blind, in Core, Binary,
 * Settings and Apply.
 */
export interface Engine {
  readonly name: RuntimeName
  /** The changes install makes for this engine, in order. */
  readonly install: (ctx: PlanContext) => Changes
  /** The changes uninstall makes: what install added taken out, the admin's own bytes kept. */
  readonly uninstall: (ctx: PlanContext) => Changes
  /** What doctor checks of this engine's setup (its config files are read, never changed). */
  readonly checks: ReadonlyArray<DoctorCheck>
  /** The daemon to restart after install changed something, if it must be. */
  readonly restart: string | undefined
}

/** Each engine's unit, by the name --runtime takes. */
export const ENGINES: Readonly<Record<RuntimeName, Engine>> = { docker, containerd, crio, podman }
