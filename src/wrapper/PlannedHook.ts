import { Limits } from "../Limits.ts"
import { readRetrying } from "../platform/readRetrying.ts"
import type { ContainerConfig } from "../schemas/ContainerConfigShape.ts"
import { MAX_STATE_ITEMS, stateShapeProblem } from "../schemas/ContainerStateShape.ts"
import { asksForNothing, lookupEnv, VISIBLE_DEVICES } from "../schemas/EnvLookup.ts"
import { isRecord } from "../schemas/Issue.ts"
import { jsonShapeProblem } from "../schemas/JsonShape.ts"
import { type Answer, destinationProblemSync, type Lookup } from "../services/DestinationWalk.ts"
import { configAt } from "./ConfigRead.ts"
import { decodePlan, PID_AT } from "./Plan.ts"

/**
 * The hook's run at prestart when the wrapper planned it (wrapper/Plan.ts): what the wrapper did at create
 * (config.json, the env request, the mount lists read and trust-checked, the CLI trust-checked, the argv) is
 * not done again; what depends on prestart is: the pid from the state on stdin, the state's bundle against
 * the plan's, and the mount destinations against the rootfs as it is now. Imports no Effect. Anything not
 * exactly as planned gives the state read so far back to the whole pipeline (bin/hook.ts), which then
 * decides, refuses or execs in its own words: this path never refuses.
 */

/** The state's text as read from stdin, or that it was over the limit (the pipeline's StateReader then says so). */
export type StateRead = { readonly _tag: "Text"; readonly text: string } | { readonly _tag: "TooLarge" }

/** What the hook's first look found: a container that asks for no NPU (nothing to do), or the whole pipeline's turn. */
export type FirstLookStep =
  | { readonly _tag: "Nothing" }
  | {
      readonly _tag: "Pipeline"
      readonly state: StateRead | undefined
      /** The state's bundle's config, where it was read and decoded (a request): SpecParser need not again. */
      readonly decoded?: { readonly bundle: string; readonly config: ContainerConfig }
    }

/**
 * The hook's run for a container that asks for no NPU, which is every container but the NPU ones where a
 * hooks.d entry runs the hook for all (Podman, CRI-O): the state and config.json read and decoded as
 * StateReader and SpecParser decode them, and ASCEND_VISIBLE_DEVICES looked up in the decoded env as every
 * stage looks it up (unset, blank or `void`: nothing to do, as the pipeline decides before reading anything
 * else). Imports no Effect. Anything not certain (a state or config the pipeline would refuse, a link, a
 * request) gives the state read so far to the whole pipeline, which then decides or refuses in its own words.
 */
export const firstLookStep = (fs: typeof import("node:fs"), statePath: string): FirstLookStep => {
  const { state, decoded } = stateAt(fs, statePath)
  const found = decoded === undefined ? undefined : configAt(fs, decoded.bundle)
  if (decoded === undefined || found === undefined) return { _tag: "Pipeline", state }
  if (!asksForNothing(lookupEnv(found.config.env, VISIBLE_DEVICES))) {
    return { _tag: "Pipeline", state, decoded: { bundle: decoded.bundle, config: found.config } }
  }
  return { _tag: "Nothing" }
}

/** What the planned run found: the CLI's argv to become, or the whole pipeline to run with the state read (if any). */
export type PlannedStep =
  | { readonly _tag: "Exec"; readonly argv: ReadonlyArray<string>; readonly state: StateRead }
  | { readonly _tag: "Pipeline"; readonly state: StateRead | undefined }

/**
 * Reads the state, bounded, as SyncFileSystem reads it: /dev/stdin is fd 0 itself, neither reopened (ENXIO
 * when a runtime hands the hook a socket) nor closed, read with its flags left alone for the CLI, and EAGAIN
 * (a non-blocking stdin written in pieces) waited out.
 */
const readState = (fs: typeof import("node:fs"), path: string): StateRead => {
  const stdin = path === "/dev/stdin"
  const fd = stdin ? 0 : fs.openSync(path, "r")
  try {
    const chunks: Array<Buffer> = []
    let total = 0
    while (total <= Limits.stateBytes) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, Limits.stateBytes + 1 - total))
      const n = readRetrying(fs, fd, chunk, 0, chunk.length, null)
      if (n === 0) break
      chunks.push(chunk.subarray(0, n))
      total += n
    }
    if (total > Limits.stateBytes) return { _tag: "TooLarge" }
    return { _tag: "Text", text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(Buffer.concat(chunks, total)) }
  } finally {
    if (!stdin) fs.closeSync(fd)
  }
}

/** The state's pid and bundle when StateReader would decode it (same pre-scan, parse and shape rules); else undefined. */
const stateOf = (text: string): { readonly pid: number; readonly bundle: string } | undefined => {
  if (jsonShapeProblem(text, MAX_STATE_ITEMS) !== undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isRecord(value) || stateShapeProblem(value) !== undefined) return undefined
  return { pid: value.pid as number, bundle: value.bundle as string }
}

/** The state as read (none when reading failed) and, where StateReader would decode it, its pid and bundle. */
const stateAt = (
  fs: typeof import("node:fs"),
  statePath: string
): {
  readonly state: StateRead | undefined
  readonly decoded: { readonly pid: number; readonly bundle: string } | undefined
} => {
  let state: StateRead
  try {
    state = readState(fs, statePath)
  } catch {
    return { state: undefined, decoded: undefined }
  }
  return { state, decoded: state._tag === "Text" ? stateOf(state.text) : undefined }
}

/** The destination walk's lookups over node:fs, answering as MountSafety's FileSystem ones do. */
const lookups =
  (fs: typeof import("node:fs")) =>
  (lookup: Lookup): Answer => {
    try {
      if ("readLink" in lookup) return fs.readlinkSync(lookup.readLink)
      return fs.lstatSync(lookup.lstat).isSymbolicLink() ? "link" : "other"
    } catch {
      return "readLink" in lookup ? "" : undefined
    }
  }

/**
 * The planned run, up to the exec: `planText` is the hook entry's plan, `cliPath` the CLI this hook would
 * run (next to itself), `statePath` where the state is (/dev/stdin).
 */
export const plannedStep = (
  fs: typeof import("node:fs"),
  planText: string,
  cliPath: string,
  statePath: string
): PlannedStep => {
  const plan = decodePlan(planText)
  if (plan === undefined || plan.argv[0] !== cliPath) return { _tag: "Pipeline", state: undefined }
  const { state, decoded } = stateAt(fs, statePath)
  if (state === undefined || decoded === undefined || decoded.bundle !== plan.bundle) return { _tag: "Pipeline", state }
  const look = lookups(fs)
  const missing = new Set<string>()
  for (const path of plan.mounts) {
    if (destinationProblemSync(look, plan.rootfs, path, missing) !== undefined) return { _tag: "Pipeline", state }
  }
  const argv = [...plan.argv]
  argv[PID_AT] = String(decoded.pid)
  return { _tag: "Exec", argv, state }
}
