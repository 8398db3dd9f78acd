import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { EnvError } from "../src/schemas/AscendEnv.ts"
import { formatDeviceList, parseDeviceList } from "../src/schemas/DeviceList.ts"

// Property tests of ASCEND_VISIBLE_DEVICES parsing, on the pure parser (no layer needed).

const Id = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1023 }))
const Choice = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))

const ids = Arbitrary.array(Arbitrary.schema(Id), { maxLength: 40 })
const choices = Arbitrary.array(Arbitrary.schema(Choice), { minLength: 1, maxLength: 64 })

const SPACES = ["", " ", "  ", "\t", " \t "]
const NAMES = ["npu-", "Ascend910-", "Ascend310-", "Ascend310B-", "Ascend310P-"]

/**
 * Writes a set of ids as one of the many strings that mean it: contiguous runs as ranges or singles, ids
 * as plain numbers, zero-padded numbers or device names, some items repeated, the order shuffled, and
 * white space around items and range borders. `choices` drives every decision.
 */
const render = (set: ReadonlyArray<number>, choices: ReadonlyArray<number>): string => {
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
      items.push(`${SPACES[pick(SPACES.length)]}${a}${SPACES[pick(SPACES.length)]}-${SPACES[pick(SPACES.length)]}${b}`)
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

const expected = (set: ReadonlyArray<number>) => [...new Set(set)].sort((a, b) => a - b)

describe("parseDeviceList properties", () => {
  it.effect.prop(
    "any writing of a non-empty set of ids parses to exactly that set, ascending",
    { set: ids, choices },
    ({ set, choices }) =>
      Effect.gen(function* () {
        if (set.length === 0) return true
        const text = render(set, choices)
        const parsed = yield* Effect.fromResult(parseDeviceList(text))
        assert.deepStrictEqual(parsed, expected(set), text)
        return true
      }),
    { arbitrary: { runs: 400 } }
  )

  it.effect.prop(
    "the canonical output parses back to itself",
    { set: ids },
    ({ set }) =>
      Effect.gen(function* () {
        if (set.length === 0) return true
        const canonical = formatDeviceList(expected(set))
        const again = yield* Effect.fromResult(parseDeviceList(canonical))
        assert.strictEqual(formatDeviceList(again), canonical)
        return true
      }),
    { arbitrary: { runs: 400 } }
  )

  const grammarChar = Arbitrary.schema(
    Schema.Literals(["0", "1", "2", "3", "9", "-", ",", " ", "\t", "n", "p", "u", "A", "s", "c", "e", "d", "+", "x"])
  )
  const nearMiss = Arbitrary.map(Arbitrary.array(grammarChar, { maxLength: 40 }), (cs) => cs.join(""))
  const anyString = Arbitrary.schema(Schema.String)

  for (const [name, input] of [
    ["any string", anyString],
    ["any string over the grammar's alphabet", nearMiss]
  ] as const) {
    it.effect.prop(
      `${name}: parses to ids in range, ascending and unique, or fails with EnvError`,
      { input },
      ({ input }) =>
        Effect.sync(() => {
          const result = parseDeviceList(input)
          if (Result.isFailure(result)) {
            assert.instanceOf(result.failure, EnvError)
            assert.strictEqual(result.failure.variable, "ASCEND_VISIBLE_DEVICES")
            return true
          }
          const got = result.success
          for (let i = 0; i < got.length; i++) {
            assert.isTrue(Number.isInteger(got[i]) && got[i]! >= 0 && got[i]! <= 1023)
            if (i > 0) assert.isAbove(got[i]!, got[i - 1]!)
          }
          return true
        }),
      { arbitrary: { runs: 1000 } }
    )
  }

  it("a known writing, as a sanity check of the generator", () => {
    const text = render([3, 4, 5, 9], [0, 1, 0, 2, 3, 1])
    assert.deepStrictEqual(Result.getOrThrow(parseDeviceList(text)), [3, 4, 5, 9])
  })
})
