import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { HOOK_ENV } from "../src/HookConfig.ts"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { isLoaderVariable } from "../src/schemas/LoaderEnv.ts"
import { DeviceNodes, majorMinor } from "../src/services/DeviceNodes.ts"
import { BundleEditor } from "../src/wrapper/BundleEditor.ts"
import { isOurTemp, tempName } from "../src/wrapper/BundleTemp.ts"
import { applyEdits, type ContainerEdits, npuEdits, RUNTIME_MARK } from "../src/wrapper/ContainerEdits.ts"
import { appendToArray } from "../src/wrapper/JsonSplice.ts"
import { parseRuncArgs } from "../src/wrapper/RuncArgs.ts"

// The runtime wrapper's parts in process: reading runc's command line, the device nodes of a host, and the
// lossless edit of a bundle's config.json (in memory). The wrapper under a real runc is in e2e.runtime.test.ts.

describe("parseRuncArgs", () => {
  it("finds the command after runc's global options, and the bundle in its four spellings", () => {
    assert.deepStrictEqual(parseRuncArgs(["--root", "/run/x", "--debug", "create", "--bundle", "/b", "id"]), {
      command: "create",
      bundle: "/b"
    })
    assert.deepStrictEqual(parseRuncArgs(["run", "-b", "rel", "id"]), { command: "run", bundle: "rel" })
    assert.deepStrictEqual(parseRuncArgs(["--log=/l", "create", "--bundle=/b2", "id"]), {
      command: "create",
      bundle: "/b2",
      log: "/l"
    })
    assert.deepStrictEqual(
      parseRuncArgs(["--root", "/r", "--log", "/s/log.json", "--log-format", "json", "create", "--bundle", "/b", "id"]),
      { command: "create", bundle: "/b", log: "/s/log.json", logFormat: "json" },
      "where the shim reads a failed runtime's error"
    )
    assert.deepStrictEqual(parseRuncArgs(["create", "-b=/b3", "id"]), { command: "create", bundle: "/b3" })
    assert.deepStrictEqual(parseRuncArgs(["create", "--pid-file", "/p", "id"]), { command: "create" })
    assert.deepStrictEqual(parseRuncArgs(["--log-format", "json", "start", "id"]), {
      command: "start",
      logFormat: "json"
    })
    assert.deepStrictEqual(parseRuncArgs(["--log", "/l", "delete", "id"]), { command: "delete", log: "/l" })
    assert.deepStrictEqual(parseRuncArgs(["--version"]), {})
    assert.deepStrictEqual(parseRuncArgs([]), {})
  })
})

const HOOK = { path: "/usr/local/bin/ascend-docker-hook", args: ["ascend-docker-hook"] }
const NONE: ContainerEdits = { deviceNodes: [], mounts: [], env: [] }
const config = (env: ReadonlyArray<string>, hooks?: unknown) =>
  JSON.stringify({
    ociVersion: "1.0.2",
    process: { env, args: ["sh"] },
    root: { path: "rootfs" },
    ...(hooks ? { hooks } : {})
  })

const withBundle = (text: string, o: { mode?: number; uid?: number; gid?: number } = { mode: 0o600 }) => {
  const fs = MemoryFileSystem.make({ "/b/config.json": MemoryFileSystem.file(text, o) })
  const layer = BundleEditor.layer.pipe(Layer.provide(Layer.succeed(FileSystem.FileSystem, fs)))
  const edit = (edits: ContainerEdits, options: Parameters<BundleEditor["Service"]["edit"]>[2]) =>
    BundleEditor.use((e) => e.edit("/b", edits, options)).pipe(Effect.provide(layer))
  return { fs, edit }
}

const NODE = {
  path: "/dev/davinci0",
  hostPath: "/dev/davinci0",
  type: "c",
  major: 236,
  minor: 0,
  fileMode: 0o660,
  uid: 0,
  gid: 1000
} as const

