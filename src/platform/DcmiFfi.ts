import { type Answer, type Dcmi, DriverError } from "../services/Driver.ts"

/** The part of bun:ffi used here (the module exists only in Bun; there are no types for it in this project). */
interface BunFfi {
  readonly dlopen: (
    path: string,
    symbols: Record<string, { readonly args: ReadonlyArray<string>; readonly returns: string }>
  ) => { readonly symbols: Record<string, (...args: ReadonlyArray<unknown>) => number> }
}

/** Named through a variable so that the Node bundler leaves the require of a Bun-only module alone. */
const FFI_MODULE = "bun:ffi"
/** dcmi's "function missing" code (upstream's FUNCTION_NOT_FOUND), for a symbol this library lacks. */
const MISSING = -99998
/** Sizes from dcmi_interface_api.h: DcmiCreateVdevResStru, DcmiCreateVdevOut, DcmiChipInfo; the name buffers. */
const CREATE_IN_BYTES = 4 + 4 + 32 + 64
const CREATE_OUT_BYTES = 5 * 4 + 32
const CHIP_INFO_BYTES = 3 * 32 + 4
const CHIP_NAME_AT = 32
const NAME_BYTES = 32
const PRODUCT_BYTES = 64
const MAX_LIST = 64

const cText = (bytes: Uint8Array, at = 0, length = bytes.length - at): string => {
  const part = bytes.subarray(at, at + length)
  const end = part.indexOf(0)
  return new TextDecoder().decode(end < 0 ? part : part.subarray(0, end))
}

/** A call that fills in one int. */
const one = (f: (out: Int32Array) => number): Answer<number> => {
  const out = new Int32Array(1)
  const code = f(out)
  return { code, value: out[0]! }
}

/** A call that fills in a list of ids and their count (bounded by MAX_LIST whatever the count says). */
const list = (f: (ids: Int32Array, count: Int32Array) => number): Answer<ReadonlyArray<number>> => {
  const ids = new Int32Array(MAX_LIST)
  const count = new Int32Array(1)
  const code = f(ids, count)
  return { code, value: code === 0 ? Array.from(ids.subarray(0, Math.max(0, Math.min(count[0]!, MAX_LIST)))) : [] }
}

/** A call that fills in a DcmiChipInfo: its chip name. */
const chipName = (f: (info: Uint8Array) => number): Answer<string> => {
  const info = new Uint8Array(CHIP_INFO_BYTES)
  const code = f(info)
  return { code, value: cText(info, CHIP_NAME_AT, NAME_BYTES) }
}

/**
 * libdcmi.so, loaded by its absolute path through Bun's FFI (already found and trust-checked by the Driver
 * layer). Each function is bound on its own, so a library without one (an older driver; the v2 functions
 * outside Ascend 950) answers that call with dcmi's "missing function" code instead of failing the load.
 * On Node there is no FFI: the answer is a refusal saying what is needed.
 */
export const openDcmi = (path: string): Dcmi | DriverError => {
  if ((globalThis as { readonly Bun?: unknown }).Bun === undefined) {
    return new DriverError({
      reason: "NeedsBinary",
      detail:
        "a virtual NPU (ASCEND_VNPU_SPECS) needs the driver library, which only the ascend-docker-hook binary can load (this is the Node bundle)"
    })
  }
  const ffi = require(FFI_MODULE) as BunFfi
  const bind = (name: string, args: ReadonlyArray<string>) => {
    try {
      return ffi.dlopen(path, { [name]: { args, returns: "i32" } }).symbols[name]
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      if (message.includes("Symbol")) return undefined
      throw new DriverError({ reason: "Load", detail: `${path} cannot be loaded: ${message}` })
    }
  }
  try {
    const fn = (name: string, args: ReadonlyArray<string>) => {
      const f = bind(name, args)
      return f === undefined ? () => MISSING : f
    }
    const init = fn("dcmi_init", [])
    const v2Init = bind("dcmiv2_init", [])
    const cardList = fn("dcmi_get_card_num_list", ["ptr", "ptr", "i32"])
    const deviceCount = fn("dcmi_get_device_num_in_card", ["i32", "ptr"])
    const logicId = fn("dcmi_get_device_logic_id", ["ptr", "i32", "i32"])
    const fromPhy = fn("dcmi_get_device_logicid_from_phyid", ["u32", "ptr"])
    const create = fn("dcmi_create_vdevice", ["i32", "i32", "ptr", "ptr"])
    const destroy = fn("dcmi_set_destroy_vdevice", ["i32", "i32", "u32"])
    const product = fn("dcmi_get_product_type", ["i32", "i32", "ptr", "i32"])
    const chip = fn("dcmi_get_device_chip_info", ["i32", "i32", "ptr"])
    const v2List = bind("dcmiv2_get_device_list", ["ptr", "ptr", "i32"])
    const v2Chip = bind("dcmiv2_get_device_chip_info", ["i32", "ptr"])
    return {
      init: () => init(),
      v2Init: v2Init === undefined ? undefined : () => v2Init(),
      cardList: () => list((ids, count) => cardList(count, ids, MAX_LIST)),
      deviceCount: (card) => one((out) => deviceCount(card, out)),
      logicId: (card, device) => one((out) => logicId(out, card, device)),
      logicIdOfPhysical: (phy) => one((out) => fromPhy(phy, out)),
      createVdevice: (card, device, template) => {
        const input = new Uint8Array(CREATE_IN_BYTES)
        const view = new DataView(input.buffer)
        view.setUint32(0, 0xffffffff, true)
        view.setUint32(4, 0xffffffff, true)
        input.set(new TextEncoder().encode(template).subarray(0, NAME_BYTES - 1), 8)
        const out = new Uint8Array(CREATE_OUT_BYTES)
        new DataView(out.buffer).setUint32(0, 0xffffffff, true)
        const code = create(card, device, input, out)
        return { code, value: new DataView(out.buffer).getUint32(0, true) }
      },
      destroyVdevice: (card, device, vdevId) => destroy(card, device, vdevId),
      productType: (card, device) => {
        const buffer = new Uint8Array(PRODUCT_BYTES)
        const code = product(card, device, buffer, PRODUCT_BYTES)
        return { code, value: cText(buffer) }
      },
      chipName: (card, device) => chipName((info) => chip(card, device, info)),
      v2DeviceList: v2List === undefined ? undefined : () => list((ids, count) => v2List(ids, count, MAX_LIST)),
      v2ChipName: v2Chip === undefined ? undefined : (device) => chipName((info) => v2Chip(device, info))
    }
  } catch (e) {
    if (e instanceof DriverError) return e
    throw e
  }
}
