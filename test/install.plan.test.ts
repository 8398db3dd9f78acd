import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as PlatformError from "effect/PlatformError"
import { type Options, plan, SELF_MARK } from "../src/commands/Install.ts"
import { apply } from "../src/commands/install/Apply.ts"
import { READ_WHOLE_BYTES } from "../src/commands/install/Files.ts"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { dir, file, symlink } from "../src/platform/MemoryFileSystem.ts"

// The installer as an Effect program on in-memory trees: plan and apply through FileSystem, so modes,
// owners, links and a failure half-way can be set up and looked at without touching a disk.

const NOW = new Date("2026-12-01T10:20:30.456Z")
const BINARY = new TextEncoder().encode(`\x7fELF ...${SELF_MARK}...`)
const options = (o: Partial<Options> = {}): Options => ({
  mode: "install",
  runtimes: [],
  makeDefault: false,
  prefix: "/usr/local",
  root: "/",
  cliProtocol: undefined,
  force: false,
  source: { path: "/build/ascend-docker-hook", bytes: BINARY },
  now: NOW,
  ...o
})

const DAEMON = '{\n  "debug": true\n}\n'
const tree = (): Record<string, MemoryFileSystem.MemoryNode> => ({
  "/etc/docker/daemon.json": file(DAEMON, { mode: 0o600, uid: 0, gid: 993 }),
  "/etc/containerd/config.toml": file('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "p:1"\n', {
    mode: 0o640
  })
})

/** Every node reachable from `/`: type, mode, owner and content, to compare whole trees. */
const snapshot = (fs: FileSystem.FileSystem) =>
  Effect.gen(function* () {
    const out: Record<string, string> = {}
    const walk = (d: string): Effect.Effect<void, PlatformError.PlatformError> =>
      Effect.gen(function* () {
        for (const name of yield* fs.readDirectory(d)) {
          const p = `${d === "/" ? "" : d}/${name}`
          const info = yield* fs.lstat(p)
          const owner = `${(info.mode & 0o7777).toString(8)} ${info.uid._tag === "Some" ? info.uid.value : "?"}:${info.gid._tag === "Some" ? info.gid.value : "?"}`
          if (info.type === "Directory") {
            out[p] = `dir ${owner}`
            yield* walk(p)
          } else if (info.type === "SymbolicLink") out[p] = `-> ${yield* fs.readLink(p)}`
          else out[p] = `${owner} ${new TextDecoder().decode(yield* fs.readFile(p))}`
        }
      })
    yield* walk("/")
    return out
  })

const install = (fs: FileSystem.FileSystem, o: Partial<Options> = {}) =>
  Effect.flatMap(plan(fs, options(o)), (changes) => apply(fs, changes))

/** `fs` with its `n`th rename failing, as a full disk or a read-only mount would make it. */
const failingRename = (fs: FileSystem.FileSystem, n: number): FileSystem.FileSystem => {
  let calls = 0
  return {
    ...fs,
    rename: (from, to) =>
      ++calls === n
        ? Effect.fail(
            PlatformError.systemError({ _tag: "Unknown", module: "FileSystem", method: "rename", pathOrDescriptor: to })
          )
        : fs.rename(from, to)
  }
}

