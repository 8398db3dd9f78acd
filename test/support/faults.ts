import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * Fault injection from outside, with strace: a command of ours run once per point K of each syscall that
 * writes (`-e inject=S:error=EIO:when=K`, or `:signal=SIGKILL`), on a fresh copy of its fixture each time.
 * A point holds when every path under the fixture is, right after the fault, as it was before or as a
 * clean run leaves it (bytes, mode, owner, link target; names of ours being staged aside), a failure said
 * its cause in one line, and a follow-up run of the same command leaves exactly what a clean run leaves
 * (so nothing of the faulted run is left behind, whatever point it died at).
 */

/** The syscalls through which our writers change files (each swept on its own: strace counts per syscall). */
export const WRITE_SYSCALLS = [
  "openat",
  "write",
  "pwrite64",
  "ftruncate",
  "fchmod",
  "chmod",
  "fchown",
  "chown",
  "mkdir",
  "rename",
  "symlink",
  "link",
  "unlink",
  "rmdir",
  "fsync",
  "flock"
] as const

/** What one run of a scenario is: a fresh fixture and the command to run on it. */
export interface Fixture {
  /** The tree compared before, after and after a fault. */
  readonly root: string
  readonly argv: ReadonlyArray<string>
  readonly env: Record<string, string>
  readonly input?: string
  readonly cwd?: string
  /** Trees the comparison leaves out (files the command only reads, or a log checked by `check`). */
  readonly ignore?: (rel: string) => boolean
  /** A check of its own for a run's result (the run log's lines); a message when it fails. */
  readonly check?: () => string | undefined
}

export interface Scenario {
  readonly name: string
  readonly make: () => Fixture
  /** Removes a fixture made by `make`. */
  readonly clean: (f: Fixture) => void
}

/** Names that are ours in passing: staging names, the lock, the wrapper's temp config. */
export const OURS_IN_PASSING =
  /(^|\/)(\..+\.ascend-(new|old)(\.\d+)?|.+\.ascend-tmp|\.ascend-docker-hook\.lock(\.stale\.\d+)?|\.ascend-docker-hook\.journal\.\d+|config\.json\.ascend-[0-9a-z]+\.tmp)$/

const digest = (p: string, size: number): string => {
  const h = crypto.createHash("sha1")
  if (size <= 4 << 20) h.update(fs.readFileSync(p))
  else {
    // The 112 MB binary: its size and three 1 MiB samples (a torn copy differs in size or in a sample).
    const fd = fs.openSync(p, "r")
    const buf = Buffer.alloc(1 << 20)
    for (const at of [0, Math.floor(size / 2), size - buf.length])
      h.update(buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, at)))
    fs.closeSync(fd)
  }
  return h.digest("hex").slice(0, 16)
}

/** A backup's name without its time (`.ascend-backup-T`), numbered when a file has more than one. */
const normal = (rel: string, seen: Map<string, number>) => {
  const n = rel.replace(/\.ascend-backup-\d{8}T\d{6}Z(\.\d+)?$/, ".ascend-backup-T")
  if (n === rel) return rel
  const count = (seen.get(n) ?? 0) + 1
  seen.set(n, count)
  return count === 1 ? n : `${n}#${count}`
}

/** Every path under `root`: type, mode, owner, and bytes (as a digest) or link target. */
export const snapshot = (root: string, ignore: (rel: string) => boolean = () => false): Map<string, string> => {
  const out = new Map<string, string>()
  const seen = new Map<string, number>()
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name)
      const rel = path.relative(root, p)
      if (ignore(rel)) continue
      const s = fs.lstatSync(p)
      const owner = `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`
      const key = normal(rel, seen)
      if (s.isSymbolicLink()) out.set(key, `link ${fs.readlinkSync(p)}`)
      else if (s.isDirectory()) {
        out.set(key, `dir ${owner}`)
        walk(p)
      } else if (s.isFile()) out.set(key, `file ${owner} ${s.size} ${digest(p, s.size)}`)
      else out.set(key, `other ${owner}`)
    }
  }
  walk(root)
  return out
}

/** The paths whose state is neither `a`'s nor `b`'s (staging names and the lock left out). */
const neither = (now: Map<string, string>, a: Map<string, string>, b: Map<string, string>): Array<string> =>
  [...new Set([...now.keys(), ...a.keys(), ...b.keys()])]
    .filter((k) => !OURS_IN_PASSING.test(k))
    .filter((k) => now.get(k) !== a.get(k) && now.get(k) !== b.get(k))
    .map((k) => `${k}: ${now.get(k) ?? "missing"} (before ${a.get(k) ?? "missing"}, after ${b.get(k) ?? "missing"})`)

/** How two snapshots differ, path by path (empty when equal). */
export const differences = (got: Map<string, string>, want: Map<string, string>): Array<string> =>
  [...new Set([...got.keys(), ...want.keys()])]
    .filter((k) => got.get(k) !== want.get(k))
    .map((k) => `${k}: ${got.get(k) ?? "missing"}, expected ${want.get(k) ?? "missing"}`)

export const run = (f: Fixture, prefix: ReadonlyArray<string> = []) => {
  const argv = [...prefix, ...f.argv]
  return spawnSync(argv[0]!, argv.slice(1), {
    encoding: "utf8",
    env: f.env,
    input: f.input ?? "",
    cwd: f.cwd,
    timeout: 60_000
  })
}

/** One point a fault can be injected at: the K-th call of a syscall by the command's own process. */
export interface Point {
  readonly syscall: string
  readonly k: number
  /** The call as the clean run's trace shows it. */
  readonly call: string
}

