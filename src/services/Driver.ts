import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Limits } from "../Limits.ts"
import { defaultLibraryDirs, type LoaderArch, lookupLdCache } from "../schemas/LdCache.ts"
import { dirnameOf } from "../schemas/Paths.ts"
import { FileTrust } from "./FileTrust.ts"

/** A dcmi answer: the function's return code and, where it fills one in, the value (meaningless unless code is 0). */
export interface Answer<A> {
  readonly code: number
  readonly value: A
}

/**
 * The functions of the driver's libdcmi.so this project calls, one method each, synchronous, as the
 * library has them (upstream's dcmi_interface_api.h). The seam between the Driver service and the
 * library: the binary's layer is src/platform/DcmiFfi.ts, tests use `memoryDcmi`. The `v2` ones are
 * Ascend 950's generation; undefined where the library lacks them.
 */
export interface Dcmi {
  readonly init: () => number
  readonly v2Init: (() => number) | undefined
  readonly cardList: () => Answer<ReadonlyArray<number>>
  readonly deviceCount: (card: number) => Answer<number>
  readonly logicId: (card: number, device: number) => Answer<number>
  readonly logicIdOfPhysical: (phy: number) => Answer<number>
  readonly createVdevice: (card: number, device: number, template: string) => Answer<number>
  readonly destroyVdevice: (card: number, device: number, vdevId: number) => number
  readonly productType: (card: number, device: number) => Answer<string>
  readonly chipName: (card: number, device: number) => Answer<string>
  readonly v2DeviceList: (() => Answer<ReadonlyArray<number>>) | undefined
  readonly v2ChipName: ((device: number) => Answer<string>) | undefined
}

/** What dcmi's documentation says a return code means (as upstream's device manager tabulates it). */
export const DCMI_CODES: Readonly<Record<number, string>> = {
  [-8001]: "a parameter is wrong",
  [-8002]: "permission denied",
  [-8003]: "a memory operation failed in the driver",
  [-8004]: "a security function failed in the driver",
  [-8005]: "internal error of the driver",
  [-8006]: "the device did not answer in time",
  [-8007]: "invalid device id",
  [-8008]: "no such device",
  [-8009]: "an ioctl to the driver failed",
  [-8010]: "a message to the device could not be sent",
  [-8011]: "no message came back from the device",
  [-8012]: "the device is not ready yet; try again",
  [-8013]: "not available inside a container",
  [-8014]: "a file operation failed in the driver",
  [-8015]: "reset failed",
  [-8016]: "reset cancelled",
  [-8017]: "the device is being upgraded",
  [-8020]: "the device's resources are in use",
  [-8022]: "inconsistent partitions found",
  [-8023]: "the configuration does not exist",
  [-8255]: "not supported by this device or driver",
  [-99998]: "the library lacks this function; the driver is too old"
}

/** Why the driver could not answer, or answered something unusable. */
export class DriverError extends Data.TaggedError("DriverError")<{
  readonly reason: "NoLibrary" | "Untrusted" | "NeedsBinary" | "Load" | "Call" | "NoVnpu" | "Unplaceable" | "BadAnswer"
  /** The dcmi function, for Call. */
  readonly call?: string
  readonly code?: number
  /** Which device, as the user named it ("NPU 3", "card 1 device 0"). */
  readonly device?: string
  readonly detail: string
}> {
  override get message(): string {
    if (this.reason !== "Call") return `driver: ${this.detail}`
    const meaning = DCMI_CODES[this.code ?? 0]
    return `driver: ${this.call}${this.device === undefined ? "" : ` for ${this.device}`} failed with ${this.code}${meaning === undefined ? "" : ` (${meaning})`}${this.detail === "" ? "" : `: ${this.detail}`}`
  }
}

/** The chip as dcmi names it, its product type, and the library's generation (2: Ascend 950, dcmiv2). */
export interface Chip {
  readonly name: string
  readonly productType: string
  readonly generation: 1 | 2
}