describe("BundleEditor", () => {
  it.effect("adds the hook and the mark, keeping everything else, the mode, owner and group", () =>
    Effect.gen(function* () {
      const other = { path: "/usr/bin/other", args: ["other"] }
      const { fs, edit } = withBundle(config(["ASCEND_VISIBLE_DEVICES=0"], { prestart: [other], poststop: [other] }), {
        mode: 0o640,
        uid: 7,
        gid: 8
      })
      assert.strictEqual(yield* edit(NONE, { hook: HOOK, mark: true }), "edited")
      const after = JSON.parse(yield* fs.readFileString("/b/config.json"))
      assert.deepStrictEqual(after.hooks, { prestart: [other, { ...HOOK, env: HOOK_ENV }], poststop: [other] })
      assert.isFalse(
        HOOK_ENV.some((e) => isLoaderVariable(e.slice(0, e.indexOf("=")))),
        "no BUN_OPTIONS, NODE_OPTIONS or LD_* can be in an entry we write"
      )
      assert.deepStrictEqual(after.process.env, ["ASCEND_VISIBLE_DEVICES=0", RUNTIME_MARK])
      const st = yield* fs.stat("/b/config.json")
      assert.strictEqual(st.mode & 0o777, 0o640)
      assert.deepStrictEqual([Option.getOrThrow(st.uid), Option.getOrThrow(st.gid)], [7, 8])
      assert.deepStrictEqual(yield* fs.readDirectory("/b"), ["config.json"], "no temp file left")
      assert.strictEqual(yield* edit(NONE, { hook: HOOK, mark: true }), "unchanged", "a second create adds nothing")
    })
  )

  it.effect("a container that asks for no NPU gets the mark and nothing else; every other byte stays", () =>
    Effect.gen(function* () {
      const text =
        '{ "ociVersion": "1.0.2",\n  "process": {"env": ["A=\\u00e9"], "rlimit": 9223372036854775807},\n  "root": {"path": "r"} }\n'
      const { fs, edit } = withBundle(text)
      yield* edit(NONE, { mark: true })
      assert.strictEqual(
        yield* fs.readFileString("/b/config.json"),
        text.replace('["A=\\u00e9"]', `["A=\\u00e9","${RUNTIME_MARK}"]`)
      )
    })
  )

  it.effect("device nodes come with their cgroup rule; one the config has already is not added twice", () =>
    Effect.gen(function* () {
      const { fs, edit } = withBundle(config(["ASCEND_VISIBLE_DEVICES=0"]))
      yield* edit({ ...NONE, deviceNodes: [NODE] }, { mark: true })
      const after = JSON.parse(yield* fs.readFileString("/b/config.json"))
      assert.deepStrictEqual(after.linux.devices, [
        { path: "/dev/davinci0", type: "c", major: 236, minor: 0, fileMode: 0o660, uid: 0, gid: 1000 }
      ])
      assert.deepStrictEqual(after.linux.resources.devices, [
        { allow: true, type: "c", major: 236, minor: 0, access: "rwm" }
      ])
      assert.strictEqual(yield* edit({ ...NONE, deviceNodes: [NODE] }, { mark: true }), "unchanged")
    })
  )

  it.effect("LD_LIBRARY_PATH goes in front of the container's own, once", () =>
    Effect.gen(function* () {
      const { fs, edit } = withBundle(config(["LD_LIBRARY_PATH=/opt/lib", "ASCEND_VISIBLE_DEVICES=0"]))
      const edits = { ...NONE, env: ["LD_LIBRARY_PATH=/d/common:/d/driver"] }
      yield* edit(edits, {})
      assert.deepStrictEqual(JSON.parse(yield* fs.readFileString("/b/config.json")).process.env, [
        "LD_LIBRARY_PATH=/d/common:/d/driver:/opt/lib",
        "ASCEND_VISIBLE_DEVICES=0"
      ])
      assert.strictEqual(yield* edit(edits, {}), "unchanged")
    })
  )

  it.effect("never edits what it cannot parse, a link, a FIFO or a wrong type; nothing is written", () =>
    Effect.gen(function* () {
      for (const [text, why] of [
        ['{"process": {"env": ["ASCEND_VISIBLE_DEVICES=0"]', /cannot be parsed, left untouched: invalid JSON/],
        ["[]", /cannot be parsed/],
        [config(["ASCEND_VISIBLE_DEVICES=0"], { prestart: "x" }), /hooks.prestart is not an array, left untouched/],
        [JSON.stringify({ process: { env: "x" } }), /process.env is not an array/],
        [JSON.stringify({ process: { env: [] }, linux: 5 }), /linux is not an object/]
      ] as const) {
        const { fs, edit } = withBundle(text)
        const error = yield* Effect.flip(edit({ ...NONE, deviceNodes: [NODE] }, { hook: HOOK, mark: true }))
        assert.match(error.message, /^OCI config \/b\/config.json: /)
        assert.match(error.message, why)
        assert.strictEqual(yield* fs.readFileString("/b/config.json"), text)
        assert.deepStrictEqual(yield* fs.readDirectory("/b"), ["config.json"])
      }
      const tree = (node: MemoryFileSystem.MemoryNode) => {
        const fs = MemoryFileSystem.make({ "/real.json": MemoryFileSystem.file("{}"), "/b/config.json": node })
        return BundleEditor.use((e) => e.edit("/b", NONE, { mark: true })).pipe(
          Effect.provide(BundleEditor.layer.pipe(Layer.provide(Layer.succeed(FileSystem.FileSystem, fs))))
        )
      }
      assert.match((yield* Effect.flip(tree(MemoryFileSystem.symlink("/real.json")))).message, /is a symbolic link/)
      assert.match((yield* Effect.flip(tree(MemoryFileSystem.special("FIFO")))).message, /not a regular file \(FIFO\)/)
    })
  )

  it.effect("a temp file a killed run left is removed by name; others are not touched", () =>
    Effect.gen(function* () {
      const fs = MemoryFileSystem.make({
        "/b/config.json": MemoryFileSystem.file(config(["ASCEND_VISIBLE_DEVICES=0"])),
        "/b/config.json.ascend-abc12345.tmp": MemoryFileSystem.file("half"),
        "/b/config.json.other.tmp": MemoryFileSystem.file("theirs")
      })
      yield* BundleEditor.use((e) => e.edit("/b", NONE, { mark: true })).pipe(
        Effect.provide(BundleEditor.layer.pipe(Layer.provide(Layer.succeed(FileSystem.FileSystem, fs))))
      )
      assert.deepStrictEqual(yield* fs.readDirectory("/b"), ["config.json", "config.json.other.tmp"])
    })
  )
})

