import * as Schema from "effect/Schema"
import { Limits } from "../Limits.ts"
import { PID_MAX } from "./ContainerState.ts"
import { absolutePathProblem } from "./Paths.ts"

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
