/**
 * One read(2) of `fd` into `buffer` that waits out EAGAIN: a runtime may hand a hook its stdin in
 * non-blocking mode, with the state written in more than one piece. Plain node:fs, no Effect: the
 * Effect-free hook steps (wrapper/PlannedHook.ts) read the state through it as SyncFileSystem does.
 * `at`: the file position, or null for where the descriptor is (a pipe).
 */
export const readRetrying = (
  fs: typeof import("node:fs"),
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  at: bigint | number | null
): number => {
  for (;;) {
    try {
      return fs.readSync(fd, buffer, offset, length, at)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
    }
  }
}
