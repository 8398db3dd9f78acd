import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { parse as parseYaml } from "yaml"
import { driverLayer } from "../bin/destroy.ts"
import { DEFAULT_CONFIG_DIR, HookConfig } from "../HookConfig.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import * as NodePlatform from "../platform/NodePlatform.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { parseMountListNames } from "../schemas/MountListNames.ts"
import { DeviceNodes, type DeviceNode as HostNode } from "../services/DeviceNodes.ts"
import { FileTrust } from "../services/FileTrust.ts"
import { MountResolver, type ResolvedMounts } from "../services/MountResolver.ts"
import { DRIVER_LIB_DIRS, npuEdits } from "../wrapper/ContainerEdits.ts"
import { chipAwareShared } from "../wrapper/Vnpu.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { type HostFiles, hostFiles } from "./HostFiles.ts"
import { freshBackupName } from "./install/Files.ts"
import { cleanSpecDir, prepareSpecWrite, writeAtomic } from "./install/Lock.ts"

const GENERATE_FLAGS: ReadonlyArray<Flag> = [
  { name: "--dev-root", value: "DIR", help: "where the device nodes are (default /dev)" },
  { name: "--config-dir", value: "DIR", help: "the mount lists' dir (default /etc/ascend-docker-runtime.d)" },
  { name: "--mounts", value: "LIST", help: "the mount lists, as ASCEND_RUNTIME_MOUNTS names them (default base)" },
  { name: "--kind", value: "VENDOR/CLASS", help: "the CDI kind (default ascend.com/npu)" },
  { name: "--output", value: "FILE", help: "where the spec goes (default /etc/cdi/<kind with - for />.json)" },
  { name: "--refresh", help: "as the refresh unit runs it: no NPU left removes the spec this tool wrote" },
  { name: "--dry-run", help: "print the spec, write nothing" }
]
const LIST_FLAGS: ReadonlyArray<Flag> = [
  { name: "--cdi-dir", value: "DIR", repeat: true, help: "a spec dir (default /etc/cdi and /var/run/cdi)" }
]

export const CDI_USAGE = `usage: ascend-docker-hook cdi generate [--dev-root DIR] [--config-dir DIR] [--mounts LIST]
                                        [--kind VENDOR/CLASS] [--output FILE] [--refresh] [--dry-run]
       ascend-docker-hook cdi list [--cdi-dir DIR]...

generate  writes one Container Device Interface spec for the NPUs on this host: a device per
          /dev/davinciN (named N) and "all"; for every device the shared nodes: the chip's own set
          where the driver (libdcmi.so) names the chip, as the wrapper gives it (a node the chip
          requires and the host lacks is refused), else those that exist (davinci_manager, from
          davinci_manager_docker where there is one; devmm_svm, hisi_hdc, dvpp_cmdlist, uburma/*,
          ummu/*); the driver paths of the mount lists (read-only bind mounts)
          and LD_LIBRARY_PATH for the driver's lib dirs that exist: what the wrapper's cdi mode gives.
          Mount lists are read and checked exactly as the hook reads them.
          Defaults: --dev-root /dev, --mounts base, --kind ascend.com/npu (today's Ascend CDI mode and
          DRA driver use it; huawei.com/npu still works), --output /etc/cdi/<kind with - for />.json
          (written atomically, mode 0644). An identical spec is left untouched (mtime kept); one that
          differs from what this tool last wrote there (edited by hand) is kept as a backup first.
list      the fully qualified device names the specs in /etc/cdi and /var/run/cdi offer (a later
          directory wins), with a warning for each spec (JSON or YAML) that cannot be loaded.

generate's flags:
${flagHelp(GENERATE_FLAGS)}
list's flags:
${flagHelp(LIST_FLAGS)}

Then: docker run --device ascend.com/npu=0 ...   or   podman run --device ascend.com/npu=all ...`

/** The CDI kind today's Ascend stack names its NPUs by. */
export const DEFAULT_KIND = "ascend.com/npu"

interface DeviceNode {
  readonly path: string
  readonly hostPath?: string
}
interface Mount {
  readonly hostPath: string
  readonly containerPath: string
  readonly options: ReadonlyArray<string>
}
interface Edits {
  readonly deviceNodes?: ReadonlyArray<DeviceNode>
  readonly mounts?: ReadonlyArray<Mount>
  readonly env?: ReadonlyArray<string>
}
/** The CDI spec this tool writes. */
export interface CdiSpec {
  readonly cdiVersion: string
  readonly kind: string
  readonly devices: ReadonlyArray<{ readonly name: string; readonly containerEdits: Edits }>
  readonly containerEdits: Edits
}

