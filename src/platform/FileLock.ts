import { reasonOf } from "./Errno.ts"
import { nodeFs } from "./NodeFs.ts"

/**
 * An exclusive lock on a file, released by the kernel when its holder dies (SIGKILL included): flock(2)
 * on the file, through bun:ffi to the C library in the binary (node:fs has no flock). The lock file is
 * removed on release; a waiter that then gets the lock on the removed file sees the path is no longer
 * its file and opens it again, so two never hold it at once. The file holds the holder's pid, for the
 * message a waiter gives up with.
 *
 * Where there is no bun:ffi (the Node bundle, a C library without libc.so.6) the lock is the file itself,
 * made with O_EXCL: a file whose holder is no longer alive (pid and start time, so a reused pid is not
 * taken for it) was left by a killed holder and is taken over (renamed aside under a name of the taker's).
 * Both kinds honour each other: a flock holder that finds a live pid-file holder in the file leaves it.
 */

type Flock = (fd: number, op: number) => number
const LOCK_EX = 2
const LOCK_NB = 4

let flockFn: Flock | null | undefined
const flock = (): Flock | null => {
  if (flockFn !== undefined) return flockFn
  try {
    // Not a literal: the Node bundle's bundler must not try to resolve it; Bun's require knows it.
    const ffi = require(["bun", "ffi"].join(":")) as {
      dlopen: (lib: string, s: object) => { symbols: { flock: Flock } }
    }
    flockFn = ffi.dlopen("libc.so.6", { flock: { args: ["i32", "i32"], returns: "i32" } }).symbols.flock
  } catch {
    flockFn = null
  }
  return flockFn
}

/** When process `pid` started (clock ticks since boot, /proc/PID/stat), or undefined if there is none. */
const startOf = (fs: typeof import("node:fs"), pid: number): string | undefined => {
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  } catch {
    return undefined
  }
}

/** `<kind> <pid> <start>`: who holds the lock, so that a pid reused since its holder died is not taken for it. */
const stamp = (fs: typeof import("node:fs"), kind: Held["kind"]) =>
  `${kind} ${process.pid} ${startOf(fs, process.pid) ?? "-"}\n`

interface Holder {
  readonly kind: string
  readonly pid: number
  readonly alive: boolean
}

/** Who the file names as holder, and whether that very process is still alive. */
const holderIn = (fs: typeof import("node:fs"), path: string): Holder | undefined => {
  let text: string
  try {
    text = fs.readFileSync(path, "utf8")
  } catch {
    return undefined
  }
  const [kind = "", pidText = "", start = ""] = text.trim().split(" ")
  const pid = Number.parseInt(pidText, 10)
  if (!Number.isInteger(pid)) return undefined
  const now = startOf(fs, pid)
  return { kind, pid, alive: now !== undefined && (start === "-" || now === start) }
}

/** A lock held: `release` removes the file and lets it go (idempotent). */
export interface Held {
  readonly path: string
  readonly kind: "flock" | "pidfile"
  readonly release: () => void
}

/** One attempt with flock: the lock, "busy" (someone holds it), or the error opening the file. */
const tryFlock = (fs: typeof import("node:fs"), path: string, f: Flock): Held | "busy" => {
  const { O_RDWR, O_CREAT, O_NOFOLLOW } = fs.constants
  const fd = fs.openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
  let ok = false
  try {
    if (f(fd, LOCK_EX | LOCK_NB) !== 0) return "busy"
    const mine = fs.fstatSync(fd)
    let now: import("node:fs").Stats | undefined
    try {
      now = fs.lstatSync(path)
    } catch {}
    // Released and removed by its last holder after we opened it: ours is a file nobody else will lock.
    if (now === undefined || now.ino !== mine.ino || now.dev !== mine.dev) return "busy"
    // A pid-file holder (the Node bundle) does not flock: its live pid in the file is its lock.
    const other = holderIn(fs, path)
    if (other?.kind === "pidfile" && other.alive && other.pid !== process.pid) return "busy"
    fs.ftruncateSync(fd, 0)
    fs.writeSync(fd, stamp(fs, "flock"), 0)
    ok = true
    let done = false
    return {
      path,
      kind: "flock",
      release: () => {
        if (done) return
        done = true
        try {
          fs.unlinkSync(path)
        } catch {}
        fs.closeSync(fd)
      }
    }
  } finally {
    if (!ok) fs.closeSync(fd)
  }
}

/** One attempt with an O_EXCL pid file; a file whose pid is dead is renamed aside and removed. */
const tryPidFile = (fs: typeof import("node:fs"), path: string): Held | "busy" => {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants
  let fd: number
  try {
    fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    const holder = holderIn(fs, path)
    // An empty file is one being written this very moment, unless it is old (its writer died at once).
    const young = Date.now() - (fs.lstatSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 5_000
    if (holder?.alive === true || (holder === undefined && young)) return "busy"
    const aside = `${path}.stale.${process.pid}`
    try {
      fs.renameSync(path, aside)
      // Someone else took it over and made a fresh one between our read and the rename: put it back.
      if (holderIn(fs, aside)?.alive === true) fs.linkSync(aside, path)
      fs.unlinkSync(aside)
    } catch {}
    return "busy"
  }
  try {
    fs.writeSync(fd, stamp(fs, "pidfile"))
  } finally {
    fs.closeSync(fd)
  }
  let done = false
  return {
    path,
    kind: "pidfile",
    release: () => {
      if (done) return
      done = true
      if (holderIn(fs, path)?.pid === process.pid) fs.rmSync(path, { force: true })
    }
  }
}

/**
 * Takes the lock at `path`, waiting up to `waitMs` for whoever holds it; the lock, or the one line why not
 * (who holds it, or why the file cannot be opened).
 */
export const takeLock = (path: string, waitMs: number): Held | string => {
  const fs = nodeFs()
  const deadline = Date.now() + waitMs
  const f = flock()
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    let got: Held | "busy"
    try {
      got = f === null ? tryPidFile(fs, path) : tryFlock(fs, path, f)
    } catch (e) {
      return `cannot take the lock ${path}: ${reasonOf(e)}`
    }
    if (got !== "busy") return got
    if (Date.now() >= deadline) {
      const pid = holderIn(fs, path)?.pid
      return `another install or uninstall${pid === undefined ? "" : ` (pid ${pid})`} holds ${path}; waited ${Math.round(waitMs / 1000)} s, try again when it is done`
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause)
  }
}
