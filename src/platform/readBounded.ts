import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import type * as PlatformError from "effect/PlatformError"

/** What a bounded read found: the text, or that the file holds more than the limit. */
export type BoundedRead = { readonly _tag: "Text"; readonly text: string } | { readonly _tag: "TooLarge" }

const CHUNK = 64 * 1024

/**
 * Opens `path` and reads at most `limit` bytes, never more than limit+1 into memory whatever the file
 * claims or grows to. `verify` sees the opened file's own stat (fstat), so a check and the read are about
 * the same inode. Works on pipes (stdin), where size is unknown until EOF.
 */
export const readBounded = <E = never>(
  fs: FileSystem.FileSystem,
  path: string,
  limit: number,
  options: {
    readonly noFollow?: boolean
    readonly verify?: (info: FileSystem.File.Info) => Effect.Effect<void, E>
  } = {}
): Effect.Effect<BoundedRead, PlatformError.PlatformError | E> =>
  Effect.scoped(
    Effect.gen(function* () {
      const file = yield* fs.open(path, { flag: "r", noFollow: options.noFollow === true })
      const info = yield* file.stat
      if (options.verify !== undefined) yield* options.verify(info)
      // A regular file says its size: one read of size+1 bytes sees it all and its EOF (if it grew, the
      // loop goes on). A pipe says nothing: read in chunks.
      let want = info.type === "File" ? Math.min(Number(info.size) + 1, limit + 1) : CHUNK
      const chunks: Array<Uint8Array> = []
      let total = 0
      while (total <= limit) {
        const chunk = yield* file.readAlloc(Math.max(1, Math.min(want, limit + 1 - total)))
        want = CHUNK
        if (Option.isNone(chunk)) break
        chunks.push(chunk.value)
        total += chunk.value.length
      }
      if (total > limit) return { _tag: "TooLarge" } as const
      const bytes = chunks.length === 1 ? chunks[0]! : new Uint8Array(total)
      if (chunks.length > 1) {
        let at = 0
        for (const c of chunks) {
          bytes.set(c, at)
          at += c.length
        }
      }
      return { _tag: "Text", text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes) } as const
    })
  )
