import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import { type Held, takeLock } from "../../platform/FileLock.ts"
import { nodeFs } from "../../platform/NodeFs.ts"
import * as SyncFileSystem from "../../platform/SyncFileSystem.ts"
import { UNIT_DIR } from "../SystemdUnits.ts"
import * as Containerd from "./ContainerdToml.ts"
import * as Crio from "./Crio.ts"
import * as Docker from "./Docker.ts"
import * as Hooksd from "./Hooksd.ts"

/**
 * What makes the admin commands that write (install, uninstall, cdi generate) safe against each other and
 * against their own deaths: one exclusive lock under the root, staging names that carry the writer's pid
 * and that every later run recognises, and the removal, under the lock, of whatever a run that died left
 * under such a name.
 */

/** How long a second admin command waits for the first before it says who holds the lock. */
export const LOCK_WAIT_MS = 30_000

const trim = (root: string) => (root === "/" ? "" : root.replace(/\/+$/, ""))

/** The lock file: in /run for the host (gone at boot), at the top of any other root. */
export const lockPath = (root: string, runIsDir: boolean): string =>
  root === "/" || trim(root) === ""
    ? runIsDir
      ? "/run/ascend-docker-hook.lock"
      : "/.ascend-docker-hook.lock"
    : `${trim(root)}/.ascend-docker-hook.lock`

let held: Held | undefined

/**
 * Takes the lock at `path` for this process (once: a second call, as install's cdi generate makes, has a
 * lock already) and releases it when the process exits; undefined, or the one line why not.
 */
const holdLock = (path: string): string | undefined => {
  if (held !== undefined) return undefined
  const got = takeLock(path, LOCK_WAIT_MS)
  if (typeof got === "string") return got
  held = got
  process.on("exit", () => got.release())
  return undefined
}

/** Lets the lock go (a long-lived caller, node-setup, between its install and its uninstall); idempotent. */
export const releaseAdminRun = (): void => {
  held?.release()
  held = undefined
}

/** This run's staging names carry its pid (unique per process: two runs never write the same one). */
const own = (): number => process.pid

const dirOf = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/"
const baseOf = (p: string) => p.slice(p.lastIndexOf("/") + 1)

/** `.NAME.ascend-new.<pid>` (a file being staged) or `.NAME.ascend-old.<pid>` (one set aside to remove). */
export const stagingName = (path: string, kind: "new" | "old", pid = own()): string =>
  `${dirOf(path)}/.${baseOf(path)}.ascend-${kind}.${pid}`

/**
 * Every name our writers stage under, this version's and earlier ones': `.NAME.ascend-new[.<pid>]`,
 * `.NAME.ascend-old[.<pid>]` (Apply, cdi generate) and `NAME.ascend-tmp` (the older spec writer).
 */
const STAGING = /^(?:\..+\.ascend-(?:new|old)(?:\.(\d+))?|.+\.ascend-tmp)$/

/** Whether `name` is a staging name of ours that this run did not make (so one a dead run left). */
export const isLeftover = (name: string): boolean => {
  const m = STAGING.exec(name)
  return m !== null && m[1] !== String(own())
}

/** Every directory our admin commands write in under `root` (and `prefix`/bin). */
export const ourDirs = (root: string, prefix: string): ReadonlyArray<string> => {
  const files = [
    Docker.DAEMON_JSON,
    Containerd.CONTAINERD_CONFIG,
    Containerd.CONTAINERD_DROP_IN,
    ...Containerd.RANCHER_DIRS.map((d) => `${d}/config.toml`),
    Crio.CRIO_CONFIG,
    Crio.CRIO_DROP_IN,
    Hooksd.CRIO_HOOKS_D,
    Hooksd.PODMAN_HOOKS_D,
    `${UNIT_DIR}/unit`,
    `${UNIT_DIR}/multi-user.target.wants/unit`,
    "/etc/ascend-docker-runtime.d/base.list",
    "/etc/cdi/ascend.com-npu.json",
    "/var/run/cdi/ascend.com-npu.json",
    `${prefix.replace(/\/+$/, "")}/bin/ascend-docker-hook`
  ]
  return [...new Set(files.map((f) => `${trim(root)}${dirOf(f)}`))]
}

/**
 * Removes, under the lock, what a run that died left under a staging name in `dirs`: nobody else writes
 * there while we hold it, so every such name not of our pid is a dead run's. What cannot be removed is
 * left, and said in the result.
 */
export const removeLeftovers = (
  fs: FileSystem.FileSystem,
  dirs: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function* () {
    const removed: Array<string> = []
    for (const dir of new Set(dirs)) {
      const names = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
      for (const name of names.filter(isLeftover)) {
        const path = `${dir === "/" ? "" : dir}/${name}`
        const info = yield* Effect.option(fs.lstat(path))
        if (info._tag === "None" || info.value.type === "Directory") continue
        if ((yield* Effect.exit(fs.remove(path)))._tag === "Success") removed.push(path)
      }
    }
    return removed
  })

/** Writes `bytes` at `path` all or nothing: staged under our name with `mode`, synced, renamed over, the directory synced. */
export const writeAtomic = (
  fs: FileSystem.FileSystem,
  path: string,
  bytes: Uint8Array | string,
  mode: number
): Effect.Effect<void, { readonly message: string }> => {
  const temp = stagingName(path, "new")
  return Effect.gen(function* () {
    yield* fs.remove(temp, { force: true }).pipe(Effect.ignore)
    yield* fs.writeFile(temp, typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes, { mode, flag: "wx" })
    yield* fs.chmod(temp, mode)
    yield* Effect.scoped(Effect.flatMap(fs.open(temp), (f) => f.sync))
    yield* fs.rename(temp, path)
    yield* syncDir(fs, dirOf(path))
  }).pipe(Effect.tapError(() => fs.remove(temp, { force: true }).pipe(Effect.ignore)))
}