/** mulberry32. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("our temp names in a bundle dir", () => {
  it("isOurTemp answers as the regex it replaced, on 20 000 names near it and far from it", () => {
    const REGEX = /^config\.json\.ascend-[0-9a-z]{6,12}\.tmp$/
    const rand = prng(2207)
    const pick = <T>(xs: ReadonlyArray<T>) => xs[Math.floor(rand() * xs.length)]!
    const heads = ["config.json.ascend-", "config.json.ascend", "config.jsonXascend-", "", "x/config.json.ascend-"]
    const tails = [".tmp", ".tmp\n", "tmp", ".TMP", "", ".tmp.tmp"]
    const chars = ["0123456789abcdefghijklmnopqrstuvwxyz", "0123456789abcdefghijklmnopqrstuvwxyz", "AZ_-./ \u00e9\n:{`"]
    let ours = 0
    for (let n = 0; n < 20000; n++) {
      // Half of them built as ours are, with one thing maybe wrong; half anything.
      const near = rand() < 0.5
      let tag = ""
      const length = near ? 5 + Math.floor(rand() * 9) : Math.floor(rand() * 16)
      for (let i = 0; i < length; i++) {
        const set = near && rand() < 0.97 ? chars[0]! : pick(chars)
        tag += set[Math.floor(rand() * set.length)]
      }
      const name = near ? `${heads[0]}${tag}${tails[0]}` : `${pick(heads)}${tag}${pick(tails)}`
      assert.strictEqual(isOurTemp(name), REGEX.test(name), JSON.stringify(name))
      if (REGEX.test(name)) ours++
    }
    assert.isAbove(ours, 1000, "the sample holds many of our names, not only others")
    for (let n = 0; n < 100; n++) assert.isTrue(isOurTemp(tempName()))
  })
})

describe("the lossless edit, as a property", () => {
  const SCALARS = [
    "9223372036854775807",
    "18446744073709551615",
    "-0",
    "1e400",
    '"\\u00e9\\ud83d\\ude00"',
    '"x\\"y"',
    "true",
    "null",
    "0.1"
  ]
  const blank = (rand: () => number) => [" ", "", "\n  ", "\t", ""][Math.floor(rand() * 5)]!
  /** Random JSON text with big integers, escapes and odd spacing; keys never collide with what we add. */
  const value = (rand: () => number, depth: number): string => {
    const r = rand()
    if (depth > 3 || r < 0.4) return SCALARS[Math.floor(rand() * SCALARS.length)]!
    if (r < 0.7)
      return `[${blank(rand)}${Array.from({ length: Math.floor(rand() * 3) }, () => value(rand, depth + 1)).join(`,${blank(rand)}`)}${blank(rand)}]`
    return `{${blank(rand)}${Array.from({ length: Math.floor(rand() * 3) }, (_, i) => `"k${i}"${blank(rand)}:${blank(rand)}${value(rand, depth + 1)}`).join(",")}${blank(rand)}}`
  }
  const document = (rand: () => number) => {
    const env = Array.from({ length: Math.floor(rand() * 3) }, (_, i) => `"E${i}=${i}"`)
    const parts = [
      `"x"${blank(rand)}:${blank(rand)}${value(rand, 0)}`,
      `"process":{${blank(rand)}"env":${blank(rand)}[${env.join(",")}]${rand() < 0.5 ? `,"p":${value(rand, 1)}` : ""}}`,
      ...(rand() < 0.5 ? [`"linux":{"y":${value(rand, 1)}${rand() < 0.5 ? ',"devices":[]' : ""}}`] : []),
      ...(rand() < 0.5 ? [`"hooks":{"poststop":[${value(rand, 1)}]}`] : []),
      `"z":${value(rand, 0)}`
    ]
    return `${blank(rand)}{${blank(rand)}${parts.join(`,${blank(rand)}`)}${blank(rand)}}${blank(rand)}`
  }

  it("1000 documents: the result parses to the input plus exactly our edit, and no byte outside it moves", () => {
    const rand = prng(1201)
    const edits = npuEdits({
      npus: [NODE],
      shared: [],
      mounts: { files: ["/f"], dirs: ["/d"] },
      libDirs: ["/lib/a"]
    })
    for (let n = 0; n < 1000; n++) {
      const text = document(rand)
      const out = applyEdits(text, edits, { hook: HOOK, mark: true })
      assert.isString(out, text)
      const before = JSON.parse(text)
      const after = JSON.parse(out as string)
      // The edit, applied to the parsed input, is exactly the parsed output.
      const expected = structuredClone(before)
      expected.linux ??= {}
      expected.linux.devices = [
        ...(expected.linux.devices ?? []),
        { path: "/dev/davinci0", type: "c", major: 236, minor: 0, fileMode: 0o660, uid: 0, gid: 1000 }
      ]
      expected.linux.resources = { devices: [{ allow: true, type: "c", major: 236, minor: 0, access: "rwm" }] }
      expected.mounts = [
        { destination: "/f", type: "bind", source: "/f", options: ["rbind", "rprivate", "ro", "nosuid", "nodev"] },
        { destination: "/d", type: "bind", source: "/d", options: ["rbind", "rprivate", "ro", "nosuid", "nodev"] }
      ]
      expected.process.env = [...expected.process.env, "LD_LIBRARY_PATH=/lib/a", RUNTIME_MARK]
      expected.hooks ??= {}
      expected.hooks.prestart = [{ ...HOOK, env: HOOK_ENV }]
      assert.deepStrictEqual(after, expected, text)
      // Every byte of the input is still there, in order: the edit only inserted text.
      let i = 0
      for (const c of out as string) if (c === text[i]) i++
      assert.strictEqual(i, text.length, "the input is a subsequence of the output")
      // And the big integers and escapes are there as written.
      for (const literal of ["9223372036854775807", "18446744073709551615", "\\u00e9"]) {
        assert.strictEqual((out as string).split(literal).length, text.split(literal).length, literal)
      }
    }
  })

  it("appendToArray makes what is missing and refuses the wrong type", () => {
    assert.strictEqual(appendToArray("{}", ["a", "b"], ["1"]), '{"a":{"b":[1]}}')
    assert.strictEqual(appendToArray('{"a":null}', ["a"], ["1"]), '{"a":[1]}')
    assert.strictEqual(appendToArray('{"a":[ ]}', ["a"], ["1", "2"]), '{"a":[ 1,2]}')
    assert.deepStrictEqual(appendToArray('{"a":"s"}', ["a"], ["1"]), { refused: "a is not an array" })
    assert.deepStrictEqual(appendToArray('{"a":[]}', ["a", "b"], ["1"]), { refused: "a is not an object" })
  })
})

