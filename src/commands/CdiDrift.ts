import type { CdiSpec } from "./Cdi.ts"

/**
 * How a CDI spec on disk differs from the one `cdi generate` would write now: after a driver upgrade, a
 * card swap or a failed NPU, engines keep injecting what the old spec says. One line per difference,
 * naming what and which way; none when the spec is current. Formatting and order do not count.
 */

interface LooseEdits {
  readonly deviceNodes?: ReadonlyArray<{ readonly path?: unknown; readonly hostPath?: unknown }>
  readonly mounts?: ReadonlyArray<{ readonly hostPath?: unknown; readonly containerPath?: unknown }>
  readonly env?: ReadonlyArray<unknown>
}
interface LooseSpec {
  readonly kind?: unknown
  readonly devices?: ReadonlyArray<{ readonly name?: unknown; readonly containerEdits?: LooseEdits }>
  readonly containerEdits?: LooseEdits
}

const nodesOf = (e: LooseEdits | undefined): ReadonlyArray<string> =>
  (e?.deviceNodes ?? []).map((n) =>
    n.hostPath === undefined || n.hostPath === n.path
      ? String(n.path)
      : `${String(n.path)} (host ${String(n.hostPath)})`
  )
const mountsOf = (e: LooseEdits | undefined): ReadonlyArray<string> =>
  (e?.mounts ?? []).map((m) =>
    m.hostPath === m.containerPath ? String(m.hostPath) : `${String(m.hostPath)} -> ${String(m.containerPath)}`
  )

/** "in the spec, not now" and "now, not in the spec" lines for one set of named things. */
const compare = (what: string, old: ReadonlyArray<string>, now: ReadonlyArray<string>): ReadonlyArray<string> => [
  ...old.filter((x) => !now.includes(x)).map((x) => `${what} ${x}: in the spec, no longer on the host`),
  ...now.filter((x) => !old.includes(x)).map((x) => `${what} ${x}: on the host, not in the spec`)
]

/** The differences between `onDisk` (a parsed spec) and `now` (what generate makes on this host now). */
export const specDrift = (onDisk: unknown, now: CdiSpec): ReadonlyArray<string> => {
  const old = (typeof onDisk === "object" && onDisk !== null ? onDisk : {}) as LooseSpec
  const oldDevices = new Map((old.devices ?? []).map((d) => [String(d.name), d.containerEdits]))
  const nowDevices = new Map(now.devices.map((d) => [d.name, d.containerEdits as LooseEdits]))
  const lines: Array<string> = [
    ...(old.kind === now.kind ? [] : [`kind ${String(old.kind)}: generate now writes ${now.kind}`]),
    ...compare(
      "device",
      [...oldDevices.keys()].map((n) => `${now.kind}=${n}`),
      [...nowDevices.keys()].map((n) => `${now.kind}=${n}`)
    )
  ]
  for (const [name, edits] of nowDevices) {
    const before = oldDevices.get(name)
    if (before !== undefined && name !== "all")
      lines.push(...compare(`${now.kind}=${name}'s node`, nodesOf(before), nodesOf(edits)))
  }
  lines.push(
    ...compare("shared device", nodesOf(old.containerEdits), nodesOf(now.containerEdits)),
    ...compare("driver mount", mountsOf(old.containerEdits), mountsOf(now.containerEdits)),
    ...compare("env", (old.containerEdits?.env ?? []).map(String), (now.containerEdits.env ?? []).map(String))
  )
  return lines
}
