import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Hook from "../src/Hook.ts"
import { dir, file, type MemoryNode, special, symlink } from "../src/platform/MemoryFileSystem.ts"
import { CliLauncher, type LaunchRequest } from "../src/services/CliLauncher.ts"
import { EnvDecoder } from "../src/services/EnvDecoder.ts"
import { MountResolver } from "../src/services/MountResolver.ts"
import { SpecParser } from "../src/services/SpecParser.ts"
import { StateReader } from "../src/services/StateReader.ts"
import { baseTree, type ExecCall, memoryHook } from "./support/layers.ts"

// Each stage against an in-memory host (no disk) and a recording exec.

const CONF = "/etc/ascend-docker-runtime.d"
const with_ = (extra: Record<string, MemoryNode>) => ({ ...baseTree(), ...extra })
const run = <A, E>(
  tree: Record<string, MemoryNode>,
  effect: Effect.Effect<A, E, Hook.Stages>,
  settings: Parameters<typeof memoryHook>[2] = {}
) => effect.pipe(Effect.provide(memoryHook(tree, [], settings)))
const failure = <A, E>(
  tree: Record<string, MemoryNode>,
  effect: Effect.Effect<A, E, Hook.Stages>,
  settings: Parameters<typeof memoryHook>[2] = {}
) => Effect.flip(run(tree, effect, settings))

const readState = Effect.gen(function* () {
  return yield* (yield* StateReader).read
})
const parseSpec = (bundle: string) =>
  Effect.gen(function* () {
    return yield* (yield* SpecParser).parse(bundle)
  })
const decodeEnv = (env: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    return yield* (yield* EnvDecoder).decode(env)
  })
const resolve = (...names: Array<string>) =>
  Effect.gen(function* () {
    return yield* (yield* MountResolver).resolve(names)
  })
const inspect = (...names: Array<string>) =>
  Effect.gen(function* () {
    return yield* (yield* MountResolver).inspect(names)
  })
const prepareWith = (request: LaunchRequest) =>
  Effect.gen(function* () {
    return yield* (yield* CliLauncher).prepare(request)
  })
const prepare = prepareWith({ devices: [0], pid: 1, rootfs: "/r", mounts: { files: [], dirs: [] }, options: [] })

describe("StateReader", () => {
  it.effect("decodes the state from stdin, ignoring extra keys", () =>
    Effect.gen(function* () {
      const tree = with_({ "/dev/stdin": file('{"pid":9,"bundle":"/b","status":"created","root":"rootfs"}') })
      const state = yield* run(tree, readState)
      assert.deepStrictEqual(state, { pid: 9, bundle: "/b", status: "created" })
    })
  )
  it.effect("reads --state from a file", () =>
    Effect.gen(function* () {
      const tree = with_({ "/s.json": file('{"pid":2,"bundle":"/x"}') })
      assert.strictEqual((yield* run(tree, readState, { statePath: "/s.json" })).pid, 2)
    })
  )
  it.effect("refuses more than 1 MiB, bad JSON, a bad shape, and a missing file", () =>
    Effect.gen(function* () {
      const big = yield* failure(with_({ "/dev/stdin": file(" ".repeat(1024 * 1024 + 1)) }), readState)
      assert.strictEqual(big.reason, "TooLarge")
      const json = yield* failure(with_({ "/dev/stdin": file("{") }), readState)
      assert.strictEqual(json.reason, "Json")
      const shape = yield* failure(with_({ "/dev/stdin": file('{"pid":-1,"bundle":"/b"}') }), readState)
      assert.strictEqual(shape.reason, "Shape")
      const missing = yield* failure(baseTree(), readState, { statePath: "/nope" })
      assert.strictEqual(missing.reason, "Unreadable")
      assert.match(missing.message, /container state from \/nope/)
    })
  )
})

