import * as Cause from "effect/Cause"
import * as Layer from "effect/Layer"
import { HookConfig, type HookSettings } from "../HookConfig.ts"
import * as NodeExec from "./NodeExec.ts"
import * as SyncFileSystem from "./SyncFileSystem.ts"

/** What the admin commands run the stages on: node:fs sync calls, execve, and their settings. */
export const layer = (settings: HookSettings) =>
  Layer.mergeAll(SyncFileSystem.layer, NodeExec.layer({}), HookConfig.layer(settings))

/** Settings for a command that reads mount lists but runs no CLI and reads no state. */
export const listSettings = (configDir: string): HookSettings => ({
  configDir,
  cliPath: "/",
  statePath: "/dev/null",
  uid: process.getuid?.() ?? 0
})

/** The one-line message of a failed run: a typed failure says what was wrong; anything else is a defect. */
export const failureMessage = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const message = error instanceof Error ? error.message : String(error)
  return Cause.hasFails(cause) ? message : `internal error: ${message}`
}
