import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { readBounded } from "../src/platform/readBounded.ts"
import * as SyncFileSystem from "../src/platform/SyncFileSystem.ts"
import { cleanup, scratch } from "./support/fixtures.ts"

// One suite, three layers: Effect's NodeFileSystem (the reference, on a real disk), our SyncFileSystem
// (what the hook runs on, same disk) and MemoryFileSystem (what the unit tests run on, the same tree in
// memory). A fake earns trust by passing the real one's tests.

let root = ""
const server = net.createServer()

beforeAll(async () => {
  root = scratch()
  fs.writeFileSync(path.join(root, "file"), "hello, world\n", { mode: 0o640 })
  fs.chmodSync(path.join(root, "file"), 0o640)
  fs.mkdirSync(path.join(root, "dir"), { mode: 0o750 })
  fs.chmodSync(path.join(root, "dir"), 0o750)
  fs.symlinkSync("file", path.join(root, "link"))
  fs.symlinkSync(path.join(root, "dir"), path.join(root, "dirlink"))
  fs.symlinkSync("nowhere", path.join(root, "dangling"))
  fs.symlinkSync("loop2", path.join(root, "loop1"))
  fs.symlinkSync("loop1", path.join(root, "loop2"))
  await new Promise<void>((resolve) => server.listen(path.join(root, "sock"), resolve))
})
afterAll(() => {
  server.close()
  cleanup(root)
})

const memoryTree = (): Record<string, MemoryFileSystem.MemoryNode> => ({
  [`${root}/file`]: MemoryFileSystem.file("hello, world\n", { mode: 0o640 }),
  [`${root}/dir`]: MemoryFileSystem.dir({ mode: 0o750 }),
  [`${root}/link`]: MemoryFileSystem.symlink("file"),
  [`${root}/dirlink`]: MemoryFileSystem.symlink(`${root}/dir`),
  [`${root}/dangling`]: MemoryFileSystem.symlink("nowhere"),
  [`${root}/loop1`]: MemoryFileSystem.symlink("loop2"),
  [`${root}/loop2`]: MemoryFileSystem.symlink("loop1"),
  [`${root}/sock`]: MemoryFileSystem.special("Socket", { mode: 0o755 })
})

const layers: ReadonlyArray<[string, () => Layer.Layer<FileSystem.FileSystem>]> = [
  ["NodeFileSystem", () => NodeFileSystem.layer],
  ["SyncFileSystem", () => SyncFileSystem.layer],
  ["MemoryFileSystem", () => MemoryFileSystem.layer(memoryTree())]
]