describe("SpecParser", () => {
  const spec = (root: string, env: unknown = ["A=1"]) =>
    file(JSON.stringify({ process: { env }, root: { path: root } }))
  it.effect("joins a relative root to the bundle; keeps an absolute one as written", () =>
    Effect.gen(function* () {
      const rel = yield* run(with_({ "/b/config.json": spec("rootfs/") }), parseSpec("/b"))
      assert.deepStrictEqual(rel, {
        rootfs: "/b/rootfs",
        env: ["A=1"],
        privileged: false,
        cdiDevices: [],
        devicePaths: []
      })
      const abs = yield* run(with_({ "/b/config.json": spec("/x/y/") }), parseSpec("/b/"))
      assert.strictEqual(abs.rootfs, "/x/y/")
    })
  )
  it.effect("a null or missing env is empty", () =>
    Effect.gen(function* () {
      const tree = with_({ "/b/config.json": file('{"process":{"env":null},"root":{"path":"r"}}') })
      assert.deepStrictEqual((yield* run(tree, parseSpec("/b"))).env, [])
    })
  )
  it.effect("refuses a missing, non-regular, oversized or malformed config.json, and a rootfs of /", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* failure(baseTree(), parseSpec("/none"))).reason, "NotFound")
      assert.strictEqual((yield* failure(with_({ "/b/config.json": dir() }), parseSpec("/b"))).reason, "NotRegular")
      const fifo = with_({ "/b/config.json": special("FIFO") })
      assert.strictEqual((yield* failure(fifo, parseSpec("/b"))).reason, "NotRegular")
      const big = with_({ "/b/config.json": file(new Uint8Array(16 * 1024 * 1024 + 1).fill(32)) })
      assert.strictEqual((yield* failure(big, parseSpec("/b"))).reason, "TooLarge")
      const many = with_({
        "/b/config.json": spec(
          "r",
          Array.from({ length: 65537 }, () => "A=1")
        )
      })
      assert.strictEqual((yield* failure(many, parseSpec("/b"))).reason, "TooLarge")
      const notStrings = with_({ "/b/config.json": spec("r", [1]) })
      assert.strictEqual((yield* failure(notStrings, parseSpec("/b"))).reason, "Shape")
      assert.strictEqual((yield* failure(with_({ "/b/config.json": spec("/") }), parseSpec("/b"))).reason, "Rootfs")
      assert.strictEqual((yield* failure(with_({ "/b/config.json": spec("..") }), parseSpec("/b"))).reason, "Rootfs")
    })
  )
})

describe("EnvDecoder", () => {
  it.effect("not an NPU container: None, whatever else the env holds", () =>
    Effect.gen(function* () {
      const none = yield* run(baseTree(), decodeEnv(["ASCEND_RUNTIME_OPTIONS=bogus", "X"]))
      assert.isTrue(Option.isNone(none))
    })
  )
  it.effect("decodes all three variables", () =>
    Effect.gen(function* () {
      const env = ["ASCEND_VISIBLE_DEVICES=2,0-1", "ASCEND_RUNTIME_MOUNTS=Base,Extra", "ASCEND_RUNTIME_OPTIONS=VIRTUAL"]
      const request = yield* run(baseTree(), decodeEnv(env))
      assert.deepStrictEqual(Option.getOrThrow(request), {
        devices: [0, 1, 2],
        mountLists: ["base", "extra"],
        options: ["VIRTUAL"],
        allowLink: false,
        disableUbMount: false
      })
    })
  )
  it.effect("refuses values over 4 KiB (counted in UTF-8 bytes) before parsing them", () =>
    Effect.gen(function* () {
      const long = yield* failure(baseTree(), decodeEnv([`ASCEND_VISIBLE_DEVICES=${"1,".repeat(2049)}1`]))
      assert.strictEqual(long.reason, "TooLong")
      const wide = yield* failure(
        baseTree(),
        decodeEnv(["ASCEND_VISIBLE_DEVICES=0", `ASCEND_RUNTIME_MOUNTS=${"é".repeat(2049)}`])
      )
      assert.strictEqual(wide.reason, "TooLong")
      assert.strictEqual(wide.variable, "ASCEND_RUNTIME_MOUNTS")
      assert.isBelow(wide.message.length, 300)
    })
  )
})

