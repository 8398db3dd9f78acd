import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { type ContainerConfig, configOf, rootfsOf } from "./ContainerConfigShape.ts"
import { parseJsonObject } from "./Json.ts"

export { CDI_ANNOTATION_PREFIX, type ContainerConfig } from "./ContainerConfigShape.ts"

/** Why config.json could not be read, decoded or used. */
export class SpecError extends Data.TaggedError("SpecError")<{
  readonly reason: "NotFound" | "NotRegular" | "TooLarge" | "Unreadable" | "Json" | "Shape" | "Rootfs"
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `OCI config ${this.path}: ${this.detail}`
  }
}

/**
 * The rootfs as the seed computes it: an absolute `root.path` is taken as written, a relative one is
 * joined to the bundle and cleaned. A rootfs that is the host's `/` is refused.
 */
export const resolveRootfs = (bundle: string, rootPath: string): Result.Result<string, string> => {
  const r = rootfsOf(bundle, rootPath)
  return "problem" in r ? Result.fail(r.problem) : Result.succeed(r.rootfs)
}

/** Decodes config.json text and derives the rootfs and env. */
export const decodeContainerConfig = (
  text: string,
  path: string,
  bundle: string
): Result.Result<ContainerConfig, SpecError> => {
  const json = parseJsonObject(text)
  if (Result.isFailure(json)) return Result.fail(new SpecError({ reason: "Json", path, detail: json.failure }))
  const decoded = configOf(json.success, bundle)
  return "problem" in decoded
    ? Result.fail(new SpecError({ ...decoded.problem, path }))
    : Result.succeed(decoded.config)
}
