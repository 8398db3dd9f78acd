import * as Data from "effect/Data"
import { quote } from "./Text.ts"

/** The container env variables the hook reads. */
export const VISIBLE_DEVICES = "ASCEND_VISIBLE_DEVICES"
export const RUNTIME_MOUNTS = "ASCEND_RUNTIME_MOUNTS"
export const RUNTIME_OPTIONS = "ASCEND_RUNTIME_OPTIONS"

/** One of the variables. */
export type AscendVariable = typeof VISIBLE_DEVICES | typeof RUNTIME_MOUNTS | typeof RUNTIME_OPTIONS

/** A runtime option the native CLI understands. */
export type RuntimeOption = "NODRV" | "VIRTUAL"

/** What an NPU container asks for, decoded and normalized (described by Schemas.AscendRequest). */
export interface AscendRequest {
  /** NPU ids, ascending, without duplicates. */
  readonly devices: ReadonlyArray<number>
  /** Mount-list names, in the order given, without duplicates. */
  readonly mountLists: ReadonlyArray<string>
  /** Options in the canonical order NODRV, VIRTUAL. */
  readonly options: ReadonlyArray<RuntimeOption>
}

/** Why a value of one of the variables was refused. */
export class EnvError extends Data.TaggedError("EnvError")<{
  readonly variable: AscendVariable
  readonly reason: "TooLong" | "EmptyItem" | "BadItem" | "BadRange" | "ReversedRange" | "OutOfRange" | "BadName"
  readonly item: string
  readonly detail: string
}> {
  override get message(): string {
    return `container env ${this.variable}: ${this.reason === "TooLong" ? "value" : "item"} ${quote(this.item)} ${this.detail}`
  }
}
