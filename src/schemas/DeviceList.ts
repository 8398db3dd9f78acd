import * as Result from "effect/Result"
import { Limits } from "../Limits.ts"
import { EnvError, VISIBLE_DEVICES } from "./AscendEnv.ts"
import { trimSpace } from "./Text.ts"

const DIGITS = /^[0-9]+$/
/** Device names later Ascend runtimes accept for id N. */
const DEVICE_NAME = /^(?:Ascend910|Ascend310|Ascend310B|Ascend310P|npu)-([0-9]+)$/

type Reason = EnvError["reason"]
const fail = (reason: Reason, item: string, detail: string) =>
  Result.fail(new EnvError({ variable: VISIBLE_DEVICES, reason, item, detail }))

/** A decimal id in 0..maxDeviceId, without building a huge number from a long digit string. */
const parseId = (digits: string, item: string): Result.Result<number, EnvError> => {
  if (!DIGITS.test(digits)) return fail("BadItem", item, "is not a device id, range or device name")
  let i = 0
  while (i < digits.length - 1 && digits.charCodeAt(i) === 0x30) i++
  const significant = digits.slice(i)
  const id = significant.length > 4 ? Number.POSITIVE_INFINITY : Number(significant)
  return id > Limits.maxDeviceId
    ? fail("OutOfRange", item, `is out of range 0-${Limits.maxDeviceId}`)
    : Result.succeed(id)
}

/**
 * Parses ASCEND_VISIBLE_DEVICES: a comma list of ids `N`, ranges `A-B` and names such as `Ascend910-N`.
 * Total: any string gives the ids ascending without duplicates, or an EnvError naming the item.
 * Work is linear in the input: a range marks at most maxDeviceId+1 slots.
 */
export const parseDeviceList = (value: string): Result.Result<ReadonlyArray<number>, EnvError> =>
  Result.gen(function* () {
    const seen = new Uint8Array(Limits.maxDeviceId + 1)
    for (const raw of value.split(",")) {
      const item = trimSpace(raw)
      if (item === "") return yield* fail("EmptyItem", raw, "is empty")
      const name = DEVICE_NAME.exec(item)
      if (name !== null) {
        seen[yield* parseId(name[1]!, item)] = 1
      } else if (item.includes("-")) {
        const borders = item.split("-")
        if (borders.length !== 2) return yield* fail("BadRange", item, "is not a range A-B")
        const left = yield* parseId(trimSpace(borders[0]!), item)
        const right = yield* parseId(trimSpace(borders[1]!), item)
        if (left > right) return yield* fail("ReversedRange", item, "has its left border above its right one")
        seen.fill(1, left, right + 1)
      } else {
        seen[yield* parseId(item, item)] = 1
      }
    }
    const ids: Array<number> = []
    for (let id = 0; id < seen.length; id++) if (seen[id] === 1) ids.push(id)
    return ids
  })

/** The canonical text of a device set, as the CLI's `--devices` gets it: `0,1,3`. */
export const formatDeviceList = (ids: ReadonlyArray<number>): string => ids.join(",")

/** White space Go's strings.TrimSpace (and so trimSpace) removes: ASCII and the Unicode spaces. */
const SPACES = ["", " ", "  ", "\t", " \t ", "\n", "\r", "\v", "\f", "\u0085", "\u00a0", "\u2000", "\u3000", "\u202f"]
/** The device-name prefixes the parser accepts (see DEVICE_NAME). */
const NAMES = ["npu-", "Ascend910-", "Ascend310-", "Ascend310B-", "Ascend310P-"]

/**
 * Writes a set of ids as one of the many ASCEND_VISIBLE_DEVICES strings that mean it: contiguous runs as
 * ranges (zero-padded borders too) or singles, ids as plain numbers, zero-padded numbers or device names,
 * some items repeated, the order shuffled, and every kind of white space trimSpace removes around items and
 * range borders. `choices` drives every decision: the generator behind Schemas.DeviceList's arbitrary.
 */
export const renderDeviceList = (set: ReadonlyArray<number>, choices: ReadonlyArray<number>): string => {
  let k = 0
  const pick = (n: number) => choices[k++ % choices.length]! % n
  const sorted = [...new Set(set)].sort((a, b) => a - b)
  const items: Array<string> = []
  const single = (id: number) => {
    const form = pick(4)
    return form === 0 ? `${NAMES[pick(NAMES.length)]}${id}` : form === 1 ? `${"0".repeat(pick(3))}${id}` : `${id}`
  }
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    if (j > i && pick(2) === 0) {
      const a = sorted[i]!
      const b = sorted[i + pick(j - i + 1)]!
      const pad = (id: number) => `${"0".repeat(pick(3))}${id}`
      items.push(
        `${SPACES[pick(SPACES.length)]}${pad(a)}${SPACES[pick(SPACES.length)]}-${SPACES[pick(SPACES.length)]}${pad(b)}`
      )
      for (let x = b + 1; x <= sorted[j]!; x++) items.push(single(x))
    } else {
      for (let x = i; x <= j; x++) items.push(single(sorted[x]!))
    }
    i = j + 1
  }
  const dupes = items.filter(() => pick(5) === 0)
  const all = [...items, ...dupes]
  for (let i = all.length - 1; i > 0; i--) {
    const j = pick(i + 1)
    ;[all[i], all[j]] = [all[j]!, all[i]!]
  }
  return all.map((item) => `${SPACES[pick(SPACES.length)]}${item}${SPACES[pick(SPACES.length)]}`).join(",")
}