/** Syncs a directory so the renames in it are on disk; a file system that cannot sync a directory (EINVAL) is not an error. */
export const syncDir = (fs: FileSystem.FileSystem, dir: string): Effect.Effect<void, { readonly message: string }> =>
  Effect.scoped(Effect.flatMap(fs.open(dir), (f) => f.sync)).pipe(
    Effect.catch((e) => (/\(EINVAL\)|\(ENOTSUP\)|\(EOPNOTSUPP\)/.test(e.message) ? Effect.void : Effect.fail(e)))
  )

/** Takes the lock at `path`, then removes what a dead run left in `dirs`; whether the run may go on (if not, `err` got why). */
const prepare = (path: string, dirs: ReadonlyArray<string>, err: (line: string) => unknown): boolean => {
  const busy = holdLock(path)
  if (busy !== undefined) {
    err(busy)
    return false
  }
  const fs = SyncFileSystem.make(nodeFs())
  Effect.runSync(Effect.andThen(recover(fs, dirOf(held!.path)), removeLeftovers(fs, dirs)))
  return true
}

/** What install and uninstall do first: take the root's lock (waiting for another's), clean our directories. */
export const prepareAdminRun = (root: string, prefix: string, err: (line: string) => unknown): boolean =>
  prepare(
    lockPath(root, nodeFs().statSync("/run", { throwIfNoEntry: false })?.isDirectory() === true),
    ourDirs(root, prefix),
    err
  )

/** What cdi generate does first: take the lock of the spec's directory (run by non-root users too), clean it. */
export const prepareSpecWrite = (output: string, err: (line: string) => unknown): boolean =>
  prepare(`${dirOf(output) === "/" ? "" : dirOf(output)}/.ascend-docker-hook.lock`, [dirOf(output)], err)

/** cdi generate on a tree that is not the host's (a test's MemoryFileSystem): the clean-up without the lock. */
export const cleanSpecDir = (fs: FileSystem.FileSystem, output: string): boolean => {
  Effect.runSync(removeLeftovers(fs, [dirOf(output)]))
  return true
}

/**
 * The commit journal: once every file is staged and synced, and before the first rename, the list of
 * renames the commit will make is written (and synced) beside the lock, as
 * `.ascend-docker-hook.journal.<pid>`. A run killed during the commit leaves it, and the next run, under
 * the lock, finishes that commit (each staged file still there renamed into place, each file to remove set
 * aside and removed) before it cleans up: a commit is never left half done, so no backup is left behind
 * whose file was not replaced, nor one whose file was restored. Without a journal a dead run had not
 * started to commit, and its staged files just go. No lock held (a tree in memory): no journal.
 */
export interface Step {
  readonly path: string
  readonly remove: boolean
}

const JOURNAL = /^\.ascend-docker-hook\.journal\.(\d+)$/
const journalPath = (): string | undefined =>
  held === undefined ? undefined : `${dirOf(held.path)}/.ascend-docker-hook.journal.${own()}`

/** Writes this run's journal (synced, and its directory), before the first rename of a commit. */
export const writeJournal = (
  fs: FileSystem.FileSystem,
  steps: ReadonlyArray<Step>
): Effect.Effect<void, { readonly message: string }> => {
  const path = journalPath()
  if (path === undefined) return Effect.void
  return Effect.gen(function* () {
    yield* fs.writeFileString(path, JSON.stringify({ steps }), { flag: "w", mode: 0o600 })
    yield* Effect.scoped(Effect.flatMap(fs.open(path), (f) => f.sync))
    yield* syncDir(fs, dirOf(path))
  }).pipe(Effect.mapError((e) => ({ message: `${path}: ${e.message}` })))
}

/** Removes this run's journal: its commit is done, or undone. */
export const dropJournal = (fs: FileSystem.FileSystem): Effect.Effect<void> => {
  const path = journalPath()
  return path === undefined ? Effect.void : fs.remove(path, { force: true }).pipe(Effect.ignore)
}

/** Finishes the commits of dead runs whose journals are in `dir`, then removes the journals. */
const recover = (fs: FileSystem.FileSystem, dir: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    const names = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    for (const name of names) {
      const pid = JOURNAL.exec(name)?.[1]
      if (pid === undefined || pid === String(own())) continue
      const path = `${dir === "/" ? "" : dir}/${name}`
      const text = yield* fs.readFileString(path).pipe(Effect.orElseSucceed(() => ""))
      let steps: ReadonlyArray<Step> = []
      try {
        steps = (JSON.parse(text) as { steps: ReadonlyArray<Step> }).steps
      } catch {}
      const exists = (p: string) => fs.exists(p).pipe(Effect.orElseSucceed(() => false))
      for (const step of steps) {
        const staged = stagingName(step.path, step.remove ? "old" : "new", Number(pid))
        if (step.remove && (yield* exists(step.path)) && !(yield* exists(staged)))
          yield* fs.rename(step.path, staged).pipe(Effect.ignore)
        else if (!step.remove && (yield* exists(staged))) yield* fs.rename(staged, step.path).pipe(Effect.ignore)
      }
      for (const d of new Set(steps.map((s) => dirOf(s.path)))) yield* syncDir(fs, d).pipe(Effect.ignore)
      for (const step of steps.filter((s) => s.remove))
        yield* fs.remove(stagingName(step.path, "old", Number(pid)), { force: true }).pipe(Effect.ignore)
      yield* fs.remove(path, { force: true }).pipe(Effect.ignore)
    }
  })
