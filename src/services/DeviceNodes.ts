import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { joinPath } from "../schemas/Paths.ts"

/** One device node a container gets: where it is on the host, where it appears inside, and what it is. */
export interface DeviceNode {
  /** The path inside the container (always under /dev). */
  readonly path: string
  /** The node on the host, under the dev root. */
  readonly hostPath: string
  readonly type: "c" | "b"
  readonly major: number
  readonly minor: number
  /** Permission bits of the host node. */
  readonly fileMode: number
  readonly uid: number
  readonly gid: number
}

/** Why the device nodes for a request cannot be given. */
export class DeviceError extends Data.TaggedError("DeviceError")<{
  readonly reason: "Missing" | "NotDevice"
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `device node ${this.path}: ${this.detail}`
  }
}

/** The nodes every NPU container shares, where the host has them (names under the dev root). */
export const SHARED_NODES = ["devmm_svm", "hisi_hdc", "dvpp_cmdlist"] as const
/** Directories whose every node an NPU container gets, where the host has them (the UB fabric's). */
export const SHARED_NODE_DIRS = ["uburma", "ummu"] as const

/** The chip as the driver names it and the product it is in (Driver.chip), for the chip-aware set. */
export interface ChipFacts {
  readonly name: string
  readonly productType: string
}

/** The chip families upstream tells apart by the name dcmi gives (the order matters: 310B and 310P before 310). */
export type ChipFamily = "310B" | "310P" | "950" | "310" | "910" | "unknown"

/** A chip name's family, as upstream decides it. */
export const chipFamily = (name: string): ChipFamily =>
  name.includes("310B")
    ? "310B"
    : name.includes("310P")
      ? "310P"
      : name.startsWith("Ascend950")
        ? "950"
        : name.includes("310")
          ? "310"
          : name.includes("910")
            ? "910"
            : "unknown"

/** The edge boards' nodes an Ascend 310B container gets where the host has them (Atlas 200I A2 and others). */
export const ASCEND_310B_NODES = [
  "svm0",
  "ts_aisle",
  "upgrade",
  "sys",
  "vdec",
  "vpc",
  "pngd",
  "venc",
  "log_drv",
  "acodec",
  "ai",
  "ao",
  "vo",
  "hdmi"
] as const
/** Products whose containers get no common manager nodes (devmm_svm, hisi_hdc). */
export const NO_COMMON_MANAGER_PRODUCTS = ["Atlas 200I SoC A1", "Atlas 200 Model 3000"] as const

/** Linux's dev_t split, as glibc's major()/minor() do it. */
export const majorMinor = (rdev: bigint): { readonly major: number; readonly minor: number } => ({
  major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
  minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))
})

/**
 * The NPU device nodes of this host, read under a dev root (`/dev`, or another for tests and containerised
 * drivers): what the runtime wrapper adds to a container with the 2023 CLI or in CDI mode, and what
 * `cdi generate` describes. One service, so the three give a container the same nodes.
 */
export class DeviceNodes extends Context.Service<
  DeviceNodes,
  {
    /** `davinci<N>` for each id (host `vdavinci<N>` with VIRTUAL); a missing node is refused, naming it. */
    readonly npus: (
      ids: ReadonlyArray<number>,
      options?: { readonly virtual?: boolean }
    ) => Effect.Effect<ReadonlyArray<DeviceNode>, DeviceError>
    /** The shared nodes the host has: davinci_manager (from davinci_manager_docker where that exists), SHARED_NODES, SHARED_NODE_DIRS. */
    readonly shared: Effect.Effect<ReadonlyArray<DeviceNode>>
    /**
     * The shared nodes for the chip the driver names, as upstream decides them: dvpp_cmdlist where present
     * except on 950; 310B its edge nodes where present and the manager (required); others the manager
     * (required) and, but on Atlas 200 / 200I SoC, the common nodes (required: devmm_svm and hisi_hdc, on 950
     * hisi_hdc only); the UB fabric's dirs where present. A required node that is missing is refused, naming it.
     */
    readonly sharedFor: (chip: ChipFacts) => Effect.Effect<ReadonlyArray<DeviceNode>, DeviceError>
    /** The ids of the `davinci<N>` nodes under the dev root, ascending. */
    readonly present: Effect.Effect<ReadonlyArray<number>>
  }