/** Where dcmi places a physical NPU: the card and the device in it. */
export interface Placement {
  readonly phy: number
  readonly card: number
  readonly device: number
}

/** The vNPU templates dcmi_create_vdevice accepts (upstream's fixed list). */
export const VNPU_TEMPLATES: ReadonlyArray<string> = [
  "vir01",
  "vir02",
  "vir04",
  "vir08",
  "vir16",
  "vir02_1c",
  "vir03_1c_8g",
  "vir04_3c",
  "vir04_4c_dvpp",
  "vir04_3c_ndvpp",
  "vir05_1c_8g",
  "vir05_1c_16g",
  "vir06_1c_16g",
  "vir10_3c_16g",
  "vir10_3c_16g_nm",
  "vir10_3c_32g",
  "vir10_4c_16g_m",
  "vir12_3c_32g"
]

/** The library's name, as the driver registers it with the loader. */
export const DCMI_LIBRARY = "libdcmi.so"
/** Bounds: the library itself, and ld.so.cache (both read or mapped whole). */
const LIBRARY_MAX_BYTES = 64 * 1024 * 1024
const LD_CACHE_MAX_BYTES = 64 * 1024 * 1024
/** dcmi's own limits (upstream): 64 cards, 4 devices a card, logic ids below 256. */
const MAX_CARDS = 64
const MAX_DEVICES_IN_CARD = 4
/** What a create returns when it made nothing it could name. */
export const NO_VDEV = 0xffffffff

/**
 * The Ascend driver's answers (dcmi): the chip and product, where a physical NPU sits, and virtual NPUs
 * made and destroyed. Nothing is loaded when the layer is built: the library is found, checked and loaded
 * on the first question, so a host without it runs every container that asks none.
 */
export class Driver extends Context.Service<
  Driver,
  {
    readonly chip: Effect.Effect<Chip, DriverError>
    /** The chip where the driver can be asked; none where it cannot (no library, or the Node bundle): then /dev decides. */
    readonly chipIfPresent: Effect.Effect<Option.Option<Chip>, DriverError>
    readonly place: (phy: number) => Effect.Effect<Placement, DriverError>
    /** The vdevId dcmi returned; any value, checked by the caller (who must destroy one it cannot use). */
    readonly create: (at: Placement, template: string) => Effect.Effect<number, DriverError>
    readonly destroy: (card: number, device: number, vdevId: number) => Effect.Effect<void, DriverError>
  }
>()("ascend-docker-hook/Driver") {
  /**
   * The real driver: libdcmi.so found as the loader finds it (`findLibrary`), trust-checked, then handed by
   * its absolute path to `open` (the platform's loader: bun:ffi in the binary; on Node a refusal).
   */
  static readonly layer = (options: {
    readonly arch: LoaderArch
    readonly open: (path: string) => Dcmi | DriverError
  }): Layer.Layer<Driver, never, FileSystem.FileSystem | FileTrust> =>
    Layer.effect(
      Driver,
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const trust = yield* FileTrust
        const load = Effect.gen(function* () {
          const path = yield* findLibrary(fs, options.arch)
          yield* checkLibrary(fs, trust, path)
          const dcmi = options.open(path)
          return dcmi instanceof DriverError ? yield* dcmi : dcmi
        })
        return makeDriver(load.pipe(Effect.provideService(FileSystem.FileSystem, fs)))
      })
    )

  /** The in-memory driver for tests: the service's logic over `memoryDcmi(state)`, whose calls `state` records. */
  static readonly layerTest = (state: MemoryDcmiState): Layer.Layer<Driver> => Driver.layerDcmi(memoryDcmi(state))

  /** A driver over a given Dcmi (memoryDcmi in tests): the service's logic without a library. */
  static readonly layerDcmi = (dcmi: Dcmi): Layer.Layer<Driver> =>
    Layer.succeed(Driver, makeDriver(Effect.succeed(dcmi)))
}

