import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { decodeContainerConfig } from "../src/schemas/ContainerSpec.ts"
import { decodeContainerState } from "../src/schemas/ContainerState.ts"
import { oneLine } from "../src/schemas/Json.ts"
import * as Schemas from "../src/schemas/Schemas.ts"

// The hook checks the shape of the state and of config.json by hand, so that a container start does not
// load Effect's Schema; the Schemas in src/schemas/Schemas.ts are the contract. Here both decide on
// thousands of generated documents, and must agree: the same accept or refuse, the same words, the same value.

/** mulberry32: seeded, so a disagreement can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <A>(rand: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]!

const SCALARS: ReadonlyArray<unknown> = [
  0,
  1,
  -5,
  1.5,
  42,
  2 ** 53,
  4194304,
  4194305,
  1e300,
  "",
  "/b",
  "/run/c1",
  "rel/ative",
  "/a\u0000b",
  "/a\nb",
  `/${"x".repeat(4096)}`,
  `/${"x".repeat(4094)}`,
  "5",
  null,
  true,
  false,
  [],
  {},
  ["A=1"],
  [1]
]

/** Either absent, or a value from the pool, or one made by `inner`. */
const field = (rand: () => number, inner?: () => unknown): unknown =>
  inner !== undefined && rand() < 0.6 ? inner() : pick(rand, SCALARS)

const present = <A>(rand: () => number, p: number, f: () => A): { readonly present: boolean; readonly value: A } =>
  rand() < p ? { present: true, value: f() } : { present: false, value: undefined as A }

const object = (rand: () => number, keys: Record<string, { readonly p: number; readonly value: () => unknown }>) => {
  const out: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(keys)) {
    const v = present(rand, spec.p, spec.value)
    if (v.present) out[key] = v.value
  }
  if (rand() < 0.2) out.extra = pick(rand, SCALARS)
  return out
}

const env = (rand: () => number) =>
  Array.from({ length: Math.floor(rand() * 4) }, () =>
    rand() < 0.85 ? pick(rand, ["PATH=/bin", "A=1", "B"]) : pick(rand, SCALARS)
  )

const states = (rand: () => number) =>
  object(rand, {
    pid: { p: 0.9, value: () => field(rand, () => pick(rand, [1, 983, 4194304, 0, -1, 2.5])) },
    bundle: { p: 0.9, value: () => field(rand, () => pick(rand, ["/b", "/run/x", "x", ""])) },
    id: { p: 0.5, value: () => field(rand, () => "c1") },
    status: { p: 0.5, value: () => field(rand, () => "creating") }
  })

const specs = (rand: () => number) =>
  object(rand, {
    process: {
      p: 0.9,
      value: () => field(rand, () => object(rand, { env: { p: 0.7, value: () => field(rand, () => env(rand)) } }))
    },
    root: {
      p: 0.9,
      value: () =>
        field(rand, () =>
          object(rand, { path: { p: 0.9, value: () => field(rand, () => pick(rand, ["rootfs", "/abs/root"])) } })
        )
    }
  })

const RUNS = 4000

describe("the hand decoders agree with the Schemas", () => {
  it(`container state: ${RUNS} generated documents`, () => {
    const rand = prng(20261201)
    const bySchema = Schema.decodeUnknownResult(Schemas.ContainerState)
    let accepted = 0
    for (let i = 0; i < RUNS; i++) {
      const doc = states(rand)
      const hand = decodeContainerState(JSON.stringify(doc), "stdin")
      const schema = bySchema(doc)
      const what = JSON.stringify(doc).slice(0, 200)
      if (Result.isSuccess(schema)) {
        assert.isTrue(Result.isSuccess(hand), `the Schema accepts ${what}, the hook refuses`)
        const { pid, bundle, id, status } = schema.success
        assert.deepStrictEqual(Result.getOrThrow(hand), {
          pid,
          bundle,
          ...(id === undefined ? {} : { id }),
          ...(status === undefined ? {} : { status })
        })
        accepted++
      } else {
        assert.isTrue(Result.isFailure(hand), `the Schema refuses ${what}, the hook accepts`)
        if (Result.isFailure(hand)) assert.strictEqual(hand.failure.detail, oneLine(schema.failure.message), what)
      }
    }
    // Both outcomes must be well represented, or the test says little.
    assert.isAbove(accepted, RUNS / 20)
    assert.isBelow(accepted, RUNS - RUNS / 20)
  })

  it(`config.json: ${RUNS} generated documents`, () => {
    const rand = prng(20261202)
    const bySchema = Schema.decodeUnknownResult(Schemas.ContainerSpec)
    let accepted = 0
    for (let i = 0; i < RUNS; i++) {
      const doc = specs(rand)
      const hand = decodeContainerConfig(JSON.stringify(doc), "/b/config.json", "/b")
      const schema = bySchema(doc)
      const what = JSON.stringify(doc).slice(0, 200)
      if (Result.isSuccess(schema)) {
        // A rootfs that is the host's / is refused after the shape: the Schema knows nothing of that.
        if (Result.isFailure(hand)) {
          assert.strictEqual(hand.failure.reason, "Rootfs", `the Schema accepts ${what}, the hook refuses`)
          continue
        }
        assert.deepStrictEqual(hand.success.env, schema.success.process.env ?? [])
        accepted++
      } else {
        assert.isTrue(Result.isFailure(hand), `the Schema refuses ${what}, the hook accepts`)
        if (Result.isFailure(hand)) assert.strictEqual(hand.failure.detail, oneLine(schema.failure.message), what)
      }
    }
    assert.isAbove(accepted, RUNS / 20)
    assert.isBelow(accepted, RUNS - RUNS / 20)
  })
})