describe("DeviceNodes", () => {
  const host = MemoryFileSystem.layer({
    "/d/davinci0": MemoryFileSystem.charDevice(236, 0, { mode: 0o660, gid: 1000 }),
    "/d/davinci1": MemoryFileSystem.charDevice(236, 1),
    "/d/vdavinci1": MemoryFileSystem.charDevice(237, 1),
    "/d/davinci_manager": MemoryFileSystem.charDevice(235, 0),
    "/d/davinci_manager_docker": MemoryFileSystem.charDevice(235, 9),
    "/d/devmm_svm": MemoryFileSystem.charDevice(234, 0),
    "/d/uburma/uburma0": MemoryFileSystem.charDevice(300, 0x12345),
    "/d/hisi_hdc": MemoryFileSystem.file("not a device")
  })
  const nodes = DeviceNodes.layer("/d").pipe(Layer.provide(host))

  it("splits a dev_t as glibc does, big numbers included", () => {
    assert.deepStrictEqual(majorMinor(0n), { major: 0, minor: 0 })
    assert.deepStrictEqual(majorMinor(((0x12345n & ~0xffn) << 12n) | (0x45n & 0xffn) | (300n << 8n)), {
      major: 300,
      minor: 0x12345
    })
  })

  it.effect("the NPUs asked for, VIRTUAL from vdavinci; the shared nodes the host has", () =>
    Effect.gen(function* () {
      const d = yield* DeviceNodes
      const npus = yield* d.npus([0, 1])
      assert.deepStrictEqual(npus[0], {
        path: "/dev/davinci0",
        hostPath: "/d/davinci0",
        type: "c",
        major: 236,
        minor: 0,
        fileMode: 0o660,
        uid: 0,
        gid: 1000
      })
      const virtual = yield* d.npus([1], { virtual: true })
      assert.deepStrictEqual(
        [virtual[0]!.path, virtual[0]!.hostPath, virtual[0]!.major],
        ["/dev/davinci1", "/d/vdavinci1", 237]
      )
      const shared = yield* d.shared
      assert.deepStrictEqual(
        shared.map((n) => [n.path, n.hostPath, n.minor]),
        [
          ["/dev/davinci_manager", "/d/davinci_manager_docker", 9],
          ["/dev/devmm_svm", "/d/devmm_svm", 0],
          ["/dev/uburma/uburma0", "/d/uburma/uburma0", 0x12345]
        ]
      )
      assert.deepStrictEqual(yield* d.present, [0, 1])
      const missing = yield* Effect.flip(d.npus([3]))
      assert.strictEqual(missing.message, "device node /d/davinci3: does not exist")
    }).pipe(Effect.provide(nodes))
  )
})
