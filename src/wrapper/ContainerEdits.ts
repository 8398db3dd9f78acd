import { HOOK_ENV } from "../Defaults.ts"
import { WRAPPER_MARK_KEY, WRAPPER_MARK_VALUE } from "../schemas/EnvLookup.ts"
import type { DeviceNode } from "../services/DeviceNodes.ts"
import type { ResolvedMounts } from "../services/MountResolver.ts"
import { appendToArray, arrayAt, arrayRefusal, replaceValue } from "./JsonSplice.ts"

/** A host path bind-mounted at the same path inside. */
export interface BindMount {
  readonly hostPath: string
  readonly containerPath: string
  readonly options: ReadonlyArray<string>
}

/**
 * What an NPU container gets, in CDI's terms: device nodes, mounts, env. One builder for `cdi generate`,
 * the wrapper's `cdi` mode, the wrapper's device nodes for the 2023 CLI, and `explain`.
 */
export interface ContainerEdits {
  readonly deviceNodes: ReadonlyArray<DeviceNode>
  readonly mounts: ReadonlyArray<BindMount>
  /** `KEY=VALUE`; LD_LIBRARY_PATH is put in front of a value the container already has. */
  readonly env: ReadonlyArray<string>
}

/** How driver paths are mounted: recursive, private, read-only, no setuid, no devices. */
export const MOUNT_OPTIONS = ["rbind", "rprivate", "ro", "nosuid", "nodev"] as const
/** The driver's library dirs a container's LD_LIBRARY_PATH gets, where the host has them. */
export const DRIVER_LIB_DIRS = [
  "/usr/local/Ascend/driver/lib64/common",
  "/usr/local/Ascend/driver/lib64/driver"
] as const
/** The mark every container created through the wrapper gets (the Ascend device plugin looks for it). */
export const RUNTIME_MARK = `${WRAPPER_MARK_KEY}=${WRAPPER_MARK_VALUE}`

/** The edits for NPU nodes, the shared nodes, and (unless None: NODRV) the mount lists' paths and lib dirs. */
export const npuEdits = (input: {
  readonly npus: ReadonlyArray<DeviceNode>
  readonly shared: ReadonlyArray<DeviceNode>
  /** None for NODRV or when only nodes are wanted (the 2023 CLI mounts the driver itself). */
  readonly mounts?: ResolvedMounts | undefined
  /** The DRIVER_LIB_DIRS the host has. */
  readonly libDirs?: ReadonlyArray<string>
}): ContainerEdits => ({
  deviceNodes: [...input.npus, ...input.shared],
  mounts:
    input.mounts === undefined
      ? []
      : [...input.mounts.files, ...input.mounts.dirs].map((p) => ({
          hostPath: p,
          containerPath: p,
          options: [...MOUNT_OPTIONS]
        })),
  env:
    input.mounts !== undefined && (input.libDirs ?? []).length > 0
      ? [`LD_LIBRARY_PATH=${input.libDirs!.join(":")}`]
      : []
})

/** The prestart hook entry the wrapper adds: absolute path, args, and an explicit env (HOOK_ENV). */
export interface HookEntry {
  readonly path: string
  readonly args: ReadonlyArray<string>
  /** HOOK_ENV when not given; the wrapper's planned entry adds its plan (wrapper/Plan.ts). */
  readonly env?: ReadonlyArray<string>
}

type Spliced = string | { readonly refused: string }

const step = (text: Spliced, f: (t: string) => Spliced): Spliced => (typeof text === "string" ? f(text) : text)

/**
 * config.json's text with the edits spliced in (JsonSplice: every other byte kept): device nodes and their
 * cgroup allow rules (`rwm`), mounts, env (LD_LIBRARY_PATH in front of the container's own), the hook, and
 * the wrapper's mark. A node whose path the config already has, a bind mount of the same source at the same
 * destination, a hook already there and a mark already set are not added twice (applied twice, the bytes of
 * applying once). Refused, with the reason, when a value on the way has the wrong type.
 */