/**
 * libdcmi.so's path as `dlopen("libdcmi.so")` would find it, read without loading anything: ld.so.cache's
 * entry for this arch, else the loader's default dirs. Not LD_LIBRARY_PATH: no program here takes it.
 */
export const findLibrary = Effect.fn("Driver.findLibrary")(function* (fs: FileSystem.FileSystem, arch: LoaderArch) {
  const cache = yield* fs.stat("/etc/ld.so.cache").pipe(
    Effect.flatMap((st) =>
      st.type === "File" && Number(st.size) <= LD_CACHE_MAX_BYTES
        ? fs.readFile("/etc/ld.so.cache")
        : Effect.succeed(new Uint8Array())
    ),
    Effect.orElseSucceed(() => new Uint8Array())
  )
  const cached = lookupLdCache(cache, DCMI_LIBRARY, arch)
  if (cached !== undefined) return cached
  for (const dir of defaultLibraryDirs(arch)) {
    const candidate = `${dir}/${DCMI_LIBRARY}`
    if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return candidate
  }
  return yield* new DriverError({
    reason: "NoLibrary",
    detail: `${DCMI_LIBRARY} is not known to the loader (not in /etc/ld.so.cache nor ${defaultLibraryDirs(arch).join(", ")}); is the Ascend driver installed and ldconfig run?`
  })
})

/**
 * The library's trust, checked before anything of it runs (a loaded library's constructors already ran):
 * a regular file, not a link, of root's (or ours), writable by nobody else, no larger than it can be, in a
 * directory path without symbolic links whose every directory is as trusted.
 */
const checkLibrary = (fs: FileSystem.FileSystem, trust: FileTrust["Service"], path: string) =>
  Effect.gen(function* () {
    const untrusted = (detail: string) => new DriverError({ reason: "Untrusted", detail: `${path} ${detail}` })
    yield* trust.file(path, "driver library").pipe(Effect.mapError((e) => untrusted(`is not trusted: ${e.message}`)))
    const dir = dirnameOf(path)
    const real = yield* fs
      .realPath(dir)
      .pipe(Effect.mapError(() => untrusted("has a directory that cannot be resolved")))
    if (real !== dir) yield* untrusted(`has a symbolic link in its directory path (${dir} is ${real})`)
    const st = yield* fs.stat(path).pipe(Effect.mapError(() => untrusted("cannot be inspected")))
    if (Number(st.size) > LIBRARY_MAX_BYTES) yield* untrusted(`is larger than ${LIBRARY_MAX_BYTES} bytes`)
  })

const call = (name: string, code: number, device?: string) =>
  new DriverError({ reason: "Call", call: name, code, detail: "", ...(device === undefined ? {} : { device }) })

/** The first chip name dcmi gives on any device (upstream asks them in order and takes the first). */
const chipOf = (dcmi: Dcmi, generation: 1 | 2): Effect.Effect<Chip, DriverError> =>
  Effect.gen(function* () {
    if (generation === 2) {
      const list = dcmi.v2DeviceList?.() ?? { code: -99998, value: [] }
      if (list.code !== 0) return yield* call("dcmiv2_get_device_list", list.code)
      for (const device of list.value) {
        const name = dcmi.v2ChipName?.(device)
        if (name !== undefined && name.code === 0 && name.value !== "")
          return { name: name.value, productType: "", generation }
      }
      return yield* new DriverError({ reason: "BadAnswer", detail: "no device gives a chip name" })
    }
    const cards = dcmi.cardList()
    if (cards.code !== 0) return yield* call("dcmi_get_card_num_list", cards.code)
    for (const card of cards.value) {
      const count = dcmi.deviceCount(card)
      if (count.code !== 0) continue
      for (let device = 0; device < Math.min(count.value, MAX_DEVICES_IN_CARD); device++) {
        const name = dcmi.chipName(card, device)
        if (name.code !== 0 || name.value === "") continue
        const product = dcmi.productType(card, device)
        const productType = product.code === 0 ? product.value : ""
        return { name: name.value, productType, generation }
      }
    }
    return yield* new DriverError({ reason: "BadAnswer", detail: "no device gives a chip name" })
  })