/**
 * The lowest cdiVersion a spec's fields need, by the CDI library's own rules: 0.3.0, or 0.4.0 for a mount
 * type, 0.5.0 for a device name not starting with a letter or a deviceNode hostPath, 0.6.0 for annotations
 * or a dot in the kind's class. Podman 4.3 reads only up to 0.5.0.
 */
export const minimumCdiVersion = (spec: Omit<CdiSpec, "cdiVersion"> & { readonly annotations?: unknown }): string => {
  const edits = [spec.containerEdits, ...spec.devices.map((d) => d.containerEdits)]
  const klass = spec.kind.split("/")[1] ?? ""
  if (spec.annotations !== undefined || klass.includes(".")) return "0.6.0"
  if (spec.devices.some((d) => !/^[A-Za-z]/.test(d.name))) return "0.5.0"
  if (edits.some((e) => (e.deviceNodes ?? []).some((n) => n.hostPath !== undefined))) return "0.5.0"
  if (edits.some((e) => (e.mounts ?? []).some((m) => (m as { type?: string }).type !== undefined))) return "0.4.0"
  return "0.3.0"
}

/** A node as CDI says it: the container path, and the host path where it differs. */
const cdiNode = (n: HostNode): DeviceNode =>
  n.hostPath === n.path ? { path: n.path } : { path: n.path, hostPath: n.hostPath }

/**
 * The spec for the NPUs found, from the same edits the wrapper's cdi mode applies (ContainerEdits.npuEdits):
 * one device per NPU with its node, "all", and the shared nodes, mounts and env for every device.
 */
export const buildCdiSpec = (input: {
  readonly kind: string
  readonly npus: ReadonlyArray<HostNode>
  readonly shared: ReadonlyArray<HostNode>
  readonly mounts: ResolvedMounts
  readonly libDirs: ReadonlyArray<string>
}): CdiSpec => {
  const shared = npuEdits({ npus: [], shared: input.shared, mounts: input.mounts, libDirs: input.libDirs })
  const id = (n: HostNode) => n.path.slice("/dev/davinci".length)
  const devices = [
    ...input.npus.map((n) => ({ name: id(n), containerEdits: { deviceNodes: [cdiNode(n)] } })),
    { name: "all", containerEdits: { deviceNodes: input.npus.map(cdiNode) } }
  ]
  const containerEdits: Edits = {
    deviceNodes: shared.deviceNodes.map(cdiNode),
    mounts: shared.mounts.map((m) => ({
      hostPath: m.hostPath,
      containerPath: m.containerPath,
      options: [...m.options]
    })),
    ...(shared.env.length > 0 ? { env: [...shared.env] } : {})
  }
  const unversioned = { kind: input.kind, devices, containerEdits }
  return { cdiVersion: minimumCdiVersion(unversioned), ...unversioned }
}