>()("ascend-docker-hook/DeviceNodes") {
  /** Reads `devRoot` through the provided FileSystem. */
  static readonly layer = (devRoot: string): Layer.Layer<DeviceNodes, never, FileSystem.FileSystem> =>
    Layer.effect(
      DeviceNodes,
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const node = (name: string, inside: string) =>
          Effect.gen(function* () {
            const hostPath = joinPath(devRoot, name)
            const st = yield* fs.stat(hostPath).pipe(
              Effect.mapError(
                (e) =>
                  new DeviceError({
                    reason: "Missing",
                    path: hostPath,
                    detail: e.reason._tag === "NotFound" ? "does not exist" : `cannot be inspected (${e.reason._tag})`
                  })
              )
            )
            if (st.type !== "CharacterDevice" && st.type !== "BlockDevice") {
              return yield* new DeviceError({
                reason: "NotDevice",
                path: hostPath,
                detail: `is not a device (${st.type})`
              })
            }
            const { major, minor } = majorMinor(BigInt(Option.getOrElse(st.rdev, () => 0)))
            return {
              path: joinPath("/dev", inside),
              hostPath,
              type: st.type === "CharacterDevice" ? "c" : "b",
              major,
              minor,
              fileMode: st.mode & 0o777,
              uid: Option.getOrElse(st.uid, () => 0),
              gid: Option.getOrElse(st.gid, () => 0)
            } satisfies DeviceNode
          })
        const optional = (name: string, inside: string) =>
          node(name, inside).pipe(
            Effect.map(Option.some),
            Effect.orElseSucceed(() => Option.none<DeviceNode>())
          )
        const names = (dir: string) =>
          fs.readDirectory(joinPath(devRoot, dir)).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
        return DeviceNodes.of({
          npus: Effect.fn("DeviceNodes.npus")(function* (ids, options) {
            const out: Array<DeviceNode> = []
            for (const id of ids) {
              out.push(yield* node(options?.virtual === true ? `vdavinci${id}` : `davinci${id}`, `davinci${id}`))
            }
            return out
          }),
          shared: Effect.gen(function* () {
            // The manager node: davinci_manager_docker where the driver made one, appearing as davinci_manager.
            const docker = yield* optional("davinci_manager_docker", "davinci_manager")
            const found = [Option.isSome(docker) ? docker : yield* optional("davinci_manager", "davinci_manager")]
            for (const name of SHARED_NODES) found.push(yield* optional(name, name))
            for (const dir of SHARED_NODE_DIRS) {
              for (const name of [...(yield* names(dir))].sort())
                found.push(yield* optional(`${dir}/${name}`, `${dir}/${name}`))
            }
            return found.filter(Option.isSome).map((o) => o.value)
          }).pipe(Effect.withSpan("DeviceNodes.shared")),
          sharedFor: Effect.fn("DeviceNodes.sharedFor")(function* (chip: ChipFacts) {
            const family = chipFamily(chip.name)
            const found: Array<Option.Option<DeviceNode>> = []
            if (family !== "unknown" && family !== "950") found.push(yield* optional("dvpp_cmdlist", "dvpp_cmdlist"))
            if (family === "310B") for (const name of ASCEND_310B_NODES) found.push(yield* optional(name, name))
            const docker = yield* optional("davinci_manager_docker", "davinci_manager")
            const manager = Option.isSome(docker) ? docker.value : yield* node("davinci_manager", "davinci_manager")
            const required: Array<DeviceNode> = [manager]
            const common = family === "950" ? ["hisi_hdc"] : ["devmm_svm", "hisi_hdc"]
            const bare = (NO_COMMON_MANAGER_PRODUCTS as ReadonlyArray<string>).includes(chip.productType)
            if (family !== "310B" && !bare) for (const name of common) required.push(yield* node(name, name))
            for (const dir of SHARED_NODE_DIRS) {
              for (const name of [...(yield* names(dir))].sort())
                found.push(yield* optional(`${dir}/${name}`, `${dir}/${name}`))
            }
            return [...required, ...found.filter(Option.isSome).map((o) => o.value)]
          }),
          present: Effect.gen(function* () {
            const ids: Array<number> = []
            for (const name of yield* names(".")) {
              const m = /^davinci([0-9]{1,4})$/.exec(name)
              if (m !== null && Option.isSome(yield* optional(name, name))) ids.push(Number(m[1]))
            }
            return ids.sort((a, b) => a - b)
          })
        })
      })
    )
}
