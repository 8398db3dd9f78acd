import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { CliProtocol } from "../HookConfig.ts"
import { Limits } from "../Limits.ts"
import {
  type AscendRequest,
  RUNTIME_OPTIONS,
  type UnprivilegedEnvPolicy,
  VISIBLE_DEVICES,
  VNPU_SPECS
} from "../schemas/AscendEnv.ts"
import { lookupEnv } from "../schemas/ContainerEnv.ts"
import { joinPath } from "../schemas/Paths.ts"
import { quote } from "../schemas/Text.ts"
import { type DeviceError, type DeviceNode, DeviceNodes } from "../services/DeviceNodes.ts"
import { Driver, type DriverError, NO_VDEV, usableVdevId, VNPU_TEMPLATES } from "../services/Driver.ts"
import { FileTrust } from "../services/FileTrust.ts"
import { MountResolver } from "../services/MountResolver.ts"
import { type HookEntry, npuEdits } from "./ContainerEdits.ts"
import { recordPath } from "./VnpuRecord.ts"

/** The container variable that asks for a virtual NPU cut from its one physical NPU, by template name. */
export { VNPU_SPECS }
/** The name the destroy program answers to (multi-call, like the wrapper): argv[0] of the poststop hook. */
export const DESTROY_PROGRAM = "ascend-docker-destroy"
/** The highest physical id a vNPU can be cut from (dcmi: 64 cards of 4 devices). */
const MAX_PHYSICAL_ID = 255

/** Why a vNPU is not given: the request (before any driver call), or a step around the create. */
export class VnpuError extends Data.TaggedError("VnpuError")<{
  readonly reason: "BadRequest" | "Unprivileged" | "Unavailable" | "BadAnswer" | "Record" | "Cleanup"
  readonly detail: string
}> {
  override get message(): string {
    const request = this.reason === "BadRequest" || this.reason === "Unprivileged"
    return `${request ? `container env ${VNPU_SPECS}` : "vNPU"}: ${this.detail}`
  }
}

/** What a container asks: a template and the physical NPU it is cut from. */
export interface VnpuRequest {
  readonly template: string
  readonly phy: number
}

/** A vNPU being made: where, before the driver has answered with its id. */
export interface PendingVnpu {
  readonly phy: number
  readonly card: number
  readonly device: number
  readonly vdevId: null
}

/** A virtual NPU the driver made: where, and its id (the container's /dev/davinci<vdevId>). */
export interface Vnpu {
  readonly phy: number
  readonly card: number
  readonly device: number
  readonly vdevId: number
}

/**
 * The vNPU a container asks for, checked before any driver call: none without ASCEND_VNPU_SPECS; refused
 * for an empty or unknown template, other than exactly one physical id, an id over 255, or VIRTUAL already
 * in ASCEND_RUNTIME_OPTIONS (its ids are vNPUs already: one rule for hook and cdi mode, where upstream
 * skipped the split in one and made it in the other). The privilege gate is ASCEND_VISIBLE_DEVICES's:
 * from an unprivileged container, `ignore` drops the request and `refuse` refuses it.
 */
export const vnpuRequest = (
  env: ReadonlyArray<string>,
  request: AscendRequest,
  gate: { readonly privileged: boolean; readonly policy: UnprivilegedEnvPolicy }
): Result.Result<Option.Option<VnpuRequest>, VnpuError> => {
  const value = lookupEnv(env, VNPU_SPECS)
  if (value === undefined) return Result.succeed(Option.none())
  const fail = (detail: string, reason: VnpuError["reason"] = "BadRequest") =>
    Result.fail(new VnpuError({ reason, detail }))
  if (!gate.privileged && gate.policy === "ignore") return Result.succeed(Option.none())
  if (!gate.privileged && gate.policy === "refuse")
    return fail(
      "is asked for by an unprivileged container (no CAP_SYS_ADMIN), which this host refuses (unprivileged-env refuse)",
      "Unprivileged"
    )
  if (value === "") return fail(`is empty; a template is one of ${VNPU_TEMPLATES.join(" ")}`)
  if (!VNPU_TEMPLATES.includes(value))
    return fail(`${quote(value.slice(0, 64))} is not a vNPU template (one of ${VNPU_TEMPLATES.join(" ")})`)
  if (request.options.includes("VIRTUAL"))
    return fail(
      `asks for a new vNPU but ${RUNTIME_OPTIONS} has VIRTUAL (its ids are vNPUs already); set one of the two`
    )
  if (request.devices.length !== 1)
    return fail(`needs exactly one physical NPU in ${VISIBLE_DEVICES}, not ${request.devices.length}`)
  const phy = request.devices[0]!
  if (phy > MAX_PHYSICAL_ID)
    return fail(`cannot cut a vNPU from NPU ${phy}: physical ids for a vNPU are 0-${MAX_PHYSICAL_ID}`)
  return Result.succeed(Option.some({ template: value, phy }))
}