describe("install as an Effect program on FileSystem", () => {
  it.effect("writes with the mode and owner of the file it changes; backups as private, named by time", () =>
    Effect.gen(function* () {
      const fs = MemoryFileSystem.make(tree())
      yield* install(fs, { runtimes: ["docker", "containerd"] })
      const s = yield* snapshot(fs)
      assert.match(s["/etc/docker/daemon.json"]!, /^600 0:993 \{\n {2}"debug": true,\n {2}"runtimes": \{/)
      assert.strictEqual(s["/etc/docker/daemon.json.ascend-backup-20261201T102030Z"], `600 0:993 ${DAEMON}`)
      assert.match(s["/etc/containerd/conf.d/99-ascend.toml"]!, /^640 0:0 # Written by ascend-docker-hook/)
      assert.match(
        s["/etc/containerd/config.toml"]!,
        /^640 0:0 version = 2\nimports = \["\/etc\/containerd\/conf.d\/99-ascend.toml"\]\n/
      )
      assert.strictEqual(s["/etc/containerd/conf.d"], "dir 755 0:0")
      assert.strictEqual(s["/usr/local/bin/ascend-docker-runtime"], "-> ascend-docker-hook")
      assert.match(s["/usr/local/bin/ascend-docker-hook"]!, /^755 0:0 /)
      assert.deepStrictEqual(
        Object.keys(s).filter((p) => p.includes(".ascend-new") || p.includes(".ascend-old")),
        [],
        "no temporaries left"
      )
    })
  )

  it.effect("a failure at any step of the commit leaves every file as it was", () =>
    Effect.gen(function* () {
      const before = yield* snapshot(MemoryFileSystem.make(tree()))
      const good = MemoryFileSystem.make(tree())
      const changes = yield* plan(good, options({ runtimes: ["docker", "containerd"] }))
      const writes = changes.filter((c) => c.action === "create" || c.action === "update").length
      assert.isAbove(writes, 4)
      for (let n = 1; n <= writes; n++) {
        const fs = MemoryFileSystem.make(tree())
        const error = yield* Effect.flip(apply(failingRename(fs, n), changes))
        assert.strictEqual(error._tag, "InstallError")
        const after = yield* snapshot(fs)
        // Directories made for new files go too; nothing else may differ.
        assert.deepStrictEqual(after, before, `rename ${n} of ${writes} failed`)
      }
    })
  )

  it.effect("uninstall writes the restored files before it removes anything, and keeps unrelated backups", () =>
    Effect.gen(function* () {
      const fs = MemoryFileSystem.make({
        ...tree(),
        "/etc/docker/daemon.json.ascend-backup-20200101T000000Z": file("{}\n", { mode: 0o600 })
      })
      yield* install(fs, { runtimes: ["docker"] })
      const changes = yield* plan(fs, options({ mode: "uninstall", runtimes: ["docker"] }))
      const order = changes.filter((c) => c.action !== "unchanged" && c.action !== "keep").map((c) => c.action)
      assert.deepStrictEqual(
        changes.filter((c) => c.path.startsWith("/etc/docker")).map((c) => `${c.action} ${c.path}`),
        ["update /etc/docker/daemon.json", "remove /etc/docker/daemon.json.ascend-backup-20261201T102030Z"]
      )
      assert.include(order, "remove")
      yield* apply(fs, changes)
      const s = yield* snapshot(fs)
      assert.strictEqual(s["/etc/docker/daemon.json"], `600 0:993 ${DAEMON}`)
      assert.strictEqual(
        s["/etc/docker/daemon.json.ascend-backup-20200101T000000Z"],
        "600 0:0 {}\n",
        "not ours to delete"
      )
    })
  )

  it.effect("two installs in the same second keep two backups; uninstall walks back through both", () =>
    Effect.gen(function* () {
      const fs = MemoryFileSystem.make(tree())
      yield* install(fs, { runtimes: ["docker"] })
      yield* install(fs, { runtimes: ["docker"], makeDefault: true })
      const s = yield* snapshot(fs)
      assert.strictEqual(
        s["/etc/docker/daemon.json.ascend-backup-20261201T102030Z"],
        `600 0:993 ${DAEMON}`,
        "the original, not overwritten"
      )
      assert.match(
        s["/etc/docker/daemon.json.ascend-backup-20261201T102030Z.1"]!,
        /"runtimes"/,
        "the first install's result"
      )
      yield* Effect.flatMap(plan(fs, options({ mode: "uninstall", runtimes: ["docker"] })), (c) => apply(fs, c))
      const after = yield* snapshot(fs)
      assert.strictEqual(after["/etc/docker/daemon.json"], `600 0:993 ${DAEMON}`)
      assert.deepStrictEqual(
        Object.keys(after).filter((p) => p.includes("ascend-backup")),
        [],
        "both backups were restored from, so both go"
      )
    })
  )

  it.effect("a file that is not ours at one of our paths stops the whole install; --force keeps a backup", () =>
    Effect.gen(function* () {
      const t = { ...tree(), "/usr/local/bin/ascend-docker-runtime": symlink("/opt/huawei/ascend-docker-runtime") }
      const fs = MemoryFileSystem.make(t)
      const before = yield* snapshot(fs)
      const error = yield* Effect.flip(install(fs, { runtimes: ["docker"] }))
      assert.match(error.message, /ascend-docker-runtime is there and not ours \(a link to \/opt\/huawei/)
      assert.deepStrictEqual(yield* snapshot(fs), before)
      yield* install(fs, { runtimes: ["docker"], force: true })
      const s = yield* snapshot(fs)
      assert.strictEqual(
        s["/usr/local/bin/ascend-docker-runtime.ascend-backup-20261201T102030Z"],
        "-> /opt/huawei/ascend-docker-runtime"
      )
      assert.strictEqual(s["/usr/local/bin/ascend-docker-runtime"], "-> ascend-docker-hook")
    })
  )

  it.effect("a symlinked or special config is refused, not followed", () =>
    Effect.gen(function* () {
      const fs = MemoryFileSystem.make({ "/etc/docker/daemon.json": symlink("/srv/daemon.json"), "/srv": dir() })
      const error = yield* Effect.flip(install(fs, { runtimes: ["docker"] }))
      assert.match(error.message, /^\/etc\/docker\/daemon.json is a symbolic link; install edits only a regular file/)
    })
  )

  it.effect("CRI-O's drop-in gives the ascend handler the default runtime's conmon settings", () =>
    Effect.gen(function* () {
      const fs = MemoryFileSystem.make({
        "/etc/crio/crio.conf": file('[crio.runtime]\ndefault_runtime = "crun"\n', { mode: 0o600 }),
        "/etc/crio/crio.conf.d/10-crun.conf": file(
          '[crio.runtime.runtimes.crun]\nmonitor_path = "/usr/libexec/crio/conmon"\nmonitor_cgroup = "pod"\n'
        )
      })
      yield* install(fs, { runtimes: ["crio"], cliProtocol: "2023" })
      const s = yield* snapshot(fs)
      assert.strictEqual(
        s["/etc/crio/crio.conf.d/99-ascend.conf"],
        `600 0:0 # Written by ascend-docker-hook install; uninstall removes it.
[crio.runtime.runtimes.ascend]
runtime_path = "/usr/local/bin/ascend-docker-runtime"
runtime_type = "oci"
runtime_root = "/run/runc"
monitor_path = "/usr/libexec/crio/conmon"
monitor_cgroup = "pod"
`
      )
      assert.isUndefined(
        s["/usr/share/containers/oci/hooks.d/ascend-docker-hook.json"],
        "no hooks.d hook with a 2023 CLI"
      )
    })
  )
})

// The real binary is ~112 MB: install must copy it through the apply core and tell ours from someone else's
// streamed, never reading it whole (issue 26). Files over READ_WHOLE_BYTES stand for it here.
describe("a binary too large to hold", () => {
  const MiB = 1024 * 1024
  /** `size` bytes of `fill`, with SELF_MARK (when asked) across the first 1 MiB chunk boundary. */
  const big = (size: number, fill: number, mark: boolean) => {
    const bytes = new Uint8Array(size).fill(fill)
    if (mark) bytes.set(new TextEncoder().encode(SELF_MARK), MiB - 10)
    return bytes
  }
  const SOURCE = "/build/ascend-docker-hook"
  const HOOK = "/usr/local/bin/ascend-docker-hook"
  /** `fs`, failing the test on any whole read of a file over READ_WHOLE_BYTES. */
  const noWholeReads = (fs: FileSystem.FileSystem): Guarded => ({
    ...fs,
    unguarded: fs,
    readFile: (p) =>
      Effect.flatMap(fs.stat(p), (info) =>
        Number(info.size) > READ_WHOLE_BYTES ? Effect.die(`${p} read whole`) : fs.readFile(p)
      )
  })
  const streamed = (o: Partial<Options>) => options({ source: { path: SOURCE }, ...o })
  /** What is at `p` now, read past the guard (the test's own look, not the installer's). */
  const bytesAt = (fs: FileSystem.FileSystem, p: string) =>
    Effect.map(fs.stat(p), () => Buffer.from(Effect.runSync((fs as Guarded).unguarded.readFile(p))))
  type Guarded = FileSystem.FileSystem & { readonly unguarded: FileSystem.FileSystem }

  it.effect("an older binary of ours (its mark across a chunk boundary) is replaced by a copy; again: unchanged", () =>
    Effect.gen(function* () {
      const source = big(5 * MiB, 1, true)
      const fs = noWholeReads(
        MemoryFileSystem.make({ [SOURCE]: file(source), [HOOK]: file(big(6 * MiB, 2, true), { mode: 0o755 }) })
      )
      const changes = yield* plan(fs, streamed({}))
      const binary = changes.find((c) => c.path === HOOK)!
      assert.strictEqual(binary.action, "update")
      assert.isTrue("copyFrom" in binary && binary.copyFrom === SOURCE, "copied from the source, not held")
      assert.isFalse(
        changes.some((c) => c.path.includes(".ascend-backup-")),
        "ours: no backup"
      )
      yield* apply(fs, changes)
      assert.isTrue((yield* bytesAt(fs, HOOK)).equals(Buffer.from(source)))
      assert.strictEqual(((yield* fs.stat(HOOK)).mode & 0o777).toString(8), "755")
      const again = yield* plan(fs, streamed({}))
      assert.strictEqual(again.find((c) => c.path === HOOK)!.action, "unchanged")
    })
  )

  it.effect("one byte apart at the end, same size: not what install wants, so replaced", () =>
    Effect.gen(function* () {
      const source = big(5 * MiB, 1, true)
      const near = Uint8Array.from(source)
      near[near.length - 1] = 7
      const fs = noWholeReads(MemoryFileSystem.make({ [SOURCE]: file(source), [HOOK]: file(near) }))
      const changes = yield* plan(fs, streamed({}))
      assert.strictEqual(changes.find((c) => c.path === HOOK)!.action, "update")
    })
  )

  it.effect("someone else's: refused; with --force set aside by a copy; uninstall puts it back byte for byte", () =>
    Effect.gen(function* () {
      const theirs = big(5 * MiB, 3, false)
      const fs = noWholeReads(
        MemoryFileSystem.make({ [SOURCE]: file(big(5 * MiB, 1, true)), [HOOK]: file(theirs, { mode: 0o750, gid: 5 }) })
      )
      const refused = yield* Effect.flip(plan(fs, streamed({})))
      assert.match(refused.message, /ascend-docker-hook is there and not ours \(a file we did not write\)/)
      yield* Effect.flatMap(plan(fs, streamed({ force: true })), (changes) => apply(fs, changes))
      const changes = yield* plan(fs, options({ mode: "uninstall" }))
      const back = changes.find((c) => c.path === HOOK)!
      assert.isTrue("copyFrom" in back && back.copyFrom.includes(".ascend-backup-"), "copied back from the backup")
      yield* apply(fs, changes)
      assert.isTrue((yield* bytesAt(fs, HOOK)).equals(Buffer.from(theirs)))
      assert.deepStrictEqual(
        (yield* fs.readDirectory("/usr/local/bin")).filter((n) => n.includes("backup")),
        [],
        "the backup restored is gone"
      )
    })
  )

  it.effect("a failure at any rename of the commit leaves the large binary there as it was", () =>
    Effect.gen(function* () {
      const old = big(6 * MiB, 2, true)
      const make = () =>
        noWholeReads(MemoryFileSystem.make({ [SOURCE]: file(big(5 * MiB, 1, true)), [HOOK]: file(old) }))
      const changes = yield* plan(make(), streamed({ runtimes: ["docker"] }))
      for (let n = 1; n <= 4; n++) {
        const fs = make()
        yield* Effect.flip(apply(failingRename(fs, n), changes))
        assert.isTrue((yield* bytesAt(fs, HOOK)).equals(Buffer.from(old)), `rename ${n} failed`)
      }
    })
  )
})

describe("install --cdi-refresh / --dev-char-links: systemd units as part of the plan", () => {
  const UNITS = "/etc/systemd/system"
  const WANTS = `${UNITS}/multi-user.target.wants`
  it.effect(
    "written and enabled (as systemctl enable links them), twice changes nothing, uninstall leaves the tree as before",
    () =>
      Effect.gen(function* () {
        const fs = MemoryFileSystem.make(tree())
        const before = yield* snapshot(fs)
        yield* install(fs, { cdiRefresh: true, devCharLinks: true })
        const after = yield* snapshot(fs)
        for (const unit of [
          "ascend-docker-hook-cdi-refresh.service",
          "ascend-docker-hook-cdi-refresh.path",
          "ascend-docker-hook-dev-char-links.service"
        ]) {
          assert.match(after[`${UNITS}/${unit}`]!, /^644 0:0 # Written by ascend-docker-hook install/)
          assert.strictEqual(after[`${WANTS}/${unit}`], `-> ${UNITS}/${unit}`)
        }
        assert.include(
          after[`${UNITS}/ascend-docker-hook-cdi-refresh.service`]!,
          "ExecStart=/usr/local/bin/ascend-docker-hook cdi generate --refresh"
        )
        assert.match(
          after["/etc/ascend-docker-runtime.d/cdi-refresh.env"]!,
          /^644 0:0 .*\nASCEND_CDI_REFRESH_FLAGS=--output \/var\/run\/cdi\/ascend.com-npu.json\n$/s
        )
        const again = yield* plan(fs, options({ cdiRefresh: true, devCharLinks: true }))
        assert.deepStrictEqual(
          again.filter((c) => c.action !== "unchanged" && c.action !== "keep").map((c) => c.path),
          [],
          "installing twice changes nothing"
        )
        yield* Effect.flatMap(plan(fs, options({ mode: "uninstall" })), (c) => apply(fs, c))
        const gone = yield* snapshot(fs)
        const left = Object.keys(gone).filter((p) => p.startsWith("/etc/systemd") && !gone[p]!.startsWith("dir "))
        assert.deepStrictEqual(left, [], "no unit or link left (the directories made for them stay, as on a real host)")
        assert.isUndefined(gone["/etc/ascend-docker-runtime.d/cdi-refresh.env"], "the env file, as written, goes")
        for (const [p, v] of Object.entries(before)) assert.strictEqual(gone[p], v, `${p} as before`)
      })
  )

  it.effect("an edited env file is the admin's: never rewritten, kept on uninstall; a unit not ours is refused", () =>
    Effect.gen(function* () {
      const env = "ASCEND_CDI_REFRESH_FLAGS=--output /etc/cdi/ascend.com-npu.json --mounts base,extra\n"
      const fs = MemoryFileSystem.make({ ...tree(), "/etc/ascend-docker-runtime.d/cdi-refresh.env": file(env) })
      yield* install(fs, { cdiRefresh: true })
      assert.strictEqual(
        new TextDecoder().decode(yield* fs.readFile("/etc/ascend-docker-runtime.d/cdi-refresh.env")),
        env
      )
      yield* Effect.flatMap(plan(fs, options({ mode: "uninstall" })), (c) => apply(fs, c))
      assert.strictEqual(
        new TextDecoder().decode(yield* fs.readFile("/etc/ascend-docker-runtime.d/cdi-refresh.env")),
        env
      )
      const theirs = MemoryFileSystem.make({
        ...tree(),
        [`${UNITS}/ascend-docker-hook-dev-char-links.service`]: file("[Unit]\n")
      })
      const refused = yield* Effect.flip(plan(theirs, options({ devCharLinks: true })))
      assert.match(
        refused.message,
        /ascend-docker-hook-dev-char-links.service is there and not ours; --force replaces it/
      )
    })
  )
})
