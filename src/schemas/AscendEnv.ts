import * as Data from "effect/Data"
import type { VISIBLE_DEVICES } from "./EnvLookup.ts"
import { quote } from "./Text.ts"

/** The container env variables the hook reads (the first, and NO_DEVICES, live where no Effect is loaded). */
export { NO_DEVICES, VISIBLE_DEVICES } from "./EnvLookup.ts"
export const RUNTIME_MOUNTS = "ASCEND_RUNTIME_MOUNTS"
export const RUNTIME_OPTIONS = "ASCEND_RUNTIME_OPTIONS"
/** Read with the 2023 protocol only: whether the CLI may mount symbolic links (`True`/`False`). */
export const ALLOW_LINK = "ASCEND_ALLOW_LINK"
/** Read with the 2023 protocol only: `True` leaves out the UB fabric's driver list (Ascend 950 / A5 hosts). */
export const DISABLE_UB_MOUNT = "DISABLE_UB_MOUNT"
/** A virtual NPU's template: the wrapper makes one at create (wrapper/Vnpu.ts); the hook alone cannot. */
export const VNPU_SPECS = "ASCEND_VNPU_SPECS"

/** One of the variables. */
export type AscendVariable =
  | typeof VISIBLE_DEVICES
  | typeof RUNTIME_MOUNTS
  | typeof RUNTIME_OPTIONS
  | typeof ALLOW_LINK
  | typeof DISABLE_UB_MOUNT
  | typeof VNPU_SPECS

/** A runtime option the native CLI understands. */
export type RuntimeOption = "NODRV" | "VIRTUAL"

/**
 * What an env request for NPUs from an unprivileged container (no CAP_SYS_ADMIN) gets: `accept` (the
 * default, as NVIDIA's), `ignore` (treated as no request), `refuse` (the container fails). An image or a
 * pod spec can set the env; it cannot give itself CAP_SYS_ADMIN.
 */
export type UnprivilegedEnvPolicy = "accept" | "ignore" | "refuse"

/** What an NPU container asks for, decoded and normalized (described by Schemas.AscendRequest). */
export interface AscendRequest {
  /** NPU ids, ascending, without duplicates. */
  readonly devices: ReadonlyArray<number>
  /** Mount-list names, in the order given, without duplicates. */
  readonly mountLists: ReadonlyArray<string>
  /** Options in the canonical order NODRV, VIRTUAL. */
  readonly options: ReadonlyArray<RuntimeOption>
  /** ASCEND_ALLOW_LINK=True (2023 protocol; always false with 2021, whose CLI has no such option). */
  readonly allowLink: boolean
  /** DISABLE_UB_MOUNT=True (2023 protocol; always false with 2021). */
  readonly disableUbMount: boolean
}

/** Why a value of one of the variables was refused. */
export class EnvError extends Data.TaggedError("EnvError")<{
  readonly variable: AscendVariable
  readonly reason:
    | "TooLong"
    | "EmptyItem"
    | "BadItem"
    | "BadRange"
    | "ReversedRange"
    | "OutOfRange"
    | "BadName"
    | "Unprivileged"
    | "NeedsWrapper"
  readonly item: string
  readonly detail: string
}> {
  override get message(): string {
    return `container env ${this.variable}: ${this.reason === "TooLong" ? "value" : "item"} ${quote(this.item)} ${this.detail}`
  }
}