/** Where a physical NPU sits, or Unplaceable (upstream silently used card and device MaxInt32). */
const placeOf = (dcmi: Dcmi, phy: number): Effect.Effect<Placement, DriverError> =>
  Effect.gen(function* () {
    const who = `NPU ${phy}`
    const logic = dcmi.logicIdOfPhysical(phy)
    if (logic.code !== 0) return yield* call("dcmi_get_device_logicid_from_phyid", logic.code, who)
    if (logic.value < 0 || logic.value >= MAX_CARDS * MAX_DEVICES_IN_CARD)
      return yield* new DriverError({ reason: "BadAnswer", detail: `${who} has logic id ${logic.value}, out of range` })
    const cards = dcmi.cardList()
    if (cards.code !== 0) return yield* call("dcmi_get_card_num_list", cards.code)
    for (const card of cards.value.slice(0, MAX_CARDS)) {
      const count = dcmi.deviceCount(card)
      if (count.code !== 0) return yield* call("dcmi_get_device_num_in_card", count.code, `card ${card}`)
      for (let device = 0; device < Math.min(count.value, MAX_DEVICES_IN_CARD); device++) {
        const id = dcmi.logicId(card, device)
        if (id.code !== 0) return yield* call("dcmi_get_device_logic_id", id.code, `card ${card} device ${device}`)
        if (id.value === logic.value) return { phy, card, device }
      }
    }
    return yield* new DriverError({
      reason: "Unplaceable",
      detail: `${who} (logic id ${logic.value}) is on no card dcmi lists; no vNPU was made`
    })
  })

/** The service over a Dcmi that is loaded, and initialised, on the first question only. */
const makeDriver = (load: Effect.Effect<Dcmi, DriverError>): Driver["Service"] => {
  let session: { readonly dcmi: Dcmi; readonly generation: 1 | 2 } | undefined
  const ready = Effect.suspend(() =>
    session !== undefined
      ? Effect.succeed(session)
      : Effect.gen(function* () {
          const dcmi = yield* load
          const v1 = dcmi.init()
          // Ascend 950 answers only the v2 interface; its v1 init fails.
          const generation = v1 === 0 ? 1 : dcmi.v2Init !== undefined && dcmi.v2Init() === 0 ? 2 : undefined
          if (generation === undefined) return yield* call("dcmi_init", v1)
          session = { dcmi, generation }
          return session
        })
  )
  let known: Chip | undefined
  const chip = Effect.gen(function* () {
    if (known !== undefined) return known
    const { dcmi, generation } = yield* ready
    known = yield* chipOf(dcmi, generation)
    return known
  }).pipe(Effect.withSpan("Driver.chip"))
  return Driver.of({
    chip,
    chipIfPresent: chip.pipe(
      Effect.map(Option.some),
      Effect.catchIf(
        (e) => e.reason === "NoLibrary" || e.reason === "NeedsBinary",
        () => Effect.succeed(Option.none<Chip>())
      )
    ),
    place: Effect.fn("Driver.place")(function* (phy: number) {
      const { dcmi, generation } = yield* ready
      if (generation === 2)
        return yield* new DriverError({
          reason: "NoVnpu",
          detail: "this is an Ascend 950 (dcmi v2), which has no vNPU"
        })
      return yield* placeOf(dcmi, phy)
    }),
    create: Effect.fn("Driver.create")(function* (at: Placement, template: string) {
      const { dcmi } = yield* ready
      const made = dcmi.createVdevice(at.card, at.device, template)
      const who = `NPU ${at.phy} (card ${at.card} device ${at.device})`
      if (made.code !== 0) return yield* call("dcmi_create_vdevice", made.code, who)
      return made.value
    }),
    destroy: Effect.fn("Driver.destroy")(function* (card: number, device: number, vdevId: number) {
      const { dcmi } = yield* ready
      const code = dcmi.destroyVdevice(card, device, vdevId)
      if (code !== 0)
        return yield* call("dcmi_set_destroy_vdevice", code, `vNPU ${vdevId} on card ${card} device ${device}`)
    })
  })
}

