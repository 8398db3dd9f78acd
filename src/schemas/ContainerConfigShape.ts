import { Limits } from "../Limits.ts"
import { isRecord, issue } from "./Issue.ts"
import { absolutePathProblem, joinPath, normalizeAbsolute } from "./Paths.ts"
import { oneLine } from "./Text.ts"

// What config.json says, from its parsed value, in a module that imports no Effect (ContainerSpec.ts wraps it
// in Result and SpecError): the wrapper decides that a container asks for nothing (wrapper/NoRequest.ts) with
// exactly the verdicts of the hook's SpecParser, without loading Effect.

/** What the rest of the pipeline needs from config.json. */
export interface ContainerConfig {
  /** The container's root filesystem on the host, as the CLI will get it. */
  readonly rootfs: string
  /** The container's `process.env`: untrusted, straight from the image and the user. */
  readonly env: ReadonlyArray<string>
  /** CAP_SYS_ADMIN is in `process.capabilities.bounding` (no capabilities field: unprivileged). */
  readonly privileged: boolean
  /**
   * The CDI device names in the `cdi.k8s.io/<name>` annotations (comma-separated fully qualified names):
   * what the kubelet and device plugins set and a pod cannot (the wrapper honours them whatever the
   * unprivileged-env setting). Read leniently: a non-string value is no name.
   */
  readonly cdiDevices: ReadonlyArray<string>
  /**
   * The `linux.devices` paths already in the config: where an engine that applies CDI specs itself
   * (containerd 2, Docker 28) has put the NPU nodes of an annotated request. Read leniently, bounded.
   */
  readonly devicePaths: ReadonlyArray<string>
}

/** The `linux.devices[].path` strings of a config, leniently (anything else is no path), at most Limits.envEntries. */
export const devicePathsOf = (linux: unknown): ReadonlyArray<string> => {
  const devices = isRecord(linux) ? linux.devices : undefined
  if (!Array.isArray(devices)) return []
  const paths: Array<string> = []
  for (const d of devices.slice(0, Limits.envEntries)) if (isRecord(d) && typeof d.path === "string") paths.push(d.path)
  return paths
}

/** The annotation keys CDI device requests use (the CDI spec's `cdi.k8s.io/` prefix). */
export const CDI_ANNOTATION_PREFIX = "cdi.k8s.io/"

/** The CDI device names in the `cdi.k8s.io/` annotations, leniently (a non-string value is no name), bounded. */
export const cdiDevicesOf = (annotations: unknown): ReadonlyArray<string> => {
  if (typeof annotations !== "object" || annotations === null || Array.isArray(annotations)) return []
  const names: Array<string> = []
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(CDI_ANNOTATION_PREFIX) || typeof value !== "string") continue
    for (const name of value.split(",")) {
      const n = name.trim()
      if (n !== "" && names.length < Limits.envEntries) names.push(n)
    }
  }
  return names
}

/**
 * The shape check of the subset the hook reads, by hand: the same verdicts and words as decoding with
 * Schemas.ContainerSpec (proven by test/Schemas.agree.test.ts), without loading Effect's Schema on every
 * container start. Keys in the Schema's order, first problem wins.
 */
export const shapeProblem = (json: Record<string, unknown>): string | undefined => {
  if (!("process" in json)) return issue("Missing key", ["process"])
  const process = json.process
  if (!isRecord(process)) return issue("Expected object", ["process"])
  if ("env" in process && process.env !== null) {
    const env = process.env
    if (!Array.isArray(env)) return issue("Expected array | null", ["process", "env"])
    for (let i = 0; i < env.length; i++) {
      if (typeof env[i] !== "string") return issue("Expected string", ["process", "env", i])
    }
    if (env.length > Limits.envEntries) return issue(`more than ${Limits.envEntries} env entries`, ["process", "env"])
  }
  if (!("root" in json)) return issue("Missing key", ["root"])
  const root = json.root
  if (!isRecord(root)) return issue("Expected object", ["root"])
  if (!("path" in root)) return issue("Missing key", ["root", "path"])
  if (typeof root.path !== "string") return issue("Expected string", ["root", "path"])
  if (root.path.length > Limits.pathChars) {
    return issue(`Expected a value with a length of at most ${Limits.pathChars}`, ["root", "path"])
  }
  return undefined
}

/**
 * The rootfs as the seed computes it: an absolute `root.path` is taken as written, a relative one is
 * joined to the bundle and cleaned. A rootfs that is the host's `/` is refused.
 */
export const rootfsOf = (
  bundle: string,
  rootPath: string
): { readonly rootfs: string } | { readonly problem: string } => {
  const rootfs = rootPath.startsWith("/") ? rootPath : joinPath(bundle, rootPath)
  const problem = absolutePathProblem(rootfs)
  if (problem !== undefined) return { problem: `root.path ${problem}` }
  if (normalizeAbsolute(rootfs) === "/") return { problem: `rootfs ${JSON.stringify(rootfs)} is the host's /` }
  return { rootfs }
}

/** Why a parsed config.json cannot be used: SpecError's reason and detail. */
export interface ConfigProblem {
  readonly reason: "TooLarge" | "Shape" | "Rootfs"
  readonly detail: string
}

/** The container's config from the parsed config.json (a JSON object), or why it cannot be used. */
export const configOf = (
  json: Record<string, unknown>,
  bundle: string
): { readonly config: ContainerConfig } | { readonly problem: ConfigProblem } => {
  const env = (json.process as { env?: unknown } | null | undefined)?.env
  if (Array.isArray(env) && env.length > Limits.envEntries) {
    const detail = `process.env has ${env.length} entries, more than ${Limits.envEntries}`
    return { problem: { reason: "TooLarge", detail } }
  }
  const problem = shapeProblem(json)
  if (problem !== undefined) return { problem: { reason: "Shape", detail: oneLine(problem) } }
  const spec = json as {
    process: { env?: ReadonlyArray<string> | null; capabilities?: { bounding?: unknown } | null }
    root: { path: string }
    annotations?: unknown
    linux?: unknown
  }
  const bounding = spec.process.capabilities?.bounding
  const rootfs = rootfsOf(bundle, spec.root.path)
  if ("problem" in rootfs) return { problem: { reason: "Rootfs", detail: rootfs.problem } }
  return {
    config: {
      rootfs: rootfs.rootfs,
      env: spec.process.env ?? [],
      privileged: Array.isArray(bounding) && bounding.includes("CAP_SYS_ADMIN"),
      cdiDevices: cdiDevicesOf(spec.annotations),
      devicePaths: devicePathsOf(spec.linux)
    }
  }
}
