import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { EnvError } from "../src/schemas/AscendEnv.ts"
import { formatDeviceList, parseDeviceList, renderDeviceList } from "../src/schemas/DeviceList.ts"
import * as Schemas from "../src/schemas/Schemas.ts"

// Property tests of ASCEND_VISIBLE_DEVICES parsing, on the pure parser (no layer needed).

const Id = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1023 }))
const Choice = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))

const ids = Arbitrary.array(Arbitrary.schema(Id), { maxLength: 40 })
const choices = Arbitrary.array(Arbitrary.schema(Choice), { minLength: 1, maxLength: 64 })

const expected = (set: ReadonlyArray<number>) => [...new Set(set)].sort((a, b) => a - b)

describe("parseDeviceList properties", () => {
  it.effect.prop(
    "any writing of a non-empty set of ids parses to exactly that set, ascending",
    { set: ids, choices },
    ({ set, choices }) =>
      Effect.gen(function* () {
        if (set.length === 0) return true
        const text = renderDeviceList(set, choices)
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
    const text = renderDeviceList([3, 4, 5, 9], [0, 1, 0, 2, 3, 1])
    assert.deepStrictEqual(Result.getOrThrow(parseDeviceList(text)), [3, 4, 5, 9])
  })
})

describe("Schemas.DeviceList's arbitrary", () => {
  it.effect("writes the forms the parser exists for: ranges, padding, names, every trimmed space", () =>
    Effect.gen(function* () {
      const values = yield* Arbitrary.sampleEffect(Arbitrary.schema(Schemas.DeviceList), { count: 300 })
      for (const v of values) assert.isTrue(Result.isSuccess(parseDeviceList(v)), JSON.stringify(v))
      const all = values.join("\n")
      for (const [what, pattern] of [
        ["a range", /[0-9]\s*-\s*[0-9]/],
        ["a zero-padded range border", /(^|[\s,])0+[0-9]*\s*-/m],
        ["a device name", /(npu|Ascend910|Ascend310|Ascend310B|Ascend310P)-[0-9]/],
        ["a Unicode space", /[\u00a0\u2000\u3000\u202f\u0085]/],
        ["a vertical tab or form feed", /[\v\f]/]
      ] as const) {
        assert.match(all, pattern, what)
      }
      assert.isAbove(new Set(values).size, 250, "varied")
    })
  )
})