/** What an in-memory Dcmi answers, and the calls it saw. */
export interface MemoryDcmiState {
  chip: string
  product: string
  /** Ascend 950: v1 init fails, v2 works. */
  v2: boolean
  cards: number
  /** The vdevId a create returns (default 100 + 16 * card). */
  vdev?: number
  /** Return codes by dcmi function name. */
  errors: Record<string, number>
  readonly calls: Array<string>
}

/** An in-memory Dcmi: the stand-in library's behaviour, for tests of the service and of the wrapper's logic. */
export const memoryDcmi = (state: MemoryDcmiState): Dcmi => {
  const err = (name: string) => state.errors[name] ?? 0
  const rec = <A>(name: string, value: A, ...args: ReadonlyArray<unknown>): Answer<A> => {
    state.calls.push([name, ...args].join(" "))
    return { code: err(name), value }
  }
  const cards = () => Array.from({ length: state.cards }, (_, i) => i)
  return {
    init: () => (state.v2 ? -8255 : rec("dcmi_init", 0).code),
    v2Init: () => (state.v2 ? rec("dcmiv2_init", 0).code : -8255),
    cardList: () => rec("dcmi_get_card_num_list", cards()),
    deviceCount: (card) => rec("dcmi_get_device_num_in_card", 1, card),
    logicId: (card, device) => rec("dcmi_get_device_logic_id", card, card, device),
    logicIdOfPhysical: (phy) => rec("dcmi_get_device_logicid_from_phyid", phy, phy),
    createVdevice: (card, device, template) =>
      rec("dcmi_create_vdevice", state.vdev ?? 100 + 16 * card, card, device, template),
    destroyVdevice: (card, device, vdevId) => rec("dcmi_set_destroy_vdevice", 0, card, device, vdevId).code,
    productType: (card, device) => rec("dcmi_get_product_type", state.product, card, device),
    chipName: (card, device) => rec("dcmi_get_device_chip_info", state.chip, card, device),
    v2DeviceList: () => rec("dcmiv2_get_device_list", cards()),
    v2ChipName: (device) => rec("dcmiv2_get_device_chip_info", state.chip, device)
  }
}

/** The vdevIds this project can carry (device nodes, the hook's device list): 0..Limits.maxDeviceId. */
export const usableVdevId = (vdevId: number): boolean =>
  Number.isInteger(vdevId) && vdevId >= 0 && vdevId <= Limits.maxDeviceId

/**
 * Which source of device facts this host gives: `driver` when libdcmi.so is found as the loader finds it,
 * else `dev` (the nodes under /dev). For `doctor`'s line about the driver (its caller is deferred).
 */
export const driverSource = (
  fs: FileSystem.FileSystem,
  arch: LoaderArch
): Effect.Effect<{ readonly source: "driver"; readonly path: string } | { readonly source: "dev" }> =>
  findLibrary(fs, arch).pipe(
    Effect.map((path) => ({ source: "driver" as const, path })),
    Effect.orElseSucceed(() => ({ source: "dev" as const }))
  )

/** A driver that cannot be asked (the library embedding, or a build without a loader): every question is refused with `detail`. */
export const unavailableDriver = (detail: string): Layer.Layer<Driver> =>
  Layer.succeed(Driver, makeDriver(Effect.fail(new DriverError({ reason: "NeedsBinary", detail }))))