/**
 * Makes the vNPU, every check first: the NPU placed on a card (an Ascend 950 refused), the destroy program
 * (the poststop hook) trusted, and only then the create, with a pending record (no id yet) kept while it
 * runs, so that a wrapper killed inside the driver's call leaves a trace. A vdevId the driver cannot have
 * meant is refused: 0xFFFFFFFF (nothing named; upstream gave the container the physical NPU) as it is, any
 * other one outside 0-Limits.maxDeviceId after destroying it. On success the record is the caller's.
 */
export const createVnpu = Effect.fn("Vnpu.create")(function* (
  request: VnpuRequest,
  destroyProgram: string,
  record: RecordAt
) {
  const driver = yield* Driver
  const at = yield* driver.place(request.phy)
  yield* FileTrust.use((t) => t.file(destroyProgram, "destroy program (poststop hook)", { executable: true }))
  const pending: PendingVnpu = { phy: at.phy, card: at.card, device: at.device, vdevId: null }
  yield* writeRecord(record.stateDir, record.id, pending).pipe(
    Effect.mapError((e) => new VnpuError({ reason: "Record", detail: `cannot keep a record: ${e.message}` }))
  )
  return yield* Effect.gen(function* () {
    const vdevId = yield* driver.create(at, request.template)
    const vnpu: Vnpu = { phy: at.phy, card: at.card, device: at.device, vdevId }
    if (vdevId === NO_VDEV)
      return yield* new VnpuError({
        reason: "BadAnswer",
        detail: `the driver's create on NPU ${at.phy} returned no vNPU id (0xFFFFFFFF); the container does not get the physical NPU instead`
      })
    if (!usableVdevId(vdevId)) {
      yield* destroyVnpu(vnpu)
      return yield* new VnpuError({
        reason: "BadAnswer",
        detail: `the driver's create on NPU ${at.phy} returned vNPU id ${vdevId}, outside 0-${Limits.maxDeviceId}; it was destroyed again`
      })
    }
    return vnpu
  }).pipe(Effect.tapError(() => Effect.ignore(removeRecord(record.stateDir, record.id))))
})

/** Destroys a vNPU the wrapper made, for a step after the create that failed; a failure of its own is kept in the line. */
export const destroyVnpu = (vnpu: Vnpu): Effect.Effect<void, DriverError, Driver> =>
  Driver.use((d) => d.destroy(vnpu.card, vnpu.device, vnpu.vdevId))

/** A container's record: where it is kept. */
export interface RecordAt {
  readonly stateDir: string
  readonly id: string
}

/**
 * Runs the steps after a create; when one fails the vNPU is destroyed (and its record, if one was kept,
 * removed) and the failure passed on, with the destroy's own failure appended when that fails too: the
 * admin must know a vNPU was left.
 */
export const orDestroy = <A, E extends { readonly message: string }, R>(
  vnpu: Vnpu,
  after: Effect.Effect<A, E, R>,
  record?: RecordAt
): Effect.Effect<A, E | VnpuError, R | Driver | FileSystem.FileSystem> =>
  after.pipe(
    Effect.catch((e: E) =>
      destroyVnpu(vnpu).pipe(
        Effect.matchEffect({
          onSuccess: () =>
            Effect.andThen(
              record === undefined ? Effect.void : Effect.ignore(removeRecord(record.stateDir, record.id)),
              Effect.fail(e)
            ),
          onFailure: (d) =>
            Effect.fail(
              new VnpuError({
                reason: "Cleanup",
                detail: `${e.message}; and destroying vNPU ${vnpu.vdevId} failed too: ${d.message}`
              })
            )
        })
      )
    )
  )

/** The container's env once it has the vNPU: the device list is the vdevId, and VIRTUAL is in the options. */
export const vnpuEnv = (vnpu: Vnpu, options: ReadonlyArray<string>): ReadonlyArray<string> => [
  `${VISIBLE_DEVICES}=${vnpu.vdevId}`,
  `${RUNTIME_OPTIONS}=${[...options.filter((o) => o !== "VIRTUAL"), "VIRTUAL"].join(",")}`
]

/** The poststop hook that destroys the vNPU when the runtime deletes the container: this binary, by its destroy name. */
export const destroyHook = (program: string, vnpu: Vnpu): HookEntry => ({
  path: program,
  args: [DESTROY_PROGRAM, String(vnpu.card), String(vnpu.device), String(vnpu.vdevId)]
})

/**
 * Keeps a record of the vNPU made for a container, written (synced, renamed into place) before runc runs, so
 * that a wrapper killed before it could see runc's answer leaves a trace the next `delete` of that container
 * acts on. Root's, 0600, in a 0700 dir.
 */
