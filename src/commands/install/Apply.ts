import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import { type Change, type Current, current, InstallError, orFail } from "./Files.ts"
import { dropJournal, removeLeftovers, stagingName, syncDir, writeJournal } from "./Lock.ts"

/**
 * Makes a plan's changes all or nothing. First every new file is written beside its target under a
 * temporary name, with its mode and owner, and synced; a failure there removes the temporaries (and any
 * directory made for them) and nothing else was touched. Then each target is replaced by a rename (a
 * reader sees the old file or the new one, never a part), and a file to remove is first renamed aside. A
 * failure there puts back, in reverse, what was already done: old contents rewritten with their mode and
 * owner, new files removed, removed ones renamed back; then the temporaries and the directories made go.
 * The directories are synced before the set-aside files are deleted: a sync that fails undoes it all too
 * (the data may not be on disk). Temporaries are `.NAME.ascend-new.<pid>` / `.ascend-old.<pid>`
 * (Lock.stagingName): a run killed anywhere leaves only names the next one removes (removeLeftovers, in
 * the directories of the plan, before it stages anything), and one killed during the commit leaves its
 * journal, by which the next run finishes that commit first (Lock.ts).
 */

const dirOf = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/"
const temp = stagingName

/** Makes `dir` and its missing parents, outermost first, each added to `made` as soon as it is there. */
const makeDirs = (fs: FileSystem.FileSystem, dir: string, made: Array<string>): Effect.Effect<void, InstallError> =>
  Effect.gen(function* () {
    const missing: Array<string> = []
    for (let d = dir; d !== "/" && d !== ""; d = dirOf(d)) {
      if (yield* fs.exists(d).pipe(Effect.orElseSucceed(() => false))) break
      missing.unshift(d)
    }
    for (const d of missing) {
      yield* orFail(fs.makeDirectory(d, { mode: 0o755 }), d)
      made.push(d)
    }
  })

/** Syncs a file; a failure fails the install (its data may not be on disk). */
const syncPath = (fs: FileSystem.FileSystem, p: string) =>
  orFail(Effect.scoped(Effect.flatMap(fs.open(p), (f) => f.sync)), p)

/**
 * Writes `content` at `path` (a temporary of ours) with the mode and owner asked, synced. A `copyFrom`
 * (the binary) is copied by the kernel (copy_file_range), never held in memory.
 */
const writeFile = (
  fs: FileSystem.FileSystem,
  path: string,
  content: Uint8Array | { readonly copyFrom: string },
  owner: { readonly mode: number; readonly uid: number; readonly gid: number }
) =>
  Effect.gen(function* () {
    yield* fs.remove(path, { force: true }).pipe(Effect.ignore)
    yield* orFail(
      content instanceof Uint8Array
        ? fs.writeFile(path, content, { mode: owner.mode })
        : fs.copyFile(content.copyFrom, path),
      path
    )
    yield* orFail(fs.chmod(path, owner.mode), path)
    const info = yield* orFail(fs.stat(path), path)
    const uid = Option.getOrElse(info.uid, () => -1)
    const gid = Option.getOrElse(info.gid, () => -1)
    if (uid !== owner.uid || gid !== owner.gid) yield* orFail(fs.chown(path, owner.uid, owner.gid), path)
    yield* syncPath(fs, path)
  })

const stage = (fs: FileSystem.FileSystem, c: Change) =>
  Effect.gen(function* () {
    if ("link" in c) {
      yield* fs.remove(temp(c.path, "new"), { force: true }).pipe(Effect.ignore)
      yield* orFail(fs.symlink(c.link, temp(c.path, "new")), c.path)
    } else if ("content" in c) yield* writeFile(fs, temp(c.path, "new"), c.content, c)
    else if ("copyFrom" in c) yield* writeFile(fs, temp(c.path, "new"), c, c)
  })

