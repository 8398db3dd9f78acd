import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { Limits } from "../Limits.ts"
import { PID_MAX } from "./ContainerState.ts"
import { parseDeviceList, renderDeviceList } from "./DeviceList.ts"
import { absolutePathProblem } from "./Paths.ts"
import { parseRuntimeOptions } from "./RuntimeOptions.ts"
import { utf8Length } from "./Text.ts"

/**
 * The data the hook reads and produces, described with Effect's Schema: for embedders (decoding, encoding,
 * JSON Schema, property-test generators) and as the contract of the hook's own decoders. The hook's start-up
 * path does not load this module: decodeContainerState and decodeContainerConfig check the same shapes by
 * hand, and test/Schemas.agree.test.ts proves that both give the same verdict, in the same words, on
 * generated documents.
 */

/** The part of the OCI container state the hook uses; runc, crun and others add keys it ignores. */
export const ContainerState = Schema.Struct({
  pid: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: PID_MAX })),
  bundle: Schema.String.check(
    Schema.makeFilter((s: string) => {
      const problem = absolutePathProblem(s)
      return problem === undefined ? true : `bundle ${problem}`
    })
  ),
  id: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.String)
})

/** The subset of an OCI runtime config.json the hook reads: the container's env and its root. */
export const ContainerSpec = Schema.Struct({
  process: Schema.Struct({
    env: Schema.optionalKey(
      Schema.NullOr(
        Schema.Array(Schema.String).check(
          Schema.isMaxLength(Limits.envEntries, { message: `more than ${Limits.envEntries} env entries` })
        )
      )
    )
  }),
  root: Schema.Struct({
    path: Schema.String.check(Schema.isMaxLength(Limits.pathChars))
  })
})

/** A runtime option the native CLI understands. */
export const RuntimeOption = Schema.Literals(["NODRV", "VIRTUAL"])

/** What an NPU container asks for, decoded and normalized. */
export const AscendRequest = Schema.Struct({
  /** NPU ids, ascending, without duplicates. */
  devices: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Limits.maxDeviceId }))),
  /** Mount-list names, in the order given, without duplicates. */
  mountLists: Schema.Array(Schema.String),
  /** Options in the canonical order NODRV, VIRTUAL. */
  options: Schema.Array(RuntimeOption)
})

const Id = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Limits.maxDeviceId }))
const Choices = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(64)
)

/**
 * An ASCEND_VISIBLE_DEVICES value the hook accepts. Its arbitrary writes random non-empty id sets in every
 * form the parser takes (ranges, padded numbers, device names, duplicates, any order, all the white space
 * it trims), so `Arbitrary.schema(Schemas.DeviceList)` gives valid values an embedder can test with.
 */
export const DeviceList = Schema.declare(
  (u: unknown): u is string =>
    typeof u === "string" && utf8Length(u) <= Limits.envValueBytes && Result.isSuccess(parseDeviceList(u)),
  {
    identifier: "DeviceList",
    description: "ASCEND_VISIBLE_DEVICES: ids, ranges A-B and names such as Ascend910-N, comma separated",
    toCodecArbitrary: () =>
      Schema.link<string>()(
        Schema.Struct({ ids: Schema.Array(Id).check(Schema.isMinLength(1), Schema.isMaxLength(40)), choices: Choices }),
        {
          decode: SchemaGetter.transform(({ ids, choices }) => renderDeviceList(ids, choices)),
          encode: SchemaGetter.transform((text) => ({
            ids: Result.getOrElse(parseDeviceList(text), () => [] as ReadonlyArray<number>),
            choices: [0]
          }))
        }
      )
  }
)

/**
 * An ASCEND_RUNTIME_OPTIONS value the hook accepts: NODRV and VIRTUAL in any order, repeated, spaced, or
 * empty. Its arbitrary writes those forms, so `Arbitrary.schema(Schemas.RuntimeOptions)` gives valid values.
 */
export const RuntimeOptions = Schema.declare(
  (u: unknown): u is string => typeof u === "string" && Result.isSuccess(parseRuntimeOptions(u)),
  {
    identifier: "RuntimeOptions",
    description: "ASCEND_RUNTIME_OPTIONS: NODRV, VIRTUAL or both, comma separated",
    toCodecArbitrary: () =>
      Schema.link<string>()(
        Schema.Array(Schema.Literals(["NODRV", "VIRTUAL", " NODRV ", "\tVIRTUAL"])).check(Schema.isMaxLength(4)),
        {
          decode: SchemaGetter.transform((items) => items.join(",")),
          encode: SchemaGetter.transform((text) =>
            Result.getOrElse(parseRuntimeOptions(text), () => [] as ReadonlyArray<"NODRV" | "VIRTUAL">)
          )
        }
      )
  }
)
