import { nodeFs } from "./NodeFs.ts"

/** One run of the hook, as the optional run log records it. */
export interface RunRecord {
  readonly id?: string | undefined
  readonly devices?: ReadonlyArray<number> | undefined
  readonly mounts?: number | undefined
  readonly options?: ReadonlyArray<string> | undefined
  /** ASCEND_ variables set more than once with different values; the first was used. */
  readonly duplicates?: ReadonlyArray<string> | undefined
  /** `exec`, `dry-run`, `not-npu`, or `error:<Tag>:<reason>`. */
  readonly outcome: string
  readonly durationMs: number
}

/** Rotation: at 2 MiB the log moves to .1 (and .1 to .2); two old logs are kept. */
export const RUN_LOG_MAX_BYTES = 2 * 1024 * 1024
export const RUN_LOG_KEEP = 2

const word = (s: string) => (/^[A-Za-z0-9._:,/-]*$/.test(s) && s !== "" ? s : JSON.stringify(s))

/** One line: time, container id, devices, mounts count, options, outcome, duration. Values from the runtime are quoted. */
export const formatRunRecord = (r: RunRecord, now: Date): string =>
  [
    now.toISOString(),
    `id=${r.id === undefined ? "-" : word(r.id.slice(0, 128))}`,
    `devices=${r.devices === undefined || r.devices.length === 0 ? "-" : r.devices.join(",")}`,
    `mounts=${r.mounts ?? 0}`,
    `options=${r.options === undefined || r.options.length === 0 ? "-" : r.options.join(",")}`,
    `outcome=${word(r.outcome)}`,
    ...(r.duplicates === undefined || r.duplicates.length === 0
      ? []
      : [`duplicates=${r.duplicates.join(",")}(first used)`]),
    `duration_ms=${r.durationMs.toFixed(1)}`
  ].join(" ")

/** A rotation lock older than this was left by a killed run: the next one that sees it removes it. */
const STALE_LOCK_MS = 10_000

/**
 * Appends a line to the run log (mode 0640; its directory, if missing, made 0750), rotating first when it
 * would pass `maxBytes`. Safe under concurrency: the line is one O_APPEND write (never torn, never
 * between two rotations' files; a short write, as on a full disk, is completed or cut back off: see
 * writeWholeLine), and a rotation is done by whoever creates `<log>.lock` (O_EXCL) and
 * finds the log still the one it measured and still too big: two hooks starting at once never both
 * rotate, which would push `.1` over `.2` and lose it. A lock a killed run left goes after
 * STALE_LOCK_MS. Logging never fails the container: an error is returned, not thrown.
 */
export const appendRunLog = (file: string, line: string, maxBytes = RUN_LOG_MAX_BYTES): string | undefined => {
  const fs = nodeFs()
  const path = process.getBuiltinModule("node:path")
  const { O_RDWR, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants
  const open = () => fs.openSync(file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o640)
  try {
    // Only the log's own directory is made (not a chain: recursive mkdir spins forever under /proc).
    if (!fs.existsSync(path.dirname(file))) fs.mkdirSync(path.dirname(file), { mode: 0o750 })
    let fd = open()
    try {
      const measured = fs.fstatSync(fd)
      if (
        measured.size > 0 &&
        measured.size + line.length + 1 > maxBytes &&
        rotate(fs, file, measured, maxBytes, line)
      ) {
        fs.closeSync(fd)
        fd = open()
      }
      writeWholeLine(fs, fd, line)
    } finally {
      fs.closeSync(fd)
    }
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

/** Rotates under `<log>.lock` if the log is still the file `measured` and still too big; whether it did. */
const rotate = (
  fs: typeof import("node:fs"),
  file: string,
  measured: import("node:fs").Stats,
  maxBytes: number,
  line: string
): boolean => {
  const lock = `${file}.lock`
  let held: number
  try {
    held = fs.openSync(
      lock,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600
    )
  } catch {
    // Someone else is rotating (our line then goes to whichever file is the log); a stale lock goes.
    try {
      if (Date.now() - fs.lstatSync(lock).mtimeMs > STALE_LOCK_MS) fs.unlinkSync(lock)
    } catch {}
    return false
  }
  try {
    const now = fs.lstatSync(file)
    if (now.ino !== measured.ino || now.dev !== measured.dev || now.size + line.length + 1 <= maxBytes) return false
    for (let i = RUN_LOG_KEEP - 1; i >= 1; i--) {
      try {
        fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`)
      } catch {}
    }
    fs.renameSync(file, `${file}.1`)
    return true
  } finally {
    fs.closeSync(held)
    fs.unlinkSync(lock)
  }
}

/**
 * Writes `line` and its newline at the end of the log so that the log only ever holds whole lines. One
 * O_APPEND write normally; a short one (the disk filled up under it) is completed, and if the rest cannot
 * be written the part that was is cut back off (the log ends where it ended before). Should even that fail
 * (or a run be killed in between), the next run finds the log not ending in a newline and starts its line
 * on a new one, so a part line never has another glued to it.
 */
export const writeWholeLine = (fs: typeof import("node:fs"), fd: number, line: string): void => {
  const size = fs.fstatSync(fd).size
  const last = Buffer.alloc(1)
  const lead = size > 0 && fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a ? "\n" : ""
  const bytes = Buffer.from(`${lead}${line}\n`)
  let written = 0
  try {
    while (written < bytes.length) {
      const n = fs.writeSync(fd, bytes, written, bytes.length - written)
      if (n <= 0) throw new Error("the log's disk took no more bytes")
      written += n
    }
  } catch (e) {
    if (written > 0) cutBack(fs, fd, bytes.subarray(0, written))
    throw e
  }
}

/** Takes our part line back off the end of the log, if it is still the end (nobody appended since). */
const cutBack = (fs: typeof import("node:fs"), fd: number, part: Uint8Array): void => {
  try {
    const end = fs.fstatSync(fd).size
    const tail = Buffer.alloc(part.length)
    if (end < part.length || fs.readSync(fd, tail, 0, part.length, end - part.length) !== part.length) return
    if (tail.equals(part)) fs.ftruncateSync(fd, end - part.length)
  } catch {}
}
