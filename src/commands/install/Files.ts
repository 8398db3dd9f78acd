import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"

/**
 * What the installer knows of a path before it changes anything, read through FileSystem (so its tests run
 * on MemoryFileSystem trees with modes, owners and links), and the one kind of change it makes.
 */

export type Current =
  | { readonly kind: "missing" }
  | {
      readonly kind: "file"
      readonly bytes: Uint8Array
      readonly text: string
      readonly mode: number
      readonly uid: number
      readonly gid: number
    }
  | { readonly kind: "link"; readonly target: string }
  | { readonly kind: "other"; readonly type: string }

/** Reads what is at `path` (not following a final link). */
export const current = (fs: FileSystem.FileSystem, path: string): Effect.Effect<Current, InstallError> =>
  Effect.gen(function* () {
    const info = yield* Effect.option(fs.lstat(path))
    if (Option.isNone(info)) return { kind: "missing" } as const
    const i = info.value
    if (i.type === "SymbolicLink") return { kind: "link", target: yield* orFail(fs.readLink(path), path) } as const
    if (i.type !== "File") return { kind: "other", type: i.type } as const
    const bytes = yield* orFail(fs.readFile(path), path)
    // The text only when asked: decoding the 112 MB binary install places takes over a second each time.
    let text: string | undefined
    return {
      kind: "file",
      bytes,
      get text() {
        text ??= new TextDecoder().decode(bytes)
        return text
      },
      mode: i.mode & 0o7777,
      uid: Option.getOrElse(i.uid, () => 0),
      gid: Option.getOrElse(i.gid, () => 0)
    } as const
  })

export const textOf = (c: Current): string | undefined => (c.kind === "file" ? c.text : undefined)

/** The one error of install/uninstall: a line for stderr. */
export class InstallError {
  readonly _tag = "InstallError"
  constructor(readonly message: string) {}
}

export const orFail = <A, E extends { readonly message: string }>(
  effect: Effect.Effect<A, E>,
  path: string
): Effect.Effect<A, InstallError> =>
  Effect.mapError(effect, (e) => new InstallError(`${path}: ${e.message.split("\n")[0]}`))

/**
 * One change to one path. `write` and `link` replace what is there (or create it), `remove` deletes it,
 * `unchanged` and `keep` are reported and not touched. A written file takes `mode`/`uid`/`gid`.
 */
export type Change =
  | {
      readonly action: "create" | "update"
      readonly path: string
      readonly why: string
      readonly content: Uint8Array
      readonly mode: number
      readonly uid: number
      readonly gid: number
    }
  | { readonly action: "create" | "update"; readonly path: string; readonly why: string; readonly link: string }
  | { readonly action: "remove" | "unchanged" | "keep"; readonly path: string; readonly why: string }

const encoder = new TextEncoder()

/** A file change from the text wanted at `path` and what is there now; `undefined` text removes it. */
export const fileChange = (
  path: string,
  now: Current,
  next: string | undefined,
  why: string,
  owner: { readonly mode: number; readonly uid: number; readonly gid: number }
): Change | undefined => {
  if (next === undefined) return now.kind === "missing" ? undefined : { action: "remove", path, why }
  if (now.kind === "file" && now.text === next) return { action: "unchanged", path, why }
  return {
    action: now.kind === "missing" ? "create" : "update",
    path,
    why,
    content: encoder.encode(next),
    ...(now.kind === "file" ? { mode: now.mode, uid: now.uid, gid: now.gid } : owner)
  }
}

/** A file's owner and mode, for a new file that must be no more readable than `like` (or `fallback`). */
export const ownerLike = (like: Current, fallback: number) =>
  like.kind === "file" ? { mode: like.mode & 0o666, uid: like.uid, gid: like.gid } : { mode: fallback, uid: 0, gid: 0 }

/**
 * `<path>.ascend-backup-<UTC time>`: the backups install takes, one per install that changes a file; a
 * second one within the same second gets `.1`, `.2`, ... (never overwriting the first: it may be the only
 * copy of the admin's original).
 */
export const BACKUP_INFIX = ".ascend-backup-"
export const backupName = (path: string, now: Date, n = 0): string =>
  `${path}${BACKUP_INFIX}${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}${n === 0 ? "" : `.${n}`}`

/** A backup name for `path` at `now` that nothing has yet. */
export const freshBackupName = (fs: FileSystem.FileSystem, path: string, now: Date): Effect.Effect<string> =>
  Effect.gen(function* () {
    for (let n = 0; ; n++) {
      const name = backupName(path, now, n)
      if (!(yield* fs.exists(name).pipe(Effect.orElseSucceed(() => false)))) return name
    }
  })

/** The backups of `path`, newest first (the names sort by time). */
export const backupsOf = (fs: FileSystem.FileSystem, path: string): Effect.Effect<ReadonlyArray<string>> => {
  const slash = path.lastIndexOf("/")
  const dir = path.slice(0, slash) || "/"
  const base = path.slice(slash + 1)
  return Effect.map(
    Effect.orElseSucceed(fs.readDirectory(dir), () => [] as Array<string>),
    (names) =>
      names
        .filter((n) => n.startsWith(`${base}${BACKUP_INFIX}`))
        .sort()
        .reverse()
        .map((n) => `${dir === "/" ? "" : dir}/${n}`)
  )
}

/** A backup (at `name`) of a file now `now`: its bytes, its owner, no group or other access (the owner's bits kept). */
export const backupChange = (name: string, now: Current, why: string): Change | undefined =>
  now.kind === "file"
    ? {
        action: "create",
        path: name,
        why,
        content: now.bytes,
        mode: now.mode & 0o700,
        uid: now.uid,
        gid: now.gid
      }
    : undefined