const KIND = /^[A-Za-z0-9][A-Za-z0-9.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/

interface Generated {
  readonly text: string
  readonly output: string
  readonly spec: CdiSpec
  readonly dryRun: boolean
  readonly refresh: boolean
}

interface NoNpu {
  readonly none: string
  readonly output: string
  readonly refresh: boolean
  readonly dryRun: boolean
}

/** What `cdi generate` would do: write a spec, find no NPU to describe, or refuse (a one-line reason). */
const specFor = (args: ReadonlyArray<string>, host: HostFiles): Generated | NoNpu | string => {
  const path = process.getBuiltinModule("node:path")
  const flags = parseFlags(args, GENERATE_FLAGS)
  if (typeof flags === "string") return flags
  const one = (f: string, d: string) => flags.one(f) ?? d
  const devRoot = path.resolve(one("--dev-root", "/dev"))
  const kind = one("--kind", DEFAULT_KIND)
  if (!KIND.test(kind)) return `--kind ${JSON.stringify(kind)} is not VENDOR/CLASS`
  const names = parseMountListNames(one("--mounts", "base"))
  if (Result.isFailure(names)) return `--mounts: ${names.failure.message}`
  const output = path.resolve(one("--output", `/etc/cdi/${kind.replace("/", "-")}.json`))

  const program = Effect.gen(function* () {
    const nodes = yield* DeviceNodes
    const ids = yield* nodes.present
    if (ids.length === 0) return undefined
    const npus = yield* nodes.npus(ids)
    // The chip's own set where the driver can be asked (the binary, with libdcmi.so), as the wrapper gives it;
    // the /dev-based set otherwise (no library, the Node bundle).
    const shared = yield* chipAwareShared
    const mounts = yield* (yield* MountResolver).resolve(names.success)
    const libDirs = DRIVER_LIB_DIRS.filter((d) => host.exists(d))
    return buildCdiSpec({ kind, npus, shared, mounts, libDirs })
  })
  const layer = Layer.mergeAll(MountResolver.layer, DeviceNodes.layer(devRoot), driverLayer()).pipe(
    Layer.provide(FileTrust.layer),
    Layer.provide(
      Layer.mergeAll(
        Layer.succeed(FileSystem.FileSystem, host.fs),
        HookConfig.layer(NodePlatform.listSettings(path.resolve(one("--config-dir", DEFAULT_CONFIG_DIR))))
      )
    )
  )
  const exit = Effect.runSyncExit(program.pipe(Effect.provide(layer)))
  if (Exit.isFailure(exit)) return NodePlatform.failureMessage(exit.cause)
  const refresh = flags.has("--refresh")
  const dryRun = flags.has("--dry-run")
  if (exit.value === undefined)
    return { none: `no NPU device nodes (davinciN) under ${devRoot}`, output, refresh, dryRun }
  const spec = exit.value
  return { text: `${JSON.stringify(spec, null, 2)}\n`, output, spec, dryRun, refresh }
}

/**
 * The spec `cdi generate` makes with `args` on this host, as the text it writes, and where it goes; or the
 * one-line reason it cannot. Nothing is written. uninstall and doctor use it to tell a spec it may remove
 * and a spec gone stale.
 */
export const generatedSpec = (args: ReadonlyArray<string>, host: HostFiles): Generated | string => {
  const made = specFor(args, host)
  return typeof made === "string" ? made : "none" in made ? made.none : made
}

/**
 * Where generate records a digest of the spec it wrote, beside it under a name no engine loads (they read
 * *.json and *.yaml): a spec that still matches it is ours to replace or remove without a backup; one that
 * does not was edited since, and is kept.
 */
export const generatedRecord = (output: string): string => {
  const slash = output.lastIndexOf("/")
  return `${output.slice(0, slash + 1)}.${output.slice(slash + 1)}.ascend-generated`
}

const digest = (text: string | Uint8Array): string =>
  process.getBuiltinModule("node:crypto").createHash("sha256").update(text).digest("hex")

/** True when the file at `output` is exactly what generate last wrote there. */
const isLastWritten = (host: HostFiles, output: string): boolean => {
  const record = generatedRecord(output)
  if (!host.exists(record) || !host.exists(output)) return false
  return host.readText(record).trim() === digest(host.readBytes(output))
}

/** Keeps the spec at `output` as a backup (no group or other access, like install's); its name. */
const keepBackup = (host: HostFiles, output: string): string =>
  Effect.runSync(
    Effect.gen(function* () {
      const name = yield* freshBackupName(host.fs, output, new Date())
      yield* writeAtomic(host.fs, name, host.readBytes(output), 0o600)
      return name
    })
  )

const summary = (spec: CdiSpec): string =>
  `cdiVersion ${spec.cdiVersion}, ${spec.kind}=${spec.devices.map((d) => d.name).join(",")}, ` +
  `${spec.containerEdits.deviceNodes?.length ?? 0} shared devices, ${spec.containerEdits.mounts?.length ?? 0} mounts` +
  `${spec.containerEdits.env === undefined ? "" : `, ${spec.containerEdits.env.join(" ")}`}`

/** With --refresh and no NPU left: the spec goes if it is the one generate wrote; an edited one stays. */
const removeStale = (host: HostFiles, made: NoNpu): string => {
  if (!host.exists(made.output)) return `${made.none}; no spec at ${made.output}`
  if (!isLastWritten(host, made.output)) return `${made.none}; kept ${made.output}, edited since it was written`
  if (made.dryRun) return `${made.none}; would remove ${made.output}`
  Effect.runSync(host.fs.remove(made.output))
  Effect.runSync(host.fs.remove(generatedRecord(made.output), { force: true }))
  return `${made.none}; removed ${made.output}`
}

/** Writes the spec unless the same one is there; keeps a differing one that generate did not write. */
const writeSpec = (host: HostFiles, made: Generated): string => {
  const { text, output, spec } = made
  if (host.exists(output) && host.readText(output) === text) {
    if (!isLastWritten(host, output))
      Effect.runSync(writeAtomic(host.fs, generatedRecord(output), `${digest(text)}\n`, 0o644))
    return `unchanged ${output}: ${summary(spec)}`
  }
  const kept = host.exists(output) && !isLastWritten(host, output) ? keepBackup(host, output) : undefined
  Effect.runSync(writeAtomic(host.fs, output, text, 0o644))
  Effect.runSync(writeAtomic(host.fs, generatedRecord(output), `${digest(text)}\n`, 0o644))
  const keptNote = kept === undefined ? "" : `; kept the previous ${output}, which differs, as ${kept}`
  return `wrote ${output}: ${summary(spec)}${keptNote}`
}

const generate = (args: ReadonlyArray<string>, host: HostFiles, onHost: boolean): number => {
  const fs = nodeFs()
  const err = (m: string) => {
    fs.writeSync(2, `ascend-docker-hook cdi generate: ${m}\n`)
    return 1
  }
  const made = specFor(args, host)
  if (typeof made === "string") return err(made)
  if ("none" in made && !made.refresh) return err(made.none)
  if (!("none" in made) && made.dryRun) {
    fs.writeSync(1, made.text)
    return 0
  }
  const { output } = made
  const dir = output.slice(0, output.lastIndexOf("/")) || "/"
  // Under the lock of the spec's directory: a second generate waits; what a killed one staged goes first.
  // (A tree in memory, as tests give, has no lock: only the clean-up.)
  if (!made.dryRun && ("none" in made ? host.exists(dir) : true)) {
    try {
      Effect.runSync(host.fs.makeDirectory(dir, { recursive: true, mode: 0o755 }))
    } catch (e) {
      return err(`cannot write ${output}: ${(e as Error).message}`)
    }
    if (onHost ? !prepareSpecWrite(output, err) : !cleanSpecDir(host.fs, output)) return 1
  }
  let line: string
  try {
    line = "none" in made ? removeStale(host, made) : writeSpec(host, made)
  } catch (e) {
    return err(`cannot write ${output}: ${(e as Error).message}`)
  }
  fs.writeSync(1, `${line}\n`)
  return 0
}

/** The fully qualified names the specs in `dirs` offer, a later dir winning; plus a warning per bad spec. */
export const listCdiDevices = (
  dirs: ReadonlyArray<string>,
  host: HostFiles = hostFiles(SyncFileSystem.make(nodeFs()))
): { names: Array<string>; warnings: Array<string> } => {
  const path = process.getBuiltinModule("node:path")
  const offered = new Map<string, string>()
  const warnings: Array<string> = []
  for (const dir of dirs) {
    let files: Array<string>
    try {
      files = [...host.readDirectory(dir)].filter((f) => /\.(json|ya?ml)$/.test(f)).sort()
    } catch {
      continue
    }
    for (const file of files) {
      const full = path.join(dir, file)
      try {
        const text = host.readText(full)
        let spec: { kind?: unknown; devices?: unknown }
        try {
          spec = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 })
        } catch (e) {
          throw new Error(`invalid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`)
        }
        if (typeof spec !== "object" || spec === null) throw new Error("not a mapping")
        if (typeof spec.kind !== "string" || !KIND.test(spec.kind)) throw new Error("no valid kind")
        if (!Array.isArray(spec.devices)) throw new Error("no devices")
        for (const d of spec.devices as Array<{ name?: unknown }>) {
          if (typeof d?.name !== "string" || d.name === "") throw new Error("a device without a name")
          offered.set(`${spec.kind}=${d.name}`, full)
        }
      } catch (e) {
        warnings.push(`warning: cannot load CDI spec ${full}: ${(e as Error).message.split("\n")[0]}`)
      }
    }
  }
  return { names: [...offered.keys()].sort(), warnings }
}

/** `cdi generate` / `cdi list`. */
export const runCdi = (args: ReadonlyArray<string>, given?: HostFiles): number => {
  const host = given ?? hostFiles(SyncFileSystem.make(nodeFs()))
  const fs = nodeFs()
  const [sub, ...rest] = args
  if (rest.includes("--help")) {
    fs.writeSync(1, `${CDI_USAGE}\n`)
    return 0
  }
  if (sub === "generate") return generate(rest, host, given === undefined)
  if (sub === "list") {
    const flags = parseFlags(rest, LIST_FLAGS)
    if (typeof flags === "string") {
      fs.writeSync(2, `ascend-docker-hook cdi list: ${flags}\n`)
      return 1
    }
    const dirs = flags.all("--cdi-dir")
    const { names, warnings } = listCdiDevices(dirs.length > 0 ? dirs : ["/etc/cdi", "/var/run/cdi"], host)
    for (const w of warnings) fs.writeSync(2, `${w}\n`)
    for (const n of names) fs.writeSync(1, `${n}\n`)
    return 0
  }
  fs.writeSync(sub === "--help" ? 1 : 2, `${CDI_USAGE}\n`)
  return sub === "--help" ? 0 : 1
}
