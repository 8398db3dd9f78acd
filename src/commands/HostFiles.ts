import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"

/**
 * The admin commands' reads and writes of the host, as plain synchronous calls over Effect's FileSystem:
 * doctor and cdi are long lists of "is this there, what mode, what does it say", clearest as straight-line
 * code, while their file access still goes through FileSystem, so their tests run on MemoryFileSystem
 * trees as well as on disk (SyncFileSystem). A failed call throws the FileSystem's error.
 */
export interface HostStat {
  readonly type: FileSystem.File.Type
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  readonly isFile: () => boolean
  readonly isDirectory: () => boolean
  readonly isSymbolicLink: () => boolean
  readonly isCharacterDevice: () => boolean
}

export interface HostFiles {
  readonly fs: FileSystem.FileSystem
  readonly exists: (path: string) => boolean
  readonly stat: (path: string) => HostStat
  readonly lstat: (path: string) => HostStat
  readonly readText: (path: string) => string
  readonly readBytes: (path: string) => Uint8Array
  readonly readDirectory: (path: string) => ReadonlyArray<string>
  /** A directory's names, none when it is missing or unreadable. */
  readonly namesIn: (path: string) => ReadonlyArray<string>
  readonly realPath: (path: string) => string
  /** Writes `text` atomically: a temp file beside it with `mode`, renamed over. Parent dirs made 0755. */
  readonly writeAtomic: (path: string, text: string, mode: number) => void
}

const toStat = (i: FileSystem.File.Info): HostStat => ({
  type: i.type,
  mode: i.mode,
  uid: Option.getOrElse(i.uid, () => -1),
  gid: Option.getOrElse(i.gid, () => -1),
  size: Number(i.size),
  isFile: () => i.type === "File",
  isDirectory: () => i.type === "Directory",
  isSymbolicLink: () => i.type === "SymbolicLink",
  isCharacterDevice: () => i.type === "CharacterDevice"
})

export const hostFiles = (fs: FileSystem.FileSystem): HostFiles => {
  const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect)
  return {
    fs,
    exists: (p) => run(fs.exists(p).pipe(Effect.orElseSucceed(() => false))),
    stat: (p) => toStat(run(fs.stat(p))),
    lstat: (p) => toStat(run(fs.lstat(p))),
    readText: (p) => run(fs.readFileString(p)),
    readBytes: (p) => run(fs.readFile(p)),
    readDirectory: (p) => run(fs.readDirectory(p)),
    namesIn: (p) => run(fs.readDirectory(p).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))),
    realPath: (p) => run(fs.realPath(p)),
    writeAtomic: (p, text, mode) =>
      run(
        Effect.gen(function* () {
          const dir = p.slice(0, p.lastIndexOf("/")) || "/"
          yield* fs.makeDirectory(dir, { recursive: true, mode: 0o755 })
          const tmp = `${p}.ascend-tmp`
          yield* fs.remove(tmp, { force: true }).pipe(Effect.ignore)
          yield* fs.writeFileString(tmp, text, { mode })
          yield* fs.chmod(tmp, mode)
          yield* fs.rename(tmp, p)
        })
      )
  }
}