export const writeRecord = Effect.fn("Vnpu.writeRecord")(function* (
  stateDir: string,
  id: string,
  vnpu: Vnpu | PendingVnpu
) {
  const fs = yield* FileSystem.FileSystem
  const dir = joinPath(stateDir, "vnpu")
  yield* fs.makeDirectory(dir, { recursive: true, mode: 0o700 })
  const path = recordPath(stateDir, id)
  const tmp = `${path}.tmp`
  yield* fs.writeFileString(tmp, `${JSON.stringify(vnpu)}\n`, { mode: 0o600 })
  yield* fs.rename(tmp, path)
})

/** The record of a container's vNPU (or of one being made), if one was left; a file that is not one is none. */
export const readRecord = Effect.fn("Vnpu.readRecord")(function* (stateDir: string, id: string) {
  const fs = yield* FileSystem.FileSystem
  const path = recordPath(stateDir, id)
  const none = Option.none<Vnpu | PendingVnpu>()
  const st = yield* fs.lstat(path).pipe(Effect.option)
  if (Option.isNone(st) || st.value.type !== "File" || Number(st.value.size) > 4096) return none
  const text = yield* fs.readFileString(path)
  try {
    const v = JSON.parse(text) as Partial<Record<keyof Vnpu, unknown>>
    const where = [v.phy, v.card, v.device].every((n) => Number.isInteger(n) && (n as number) >= 0)
    if (where && (v.vdevId === null || usableVdevId(v.vdevId as number)))
      return Option.some(v as unknown as Vnpu | PendingVnpu)
  } catch {}
  return none
})

/** Removes a container's record (the poststop hook owns the vNPU now, or it is destroyed). */
export const removeRecord = (stateDir: string, id: string) =>
  FileSystem.FileSystem.use((fs) => fs.remove(recordPath(stateDir, id), { force: true }))

/**
 * On `delete`: a vNPU whose record is left (its wrapper was killed before runc answered) is destroyed, then
 * the record removed. A pending one (killed inside the driver's create) cannot be: its id was never known;
 * the record goes and the failure says where to look.
 */
export const destroyLeftover = Effect.fn("Vnpu.destroyLeftover")(function* (stateDir: string, id: string) {
  const record = yield* readRecord(stateDir, id)
  if (Option.isNone(record)) return false
  const left = record.value
  yield* removeRecord(stateDir, id)
  if (left.vdevId === null)
    return yield* new VnpuError({
      reason: "Cleanup",
      detail: `the wrapper was killed while the driver made a vNPU on NPU ${left.phy} (card ${left.card} device ${left.device}) for container ${id}; its id is unknown, so it may be left: see the driver's vNPU list (npu-smi info) and destroy it with ascend-docker-destroy ${left.card} ${left.device} <vdevId>`
    })
  yield* destroyVnpu(left)
  return true
})

/** What the wrapper needs to make a vNPU; set by its entry, never by a container. */
export interface VnpuSettings {
  /** The driver (Driver.layer over the platform's loader). */
  readonly driver: Layer.Layer<Driver, never, FileSystem.FileSystem | FileTrust>
  /** This binary: the poststop hook runs it as ascend-docker-destroy. */
  readonly destroyProgram: string
  /** Where vNPU records live (ASCEND_DOCKER_RUNTIME_STATE_DIR, default /run/ascend-docker-runtime). */
  readonly stateDir: string
  /** The container's id, from runc's command line. */
  readonly containerId: string | undefined
}

/** A vNPU made for a container, and what to do once runc has answered: keep it (ok) or destroy it. */
export interface PreparedVnpu {
  readonly vnpu: Vnpu
  /** After runc: removes the record; when runc failed, first destroys the vNPU. Undefined, or the one-line failure. */
  readonly settle: (runcSucceeded: boolean) => string | undefined
}

/**
 * The edits for a vNPU container, every check that can fail before the create: the shared nodes and (cdi
 * mode) the mounts and lib dirs, the container id for the record, the destroy program, the placement; then
 * the create, and the host `vdavinci<vdevId>` node the driver made (refused, and the vNPU destroyed, when it
 * is missing). With the 2021 CLI (which makes the nodes itself) only the env changes: the hook reads the
 * device list from config.json, so the vdevId reaches the CLI's `--devices`.
 */
