import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { Limits } from "../Limits.ts"
import { oneLine, parseJsonObject } from "./Json.ts"
import { absolutePathProblem, joinPath, normalizeAbsolute } from "./Paths.ts"

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

/** A decoded config.json subset. */
export type ContainerSpec = typeof ContainerSpec.Type

/** What the rest of the pipeline needs from config.json. */
export interface ContainerConfig {
  /** The container's root filesystem on the host, as the CLI will get it. */
  readonly rootfs: string
  /** The container's `process.env`: untrusted, straight from the image and the user. */
  readonly env: ReadonlyArray<string>
}

/** Why config.json could not be read, decoded or used. */
export class SpecError extends Schema.TaggedError<SpecError>()("SpecError", {
  reason: Schema.Literals(["NotFound", "NotRegular", "TooLarge", "Unreadable", "Json", "Shape", "Rootfs"]),
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `OCI config ${this.path}: ${this.detail}`
  }
}

const decodeSpec = Schema.decodeUnknownResult(ContainerSpec)

/**
 * The rootfs as the seed computes it: an absolute `root.path` is taken as written, a relative one is
 * joined to the bundle and cleaned. A rootfs that is the host's `/` is refused.
 */
export const resolveRootfs = (bundle: string, rootPath: string): Result.Result<string, string> => {
  const rootfs = rootPath.startsWith("/") ? rootPath : joinPath(bundle, rootPath)
  const problem = absolutePathProblem(rootfs)
  if (problem !== undefined) return Result.fail(`root.path ${problem}`)
  if (normalizeAbsolute(rootfs) === "/") return Result.fail(`rootfs ${JSON.stringify(rootfs)} is the host's /`)
  return Result.succeed(rootfs)
}

/** Decodes config.json text and derives the rootfs and env. */
export const decodeContainerConfig = (
  text: string,
  path: string,
  bundle: string
): Result.Result<ContainerConfig, SpecError> => {
  const json = parseJsonObject(text)
  if (Result.isFailure(json)) return Result.fail(new SpecError({ reason: "Json", path, detail: json.failure }))
  const env = (json.success.process as { env?: unknown } | null | undefined)?.env
  if (Array.isArray(env) && env.length > Limits.envEntries) {
    const detail = `process.env has ${env.length} entries, more than ${Limits.envEntries}`
    return Result.fail(new SpecError({ reason: "TooLarge", path, detail }))
  }
  const decoded = decodeSpec(json.success)
  if (Result.isFailure(decoded)) {
    return Result.fail(new SpecError({ reason: "Shape", path, detail: oneLine(decoded.failure.message) }))
  }
  const rootfs = resolveRootfs(bundle, decoded.success.root.path)
  if (Result.isFailure(rootfs)) return Result.fail(new SpecError({ reason: "Rootfs", path, detail: rootfs.failure }))
  return Result.succeed({ rootfs: rootfs.success, env: decoded.success.process.env ?? [] })
}