/** Puts back what was at `path` before (its bytes, mode and owner; its link; or nothing). */
const restore = (fs: FileSystem.FileSystem, path: string, before: Current) =>
  Effect.gen(function* () {
    if (before.kind === "missing") yield* fs.remove(path, { force: true }).pipe(Effect.ignore)
    else if (before.kind === "file") {
      yield* writeFile(fs, temp(path, "new"), before.bytes, before)
      yield* orFail(fs.rename(temp(path, "new"), path), path)
    } else if (before.kind === "link") {
      yield* fs.remove(temp(path, "new"), { force: true }).pipe(Effect.ignore)
      yield* orFail(fs.symlink(before.target, temp(path, "new")), path)
      yield* orFail(fs.rename(temp(path, "new"), path), path)
    }
  })

export const apply = (fs: FileSystem.FileSystem, changes: ReadonlyArray<Change>): Effect.Effect<void, InstallError> =>
  Effect.gen(function* () {
    const writes = changes.filter((c) => c.action === "create" || c.action === "update")
    const removes = changes.filter((c) => c.action === "remove")
    const before = new Map<string, Current>()
    for (const c of [...writes, ...removes]) before.set(c.path, yield* current(fs, c.path))
    yield* removeLeftovers(fs, [...new Set(changes.map((c) => dirOf(c.path)))])

    // 1. Stage.
    const madeDirs: Array<string> = []
    const staged: Array<string> = []
    const unstage = Effect.gen(function* () {
      for (const p of staged) yield* fs.remove(temp(p, "new"), { force: true }).pipe(Effect.ignore)
      // Only while empty (nothing but ours was ever in them); `remove` takes a directory only as recursive.
      for (const d of [...madeDirs].reverse()) {
        const left = yield* fs.readDirectory(d).pipe(Effect.orElseSucceed(() => ["?"]))
        if (left.length === 0) yield* fs.remove(d, { recursive: true }).pipe(Effect.ignore)
      }
    })
    yield* Effect.gen(function* () {
      for (const c of writes) {
        yield* makeDirs(fs, dirOf(c.path), madeDirs)
        staged.push(c.path)
        yield* stage(fs, c)
      }
      // All staged and synced: the commit's renames go to the journal (Lock.ts), which a next run finishes.
      const steps = [...writes, ...removes].map((c) => ({ path: c.path, remove: c.action === "remove" }))
      yield* orFail(writeJournal(fs, steps), "the commit journal")
    }).pipe(Effect.tapError(() => Effect.andThen(dropJournal(fs), unstage)))

    // 2. Commit, in order; undo what was done if a step fails.
    const done: Array<{ readonly path: string; readonly removed: boolean }> = []
    const undo = Effect.gen(function* () {
      // The journal goes first: a run killed while undoing leaves files each before or after, not a commit to finish.
      yield* dropJournal(fs)
      for (const d of [...done].reverse()) {
        if (d.removed) yield* fs.rename(temp(d.path, "old"), d.path).pipe(Effect.ignore)
        else yield* restore(fs, d.path, before.get(d.path)!).pipe(Effect.ignore)
      }
      yield* unstage
    })
    yield* Effect.gen(function* () {
      for (const c of [...writes, ...removes]) {
        // A file too large to hold (the binary) is set aside like a removed one, so undo can rename it back.
        if (c.action === "remove" || before.get(c.path)?.kind === "large") {
          yield* orFail(fs.rename(c.path, temp(c.path, "old")), c.path)
          done.push({ path: c.path, removed: true })
        }
        if (c.action !== "remove") {
          yield* orFail(fs.rename(temp(c.path, "new"), c.path), c.path)
          done.push({ path: c.path, removed: false })
        }
      }
      // Directories synced so the renames are on disk, before anything set aside is gone.
      for (const d of new Set([...writes, ...removes].map((c) => dirOf(c.path)))) yield* orFail(syncDir(fs, d), d)
    }).pipe(Effect.tapError(() => undo))

    // 3. Done: what was set aside (removed files, a large file replaced) goes.
    for (const c of changes)
      if (c.action === "remove" || before.get(c.path)?.kind === "large")
        yield* fs.remove(temp(c.path, "old"), { force: true }).pipe(Effect.ignore)
    yield* dropJournal(fs)
  })

export { InstallError }
