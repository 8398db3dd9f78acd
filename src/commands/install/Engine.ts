import type { Changes, PlanContext, RuntimeName } from "./Core.ts"

/**
 * One engine's part of install, the way NVIDIA's installer gives each runtime a Setup/Cleanup pair: what
 * install changes for it, what uninstall changes, and the daemon to restart. Everything else (the binary,
 * the mount list, runtime.conf, backups, the all-or-nothing apply) is engine-blind, in Core, Binary,
 * Settings and Apply.
 */
export interface Engine {
  readonly name: RuntimeName
  /** The changes install makes for this engine, in order. */
  readonly install: (ctx: PlanContext) => Changes
  /** The changes uninstall makes: what install added taken out, the admin's own bytes kept. */
  readonly uninstall: (ctx: PlanContext) => Changes
  /** The daemon to restart after install changed something, if it must be. */
  readonly restart: string | undefined
}