export const vnpuEdits = Effect.fn("Vnpu.edits")(function* (
  asked: VnpuRequest,
  context: {
    readonly settings: VnpuSettings | undefined
    readonly mode: "hook" | "cdi"
    readonly protocol: CliProtocol
    readonly request: AscendRequest
    readonly hook: HookEntry
    readonly libDirs: Effect.Effect<ReadonlyArray<string>>
  }
) {
  const settings = context.settings
  if (settings === undefined)
    return yield* new VnpuError({
      reason: "Unavailable",
      detail: "this build of the wrapper cannot make a vNPU (it needs the binary)"
    })
  if (settings.containerId === undefined)
    return yield* new VnpuError({
      reason: "Unavailable",
      detail: "the container id on runc's command line is not one a record can be kept for"
    })
  const nodes = yield* DeviceNodes
  const nodesOnly = context.mode === "hook" && context.protocol === "2021"
  const shared = nodesOnly ? [] : yield* chipAwareShared
  const cdi = context.mode === "cdi"
  const mounts =
    cdi && !context.request.options.includes("NODRV")
      ? yield* MountResolver.use((m) => m.resolve(context.request.mountLists))
      : undefined
  const libDirs = cdi ? yield* context.libDirs : []
  const record = { stateDir: settings.stateDir, id: settings.containerId }
  const vnpu = yield* createVnpu(asked, settings.destroyProgram, record)
  // The record completed first, so that a kill from here on leaves what the next delete needs.
  yield* orDestroy(
    vnpu,
    writeRecord(record.stateDir, record.id, vnpu).pipe(
      Effect.mapError(
        (e) =>
          new VnpuError({ reason: "Record", detail: `cannot keep the record of vNPU ${vnpu.vdevId}: ${e.message}` })
      )
    ),
    record
  )
  const npus = yield* orDestroy(vnpu, nodes.npus([vnpu.vdevId], { virtual: true }), record)
  const edits = nodesOnly ? { deviceNodes: [], mounts: [], env: [] } : npuEdits({ npus, shared, mounts, libDirs })
  return {
    edits: { ...edits, env: [...edits.env, ...vnpuEnv(vnpu, context.request.options)] },
    hook: cdi ? undefined : context.hook,
    vnpu,
    driver: yield* Driver
  }
})

/**
 * The config.json edit with the vNPU's poststop hook; a failure destroys the vNPU. Then the vNPU is the
 * caller's until runc answers: `settle` keeps it (runc has the container, whose poststop hook destroys it)
 * or destroys it (runc refused the container before any hook could run), and removes the record.
 */
export const settleVnpu = Effect.fn("Vnpu.settle")(function* <E extends { readonly message: string }>(
  vnpu: Vnpu,
  settings: VnpuSettings,
  edit: Effect.Effect<unknown, E, never>
) {
  const record = { stateDir: settings.stateDir, id: settings.containerId! }
  yield* orDestroy(vnpu, edit, record)
  const context = yield* Effect.context<Driver | FileSystem.FileSystem>()
  const settle = (ok: boolean): string | undefined => {
    const exit = Effect.runSyncExitWith(context)(
      Effect.gen(function* () {
        if (!ok) yield* destroyVnpu(vnpu)
        yield* removeRecord(record.stateDir, record.id)
      })
    )
    if (exit._tag === "Success") return undefined
    const error = Cause.squash(exit.cause)
    return error instanceof Error ? error.message : String(error)
  }
  return { vnpu, settle } satisfies PreparedVnpu
})

/** The shared nodes a container gets: the chip-aware set where the driver can be asked, else what /dev has. */
export const chipAwareShared: Effect.Effect<
  ReadonlyArray<DeviceNode>,
  DriverError | DeviceError,
  DeviceNodes | Driver
> = Effect.gen(function* () {
  const nodes = yield* DeviceNodes
  const chip = yield* Driver.use((d) => d.chipIfPresent)
  return Option.isSome(chip) ? yield* nodes.sharedFor(chip.value) : yield* nodes.shared
}).pipe(Effect.withSpan("Vnpu.chipAwareShared"))

/**
 * The vNPU records a killed wrapper left (container id and vNPU), for `doctor` to report and an admin to
 * act on (`ascend-docker-destroy <card> <device> <vdevId>`, or a `delete` of the container through the
 * wrapper). Not yet called by doctor.
 */
export const leftoverVnpus = Effect.fn("Vnpu.leftovers")(function* (stateDir: string) {
  const fs = yield* FileSystem.FileSystem
  const names = yield* fs.readDirectory(joinPath(stateDir, "vnpu")).pipe(Effect.orElseSucceed(() => []))
  const out: Array<{ readonly containerId: string; readonly vnpu: Vnpu | PendingVnpu }> = []
  for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
    const containerId = name.slice(0, -".json".length)
    const record = yield* readRecord(stateDir, containerId).pipe(
      Effect.orElseSucceed(() => Option.none<Vnpu | PendingVnpu>())
    )
    if (Option.isSome(record)) out.push({ containerId, vnpu: record.value })
  }
  return out
})