/**
 * The points of a clean run: every call of WRITE_SYSCALLS the command's own process makes (until it execs
 * another program), but an openat
 * that only reads (O_RDONLY without O_CREAT: not a writer's call; strace cannot tell them apart when it
 * injects, so those K are skipped, not the syscall).
 */
export const pointsOf = (f: Fixture, dir: string): Array<Point> => {
  const out = path.join(dir, "trace.txt")
  const r = run(f, ["strace", "-f", "-qq", "-e", `trace=execve,${WRITE_SYSCALLS.join(",")}`, "-o", out, "--"])
  if (r.status !== 0) throw new Error(`clean run under strace failed: ${r.stderr}`)
  const lines = fs
    .readFileSync(out, "utf8")
    .split("\n")
    .filter((l) => l !== "")
  fs.rmSync(out)
  const main = lines[0]?.split(" ")[0]
  const seen: Record<string, number> = {}
  const points: Array<Point> = []
  for (const l of lines) {
    const m = /^(\d+)\s+([a-z0-9_]+)\((.*)$/.exec(l)
    if (m === null || m[1] !== main) continue
    // Past an execve the process is another program (the CLI the hook runs, runc behind the wrapper).
    if (m[2] === "execve") {
      if (points.length > 0 || Object.keys(seen).length > 0) break
      continue
    }
    const k = (seen[m[2]!] ?? 0) + 1
    seen[m[2]!] = k
    if (m[2] === "openat" && !/O_WRONLY|O_RDWR|O_CREAT/.test(m[3]!)) continue
    points.push({ syscall: m[2]!, k, call: `${m[2]}(${m[3]!.slice(0, 120)}` })
  }
  return points
}

export interface Outcome {
  readonly scenario: string
  readonly injected: number
  readonly held: number
  readonly failures: ReadonlyArray<string>
}

/** The reasons strace's injected errors show as, in our one-line messages. */
const REASON: Record<string, RegExp> = { EIO: /input\/output error/i }

/**
 * Sweeps `scenario`: a clean run and a second one (idempotent: the same tree), then each point `pick`
 * keeps, with each fault. Returns the counts and, per point that did not hold, why.
 */
export const sweep = (
  scenario: Scenario,
  work: string,
  pick: (p: Point, index: number) => boolean = () => true,
  faults: ReadonlyArray<"EIO" | "SIGKILL"> = ["EIO", "SIGKILL"]
): Outcome => {
  const failures: Array<string> = []
  const clean = scenario.make()
  const before = snapshot(clean.root, clean.ignore)
  const first = run(clean)
  if (first.status !== 0) throw new Error(`${scenario.name}: clean run failed: ${first.stderr}`)
  const after = snapshot(clean.root, clean.ignore)
  const again = run(clean)
  const twice = differences(snapshot(clean.root, clean.ignore), after)
  const idempotent = again.status === 0 && twice.length === 0 && clean.check?.() === undefined
  scenario.clean(clean)
  const counting = scenario.make()
  const points = pointsOf(counting, work)
  scenario.clean(counting)

  let injected = 0
  points.forEach((p, i) => {
    if (!pick(p, i)) return
    for (const fault of faults) {
      injected++
      const why = point(scenario, p, fault, before, after)
      if (why !== undefined) failures.push(`${p.syscall}#${p.k} ${fault} [${p.call}]: ${why}`)
    }
  })
  const held = injected - failures.length
  if (!idempotent) failures.push(`run twice is not run once: ${again.stderr}${twice.join("; ")}`)
  return { scenario: scenario.name, injected, held, failures }
}

/** One point: fault injected, the tree judged, a follow-up run, the tree judged again; why it did not hold. */
const point = (
  scenario: Scenario,
  { syscall, k }: Point,
  fault: "EIO" | "SIGKILL",
  before: Map<string, string>,
  after: Map<string, string>
): string | undefined => {
  const f = scenario.make()
  try {
    const how = fault === "EIO" ? "error=EIO" : "signal=SIGKILL"
    const r = run(f, [
      "strace",
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-e",
      `trace=${syscall}`,
      "-e",
      `inject=${syscall}:${how}:when=${k}`,
      "--"
    ])
    const mid = snapshot(f.root, f.ignore)
    const torn = neither(mid, before, after)
    if (torn.length > 0) return `neither before nor after: ${torn.join("; ")}`
    // An fsync that failed leaves data that may not be on disk: the run must fail (and undo), not say done.
    if (fault === "EIO" && syscall === "fsync" && r.status === 0) return "an fsync error was ignored (exit 0)"
    if (fault === "EIO" && r.status !== 0) {
      const lines = r.stderr.split("\n").filter((l) => l !== "")
      if (lines.length !== 1 || !REASON.EIO!.test(lines[0]!))
        return `exit ${r.status} without one line naming the cause: ${JSON.stringify(r.stderr.slice(0, 400))}`
    }
    const own = f.check?.()
    if (own !== undefined) return own
    // Exactly the tree before (nothing of ours either) or after: the follow-up is a clean run or a second
    // one, both judged once by the sweep itself; only a tree in between needs its own follow-up.
    if (f.check === undefined && (differences(mid, before).length === 0 || differences(mid, after).length === 0))
      return undefined
    const next = run(f)
    if (next.status !== 0) return `the follow-up run failed: ${next.stderr.trim()}`
    const left = differences(snapshot(f.root, f.ignore), after)
    if (left.length > 0) return `after a follow-up run: ${left.join("; ")}`
    return f.check?.()
  } finally {
    scenario.clean(f)
  }
}