export const applyEdits = (
  text: string,
  edits: ContainerEdits,
  options: { readonly hook?: HookEntry | undefined; readonly mark?: boolean; readonly poststop?: HookEntry | undefined }
): Spliced => {
  let out: Spliced = text
  // With nothing to add (the mark alone, on every container's create), a list is only checked for its type.
  const noNodes = edits.deviceNodes.length === 0 ? arrayRefusal(text, ["linux", "devices"]) : undefined
  if (noNodes !== undefined) return noNodes
  const existing = edits.deviceNodes.length === 0 ? [] : arrayAt(text, ["linux", "devices"])
  if ("refused" in existing) return existing
  const have = new Set(existing.map((d) => (d.value as { path?: unknown } | null)?.path))
  const nodes = edits.deviceNodes.length === 0 ? [] : edits.deviceNodes.filter((n) => !have.has(n.path))
  if (nodes.length > 0)
    out = step(out, (t) =>
      appendToArray(
        t,
        ["linux", "devices"],
        nodes.map((n) =>
          JSON.stringify({
            path: n.path,
            type: n.type,
            major: n.major,
            minor: n.minor,
            fileMode: n.fileMode,
            uid: n.uid,
            gid: n.gid
          })
        )
      )
    )
  if (nodes.length > 0)
    out = step(out, (t) =>
      appendToArray(
        t,
        ["linux", "resources", "devices"],
        nodes.map((n) => JSON.stringify({ allow: true, type: n.type, major: n.major, minor: n.minor, access: "rwm" }))
      )
    )
  if (edits.mounts.length === 0) out = step(out, (t) => arrayRefusal(t, ["mounts"]) ?? t)
  else
    out = step(out, (t) => {
      const mounts = arrayAt(t, ["mounts"])
      if ("refused" in mounts) return mounts
      const there = new Set(mounts.map((m) => mountKey(m.value)))
      return appendToArray(
        t,
        ["mounts"],
        edits.mounts
          .filter((m) => !there.has(mountKey({ destination: m.containerPath, type: "bind", source: m.hostPath })))
          .map((m) =>
            JSON.stringify({ destination: m.containerPath, type: "bind", source: m.hostPath, options: m.options })
          )
      )
    })
  for (const entry of edits.env) out = step(out, (t) => setEnv(t, entry))
  if (options.mark === true) out = step(out, (t) => setEnv(t, RUNTIME_MARK))
  if (options.hook !== undefined) {
    const hook = options.hook
    out = step(out, (t) => {
      const prestart = arrayAt(t, ["hooks", "prestart"])
      if ("refused" in prestart) return prestart
      if (prestart.some((h) => (h.value as { path?: unknown } | null)?.path === hook.path)) return t
      return appendToArray(
        t,
        ["hooks", "prestart"],
        [JSON.stringify({ path: hook.path, args: hook.args, env: hook.env ?? HOOK_ENV })]
      )
    })
  }
  if (options.poststop !== undefined) out = step(out, (t) => addPoststop(t, options.poststop!))
  return out
}

/** A poststop hook (the vNPU's destroy, wrapper/Vnpu.ts), with the same explicit env as every hook added. */
const addPoststop = (text: string, hook: HookEntry): Spliced =>
  appendToArray(text, ["hooks", "poststop"], [JSON.stringify({ path: hook.path, args: hook.args, env: HOOK_ENV })])

/** A mount by what it mounts where: the same bind of the same path is one mount, whatever its options. */
const mountKey = (m: unknown): string => {
  const o = (typeof m === "object" && m !== null ? m : {}) as {
    destination?: unknown
    type?: unknown
    source?: unknown
  }
  return JSON.stringify([o.destination, o.type ?? "bind", o.source])
}

/** One env entry into process.env: LD_LIBRARY_PATH prepended to the first one there, any other key set or appended. */
const setEnv = (text: string, entry: string): Spliced => {
  const key = entry.slice(0, entry.indexOf("="))
  const env = arrayAt(text, ["process", "env"])
  if ("refused" in env) return env
  // The first entry of the key, as lookupEnv finds it (an entry that is not a string is none).
  const prefix = `${key}=`
  let at: (typeof env)[number] | undefined
  for (const e of env) {
    if (typeof e.value === "string" && e.value.startsWith(prefix)) {
      at = e
      break
    }
  }
  if (at === undefined) return appendToArray(text, ["process", "env"], [JSON.stringify(entry)])
  const current = (at.value as string).slice(prefix.length)
  if (key === "LD_LIBRARY_PATH") {
    const ours = entry.slice(key.length + 1).split(":")
    const theirs = current.split(":")
    const missing = ours.filter((d) => !theirs.includes(d))
    if (missing.length === 0) return text
    return replaceValue(text, at.span, JSON.stringify(`${key}=${[...missing, current].join(":")}`))
  }
  return current === entry.slice(key.length + 1) ? text : replaceValue(text, at.span, JSON.stringify(entry))
}
