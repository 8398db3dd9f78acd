import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { HookInjector, WrapperConfig } from "../src/wrapper/HookInjector.ts"
import { parseRuncArgs } from "../src/wrapper/RuncArgs.ts"

// The runtime wrapper's two pure-ish parts: reading runc's command line, and adding the hook to a
// bundle's config.json (in memory). The wrapper under a real runc is in e2e.runtime.test.ts.

describe("parseRuncArgs", () => {
  it("finds the command after runc's global options, and the bundle in its four spellings", () => {
    assert.deepStrictEqual(parseRuncArgs(["--root", "/run/x", "--debug", "create", "--bundle", "/b", "id"]), {
      command: "create",
      bundle: "/b"
    })
    assert.deepStrictEqual(parseRuncArgs(["run", "-b", "rel", "id"]), { command: "run", bundle: "rel" })
    assert.deepStrictEqual(parseRuncArgs(["--log=/l", "create", "--bundle=/b2", "id"]), {
      command: "create",
      bundle: "/b2"
    })
    assert.deepStrictEqual(parseRuncArgs(["create", "-b=/b3", "id"]), { command: "create", bundle: "/b3" })
    assert.deepStrictEqual(parseRuncArgs(["create", "--pid-file", "/p", "id"]), { command: "create" })
    assert.deepStrictEqual(parseRuncArgs(["--log-format", "json", "start", "id"]), { command: "start" })
    assert.deepStrictEqual(parseRuncArgs(["--version"]), {})
    assert.deepStrictEqual(parseRuncArgs([]), {})
  })
})

const HOOK = { path: "/usr/local/bin/ascend-docker-hook", args: ["ascend-docker-hook"], env: ["PATH=/usr/bin"] }
const config = (env: ReadonlyArray<string>, hooks?: unknown) =>
  JSON.stringify({
    ociVersion: "1.0.2",
    process: { env, args: ["sh"] },
    root: { path: "rootfs" },
    ...(hooks ? { hooks } : {})
  })

const withBundle = (text: string, mode = 0o600) => {
  const fs = MemoryFileSystem.make({ "/b/config.json": MemoryFileSystem.file(text, { mode }) })
  const layer = HookInjector.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(Layer.succeed(FileSystem.FileSystem, fs), Layer.succeed(WrapperConfig, { hook: HOOK }))
    )
  )
  const inject = Effect.gen(function* () {
    return yield* (yield* HookInjector).inject("/b")
  }).pipe(Effect.provide(layer))
  return { fs, inject }
}

describe("HookInjector", () => {
  it.effect("adds a prestart hook for an NPU container, keeping everything else and the file's mode", () =>
    Effect.gen(function* () {
      const other = { path: "/usr/bin/other", args: ["other"] }
      const { fs, inject } = withBundle(config(["ASCEND_VISIBLE_DEVICES=0"], { prestart: [other], poststop: [other] }))
      assert.strictEqual(yield* inject, "added")
      const after = JSON.parse(yield* fs.readFileString("/b/config.json"))
      assert.deepStrictEqual(after.hooks, { prestart: [other, HOOK], poststop: [other] })
      assert.deepStrictEqual(after.process.args, ["sh"])
      assert.strictEqual((yield* fs.stat("/b/config.json")).mode & 0o777, 0o600)
      assert.deepStrictEqual(yield* fs.readDirectory("/b"), ["config.json"], "no temp file left")
      assert.strictEqual(yield* inject, "already-present", "a second create adds no duplicate")
      assert.strictEqual(JSON.parse(yield* fs.readFileString("/b/config.json")).hooks.prestart.length, 2)
    })
  )
  it.effect("leaves a container that asks for no NPU byte for byte as it was", () =>
    Effect.gen(function* () {
      for (const env of [[], ["ASCEND_VISIBLE_DEVICES="], ["ASCEND_VISIBLE_DEVICES= "]]) {
        const text = `${config(env)}\n`
        const { fs, inject } = withBundle(text)
        assert.strictEqual(yield* inject, "not-an-npu-container")
        assert.strictEqual(yield* fs.readFileString("/b/config.json"), text)
      }
    })
  )
  it.effect("never edits what it cannot parse; the error says so and nothing is written", () =>
    Effect.gen(function* () {
      for (const [text, why] of [
        ['{"process": {"env": ["ASCEND_VISIBLE_DEVICES=0"]', /cannot be parsed, left untouched: invalid JSON/],
        ["[]", /cannot be parsed/],
        [config(["ASCEND_VISIBLE_DEVICES=0"], { prestart: "x" }), /hooks.prestart that is not an array/],
        [
          JSON.stringify({ process: { env: ["ASCEND_VISIBLE_DEVICES=0"] }, hooks: 5 }),
          /hooks value that is not an object/
        ]
      ] as const) {
        const { fs, inject } = withBundle(text)
        const error = yield* Effect.flip(inject)
        assert.match(error.message, /^OCI config \/b\/config.json: /)
        assert.match(error.message, why)
        assert.strictEqual(yield* fs.readFileString("/b/config.json"), text)
        assert.deepStrictEqual(yield* fs.readDirectory("/b"), ["config.json"])
      }
    })
  )
})