describe("MountResolver", () => {
  it.effect("files and sockets, then dirs; specials and missing paths skipped; links kept as written; once each", () =>
    Effect.gen(function* () {
      const tree = with_({
        [`${CONF}/base.list`]: file(
          ["/lib/a.so", "/sock", "/dev/null", "/missing", "/link", "/d", "/d/", "#/lib/b.so", "/loop"].join("\n")
        ),
        [`${CONF}/two.list`]: file("/lib/a.so\n/e\n"),
        "/lib/a.so": file(""),
        "/sock": special("Socket", { mode: 0o755 }),
        "/dev/null": special("CharacterDevice"),
        "/link": symlink("lib/a.so"),
        "/d": dir(),
        "/e": symlink("/d"),
        "/loop": symlink("/loop")
      })
      const mounts = yield* run(tree, resolve("base", "two"))
      assert.deepStrictEqual(mounts, { files: ["/lib/a.so", "/sock", "/link"], dirs: ["/d", "/e"] })
    })
  )
  it.effect("inspect says what became of every line and why", () =>
    Effect.gen(function* () {
      const tree = with_({ [`${CONF}/base.list`]: file("/d\n/nope\n/d\n"), "/d": dir() })
      const decisions = yield* run(tree, inspect("base"))
      assert.deepStrictEqual(
        decisions.map((d) => [d.line, d.outcome]),
        [
          [1, "dir"],
          [2, "skipped"],
          [3, "duplicate"]
        ]
      )
    })
  )
  const refusedBy = (extra: Record<string, MemoryNode>, names: Array<string> = ["base"]) =>
    failure(with_(extra), resolve(...names))
  it.effect("refuses untrusted config dirs and lists", () =>
    Effect.gen(function* () {
      const cases: Array<[Record<string, MemoryNode>, string, RegExp]> = [
        [{ [CONF]: dir({ mode: 0o777 }) }, "Writable", /config dir .*: is writable by group or others \(mode 0777\)/],
        [{ [CONF]: dir({ uid: 1000 }) }, "Owner", /is owned by uid 1000/],
        [{ "/etc": dir({ mode: 0o775 }) }, "Writable", /parent of config dir \/etc: is writable/],
        [{ [CONF]: file("") }, "NotDirectory", /is not a directory/],
        [{ [`${CONF}/base.list`]: file("", { mode: 0o666 }) }, "Writable", /mount list .*base.list: is writable/],
        [{ [`${CONF}/base.list`]: file("", { uid: 4 }) }, "Owner", /owned by uid 4/],
        [{ [`${CONF}/base.list`]: symlink("/x.list"), "/x.list": file("") }, "Symlink", /is a symbolic link/],
        [{ [`${CONF}/base.list`]: dir() }, "NotRegular", /not a regular file/]
      ]
      for (const [extra, reason, message] of cases) {
        const e = yield* refusedBy(extra)
        assert.strictEqual(e._tag, "TrustError")
        assert.strictEqual((e as { reason: string }).reason, reason)
        assert.match(e.message, message)
      }
      const missingDir = yield* failure(baseTree(), resolve("base"), { configDir: "/nowhere" })
      assert.match(missingDir.message, /config dir \/nowhere: does not exist/)
    })
  )
  it.effect("a config dir reached through a link is checked where it really is", () =>
    Effect.gen(function* () {
      const tree = with_({
        "/conf": symlink("/srv/shared/conf"),
        "/srv/shared": dir({ mode: 0o777 }),
        "/srv/shared/conf": dir()
      })
      const e = yield* failure(tree, resolve("base"), { configDir: "/conf" })
      assert.match(e.message, /parent of config dir \/srv\/shared: is writable/)
    })
  )
  it.effect("refuses bad lists: missing, too big, too many lines, bad lines, too many mounts", () =>
    Effect.gen(function* () {
      assert.strictEqual(((yield* refusedBy({}, ["nope"])) as { reason: string }).reason, "NotFound")
      const big = yield* refusedBy({ [`${CONF}/base.list`]: file(`#${"x".repeat(1024 * 1024)}`) })
      assert.strictEqual((big as { reason: string }).reason, "TooLarge")
      const lines = yield* refusedBy({ [`${CONF}/base.list`]: file("#\n".repeat(1025)) })
      assert.strictEqual((lines as { reason: string }).reason, "TooManyLines")
      const ok1024 = yield* run(with_({ [`${CONF}/base.list`]: file("#\n".repeat(1024)) }), resolve("base"))
      assert.deepStrictEqual(ok1024, { files: [], dirs: [] })
      for (const [line, why] of [
        ["lib", /"lib" is not an absolute path/],
        ["/a b", /characters the native CLI refuses/],
        ["/a\u0001b", /NUL or control character/],
        ["/..", /is the host's \//],
        [`/${"a".repeat(4096)}`, /longer than 4096/]
      ] as const) {
        const e = yield* refusedBy({ [`${CONF}/base.list`]: file(`/ok\n${line}\n`) })
        assert.match(e.message, /base.list:2: /)
        assert.match(e.message, why)
      }
      const files: Record<string, MemoryNode> = {}
      const names: Array<string> = []
      for (let i = 0; i < 513; i++) {
        files[`/f/${i}`] = file("")
        names.push(`/f/${i}`)
      }
      const many = yield* refusedBy({ ...files, [`${CONF}/base.list`]: file(names.join("\n")) })
      assert.match(many.message, /base.list:513: more than 512 files to mount/)
      const dirs: Record<string, MemoryNode> = {}
      for (let i = 0; i < 513; i++) dirs[`/d/${i}`] = dir()
      const manyDirs = yield* refusedBy({ ...dirs, [`${CONF}/base.list`]: file(Object.keys(dirs).join("\n")) })
      assert.match(manyDirs.message, /more than 512 directories/)
    })
  )
})

describe("CliLauncher", () => {
  const CLI = "/usr/local/bin/ascend-docker-cli"
  it.effect("builds the seed's argv", () =>
    Effect.gen(function* () {
      const argv = yield* run(
        baseTree(),
        prepareWith({
          devices: [0, 3],
          pid: 7,
          rootfs: "/r",
          mounts: { files: ["/f"], dirs: ["/d1", "/d2"] },
          options: ["NODRV", "VIRTUAL"]
        })
      )
      assert.deepStrictEqual(argv, [
        CLI,
        "--devices",
        "0,3",
        "--pid",
        "7",
        "--rootfs",
        "/r",
        "--mount-file",
        "/f",
        "--mount-dir",
        "/d1",
        "--mount-dir",
        "/d2",
        "--options",
        "NODRV,VIRTUAL"
      ])
    })
  )
  it.effect("refuses a CLI that is missing, a link, not executable, not a file, or writable or owned by others", () =>
    Effect.gen(function* () {
      const cases: Array<[MemoryNode | undefined, RegExp]> = [
        [undefined, /untrusted CLI .*: does not exist/],
        [symlink("/bin/true"), /is a symbolic link/],
        [file("", { mode: 0o644 }), /is not executable/],
        [dir(), /is not a regular file \(Directory\)/],
        [file("", { mode: 0o777 }), /is writable by group or others/],
        [file("", { mode: 0o755, uid: 1000 }), /owned by uid 1000/]
      ]
      for (const [node, why] of cases) {
        const tree = baseTree()
        if (node === undefined) delete tree[CLI]
        else tree[CLI] = node
        tree["/bin/true"] = file("", { mode: 0o755 })
        assert.match((yield* failure(tree, prepare)).message, why)
      }
      const parent = with_({ "/usr/local/bin": dir({ mode: 0o777 }) })
      assert.match((yield* failure(parent, prepare)).message, /parent of CLI \/usr\/local\/bin: is writable/)
      const above = with_({ "/usr": dir({ mode: 0o757 }) })
      assert.match((yield* failure(above, prepare)).message, /parent of CLI \/usr: is writable/)
      const rootOwned = with_({ "/usr/local": dir({ uid: 1000 }) })
      assert.match((yield* failure(rootOwned, prepare)).message, /parent of CLI \/usr\/local: is owned by uid 1000/)
      assert.match((yield* failure(baseTree(), prepare, { cliPath: "cli" })).message, /is not an absolute path/)
    })
  )
  it.effect("the hook's uid may own what it trusts; another uid may not", () =>
    Effect.gen(function* () {
      const tree = with_({ [CLI]: file("", { mode: 0o755, uid: 1000 }) })
      assert.strictEqual((yield* run(tree, prepare, { uid: 1000 }))[0], CLI)
    })
  )
})

describe("the pipeline", () => {
  it.effect("plans and execs the CLI once, through Exec", () =>
    Effect.gen(function* () {
      const calls: Array<ExecCall> = []
      const status = yield* Hook.run.pipe(Effect.provide(memoryHook(baseTree(), calls)))
      assert.strictEqual(status, 0)
      assert.deepStrictEqual(calls, [
        {
          file: "/usr/local/bin/ascend-docker-cli",
          argv: [
            "/usr/local/bin/ascend-docker-cli",
            "--devices",
            "0,1",
            "--pid",
            "123",
            "--rootfs",
            "/run/c1/rootfs",
            "--mount-file",
            "/usr/local/bin/npu-smi",
            "--mount-dir",
            "/usr/local/Ascend/driver/lib64"
          ]
        }
      ])
    })
  )
  it.effect("a failing stage stops the pipeline: nothing is exec'd", () =>
    Effect.gen(function* () {
      const calls: Array<ExecCall> = []
      const tree = with_({
        "/run/c1/config.json": file(
          JSON.stringify({ process: { env: ["ASCEND_VISIBLE_DEVICES=x"] }, root: { path: "r" } })
        )
      })
      const error = yield* Effect.flip(Hook.run.pipe(Effect.provide(memoryHook(tree, calls))))
      assert.strictEqual(error._tag, "EnvError")
      assert.deepStrictEqual(calls, [])
    })
  )
  it.effect("no NPU asked for: status 0, no list read, nothing exec'd", () =>
    Effect.gen(function* () {
      const calls: Array<ExecCall> = []
      const tree = with_({
        "/run/c1/config.json": file(JSON.stringify({ process: { env: [] }, root: { path: "r" } })),
        [CONF]: dir({ mode: 0o777 })
      })
      assert.strictEqual(yield* Hook.run.pipe(Effect.provide(memoryHook(tree, calls))), 0)
      assert.deepStrictEqual(calls, [])
    })
  )
})
