import * as Schema from "effect/Schema"
import { quote } from "./Text.ts"

/** The container env variables the hook reads. */
export const VISIBLE_DEVICES = "ASCEND_VISIBLE_DEVICES"
export const RUNTIME_MOUNTS = "ASCEND_RUNTIME_MOUNTS"
export const RUNTIME_OPTIONS = "ASCEND_RUNTIME_OPTIONS"

/** One of the three variables. */
export const AscendVariable = Schema.Literals([VISIBLE_DEVICES, RUNTIME_MOUNTS, RUNTIME_OPTIONS])
export type AscendVariable = typeof AscendVariable.Type

/** A runtime option the native CLI understands. */
export const RuntimeOption = Schema.Literals(["NODRV", "VIRTUAL"])
export type RuntimeOption = typeof RuntimeOption.Type

/** What an NPU container asks for, decoded and normalized. */
export const AscendRequest = Schema.Struct({
  /** NPU ids, ascending, without duplicates. */
  devices: Schema.Array(Schema.Int),
  /** Mount-list names, in the order given, without duplicates. */
  mountLists: Schema.Array(Schema.String),
  /** Options in the canonical order NODRV, VIRTUAL. */
  options: Schema.Array(RuntimeOption)
})
export type AscendRequest = typeof AscendRequest.Type

/** Why a value of one of the three variables was refused. */
export class EnvError extends Schema.TaggedError<EnvError>()("EnvError", {
  variable: AscendVariable,
  reason: Schema.Literals(["TooLong", "EmptyItem", "BadItem", "BadRange", "ReversedRange", "OutOfRange", "BadName"]),
  item: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `container env ${this.variable}: ${this.reason === "TooLong" ? "value" : "item"} ${quote(this.item)} ${this.detail}`
  }
}