for (const [name, layer] of layers) {
  describe(`FileSystem conformance: ${name}`, () => {
    const withFs = <A, E>(f: (fs: FileSystem.FileSystem) => Effect.Effect<A, E, Scope.Scope>) =>
      Effect.gen(function* () {
        return yield* f(yield* FileSystem.FileSystem)
      }).pipe(Effect.provide(layer()))
    const tagOf = <A, R>(e: Effect.Effect<A, { reason: { _tag: string } }, R>) =>
      Effect.map(Effect.flip(e), (err) => err.reason._tag)

    it.effect("stat: type, permission bits, owner and size of a file; a dir; a socket", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          const f = yield* fs.stat(`${root}/file`)
          assert.strictEqual(f.type, "File")
          assert.strictEqual(f.mode & 0o7777, 0o640)
          assert.strictEqual(Option.getOrThrow(f.uid), process.getuid!())
          assert.strictEqual(Number(f.size), 13)
          const d = yield* fs.stat(`${root}/dir`)
          assert.strictEqual(d.type, "Directory")
          assert.strictEqual(d.mode & 0o7777, 0o750)
          assert.strictEqual((yield* fs.stat(`${root}/sock`)).type, "Socket")
        })
      )
    )
    it.effect("stat follows links, lstat does not", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          assert.strictEqual((yield* fs.stat(`${root}/link`)).type, "File")
          assert.strictEqual((yield* fs.lstat(`${root}/link`)).type, "SymbolicLink")
          assert.strictEqual((yield* fs.stat(`${root}/dirlink`)).type, "Directory")
          assert.strictEqual((yield* fs.lstat(`${root}/dangling`)).type, "SymbolicLink")
        })
      )
    )
    it.effect("missing paths, dangling links, loops and files used as dirs fail with the same reasons", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          assert.strictEqual(yield* tagOf(fs.stat(`${root}/missing`)), "NotFound")
          assert.strictEqual(yield* tagOf(fs.stat(`${root}/dangling`)), "NotFound")
          assert.strictEqual(yield* tagOf(fs.stat(`${root}/loop1`)), "BadResource")
          assert.strictEqual(yield* tagOf(fs.stat(`${root}/file/x`)), "BadResource")
          assert.strictEqual(yield* tagOf(fs.lstat(`${root}/missing/x`)), "NotFound")
        })
      )
    )
    it.effect("realPath resolves links, . and ..", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          assert.strictEqual(yield* fs.realPath(`${root}/link`), `${root}/file`)
          assert.strictEqual(yield* fs.realPath(`${root}/dirlink/../file`), `${root}/file`)
          assert.strictEqual(yield* fs.realPath(`${root}/./dir/`), `${root}/dir`)
          assert.strictEqual(yield* tagOf(fs.realPath(`${root}/dangling`)), "NotFound")
        })
      )
    )
    it.effect("readFile and readFileString give the bytes", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          assert.strictEqual(yield* fs.readFileString(`${root}/link`), "hello, world\n")
          assert.strictEqual((yield* fs.readFile(`${root}/file`)).length, 13)
          assert.strictEqual(yield* tagOf(fs.readFile(`${root}/missing`)), "NotFound")
        })
      )
    )
    it.effect("open reads in chunks; its stat is the file's; noFollow refuses a link", () =>
      withFs((fs) =>
        Effect.scoped(
          Effect.gen(function* () {
            const file = yield* fs.open(`${root}/file`, { flag: "r", noFollow: true })
            assert.strictEqual((yield* file.stat).type, "File")
            const a = yield* file.readAlloc(5)
            const b = yield* file.readAlloc(100)
            const c = yield* file.readAlloc(100)
            assert.strictEqual(new TextDecoder().decode(Option.getOrThrow(a)), "hello")
            assert.strictEqual(new TextDecoder().decode(Option.getOrThrow(b)), ", world\n")
            assert.isTrue(Option.isNone(c))
            assert.strictEqual(yield* tagOf(fs.open(`${root}/link`, { flag: "r", noFollow: true })), "BadResource")
            const viaLink = yield* fs.open(`${root}/link`, { flag: "r" })
            assert.strictEqual((yield* viaLink.stat).type, "File")
          })
        )
      )
    )
    it.effect("readBounded: the text within the limit, TooLarge past it, the verify hook sees the fstat", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          const seen: Array<string> = []
          const ok = yield* readBounded(fs, `${root}/file`, 13, {
            verify: (info) => Effect.sync(() => void seen.push(info.type))
          })
          assert.deepStrictEqual(ok, { _tag: "Text", text: "hello, world\n" })
          assert.deepStrictEqual(seen, ["File"])
          assert.deepStrictEqual(yield* readBounded(fs, `${root}/file`, 12), { _tag: "TooLarge" })
          assert.deepStrictEqual(yield* readBounded(fs, `${root}/file`, 0), { _tag: "TooLarge" })
        })
      )
    )
    it.effect("writes: create with a mode, replace, append, exclusive create", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          const dir = `${root}/w-${name}-1`
          yield* fs.makeDirectory(dir, { mode: 0o755 })
          yield* fs.writeFileString(`${dir}/a`, "one", { mode: 0o600 })
          assert.strictEqual((yield* fs.stat(`${dir}/a`)).mode & 0o777, 0o600)
          yield* fs.writeFileString(`${dir}/a`, "two")
          yield* fs.writeFileString(`${dir}/a`, "+", { flag: "a" })
          assert.strictEqual(yield* fs.readFileString(`${dir}/a`), "two+")
          assert.strictEqual((yield* fs.stat(`${dir}/a`)).mode & 0o777, 0o600, "a rewrite keeps the mode")
          assert.strictEqual(yield* tagOf(fs.writeFileString(`${dir}/a`, "x", { flag: "wx" })), "AlreadyExists")
          assert.strictEqual(yield* tagOf(fs.writeFileString(`${dir}/none/a`, "x")), "NotFound")
        })
      )
    )
    it.effect("writes: rename replaces atomically, chmod, copyFile, symlink, remove", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          const dir = `${root}/w-${name}-2`
          yield* fs.makeDirectory(`${dir}/sub/deeper`, { recursive: true })
          yield* fs.writeFileString(`${dir}/old`, "old")
          yield* fs.writeFileString(`${dir}/new.tmp`, "new")
          yield* fs.rename(`${dir}/new.tmp`, `${dir}/old`)
          assert.strictEqual(yield* fs.readFileString(`${dir}/old`), "new")
          assert.isFalse(yield* fs.exists(`${dir}/new.tmp`))
          yield* fs.chmod(`${dir}/old`, 0o640)
          assert.strictEqual((yield* fs.stat(`${dir}/old`)).mode & 0o777, 0o640)
          yield* fs.copyFile(`${dir}/old`, `${dir}/copy`)
          assert.strictEqual(yield* fs.readFileString(`${dir}/copy`), "new")
          yield* fs.symlink("old", `${dir}/link`)
          assert.strictEqual(yield* fs.readFileString(`${dir}/link`), "new")
          assert.strictEqual(yield* tagOf(fs.symlink("old", `${dir}/link`)), "AlreadyExists")
          yield* fs.remove(`${dir}/link`)
          assert.isTrue(yield* fs.exists(`${dir}/old`), "removing a link leaves its target")
          assert.strictEqual(yield* tagOf(fs.remove(`${dir}/nothing`)), "NotFound")
          yield* fs.remove(`${dir}/nothing`, { force: true })
          yield* fs.remove(`${dir}/sub`, { recursive: true })
          assert.isFalse(yield* fs.exists(`${dir}/sub/deeper`))
          assert.deepStrictEqual((yield* fs.readDirectory(dir)).sort(), ["copy", "old"])
        })
      )
    )
    it.effect("exists", () =>
      withFs((fs) =>
        Effect.gen(function* () {
          assert.isTrue(yield* fs.exists(`${root}/file`))
          assert.isFalse(yield* fs.exists(`${root}/missing`))
        })
      )
    )
  })
}
