// Start-up benchmark: wall time and peak RSS, medians of interleaved runs, each run with an empty
// environment, measured by a small C program (wait4's rusage, so a hook that execs its CLI is measured
// whole and nothing of a big parent is counted). Baselines run alongside in the same rounds: `node -e 0`,
// an empty Bun-compiled program, the Go seed (its config dir compiled in, the CLI next to it, exactly as
// installed) and `runc --version`. Prints figures and ratios only; nothing here asserts a time (the
// machines are shared and noisy).
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { buildSeed, bunCompiled } from "./bench/common.mjs"

const root = path.resolve(import.meta.dirname, "..")
const runs = Number(process.env.BENCH_RUNS ?? 30)
if (!Number.isSafeInteger(runs) || runs <= 0) throw new Error(`BENCH_RUNS=${process.env.BENCH_RUNS} is not a count`)
const node = process.execPath
const work = path.join(
  fs.existsSync(path.join(os.homedir(), ".cache")) ? path.join(os.homedir(), ".cache") : "/var/lib",
  "ascend-docker-hook-bench"
)
fs.rmSync(work, { recursive: true, force: true })
fs.mkdirSync(work, { recursive: true, mode: 0o755 })
fs.chmodSync(work, 0o755)

const gcc = (src, out) => execFileSync("gcc", ["-O2", "-o", out, src])
const measure = path.join(work, "measure")
gcc(path.join(root, "scripts/bench/measure.c"), measure)
const bin = path.join(work, "bin")
fs.mkdirSync(bin, { mode: 0o755 })
gcc(path.join(root, "scripts/bench/true-cli.c"), path.join(bin, "ascend-docker-cli"))
const recorder = path.join(work, "recording-cli")
gcc(path.join(root, "test/support/recording-cli.c"), recorder)

// Host: 1000 files and dirs to mount, mount lists, three bundles.
const data = path.join(work, "data")
const conf = path.join(work, "conf")
fs.mkdirSync(conf, { recursive: true, mode: 0o755 })
const files = []
const dirs = []
for (let i = 0; i < 500; i++) {
  fs.mkdirSync(path.join(data, `d${i}`), { recursive: true, mode: 0o755 })
  fs.writeFileSync(path.join(data, `f${i}`), "")
  files.push(path.join(data, `f${i}`))
  dirs.push(path.join(data, `d${i}`))
}
const mixed = (a, n) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? files : dirs)[a + Math.floor(i / 2)])
fs.writeFileSync(path.join(conf, "a.list"), `${mixed(0, 20).join("\n")}\n`)
fs.writeFileSync(path.join(conf, "b.list"), `# second list\n${mixed(10, 20).join("\n")}\n`)
fs.writeFileSync(path.join(conf, "big.list"), `${[...files, ...dirs].join("\n")}\n`)

const bundle = (name, env) => {
  const dir = path.join(work, "bundles", name)
  fs.mkdirSync(path.join(dir, "rootfs"), { recursive: true })
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify({ process: { env: ["PATH=/bin", ...env] }, root: { path: "rootfs" } })
  )
  const state = path.join(work, `${name}.state.json`)
  fs.writeFileSync(
    state,
    JSON.stringify({ ociVersion: "1.0.2", id: name, status: "creating", pid: process.pid, bundle: dir })
  )
  return state
}
const noop = bundle("noop", [])
const full = bundle("full", ["ASCEND_VISIBLE_DEVICES=0-7", "ASCEND_RUNTIME_MOUNTS=a,b", "ASCEND_RUNTIME_OPTIONS=NODRV"])
const large = bundle("large", ["ASCEND_VISIBLE_DEVICES=0-1023", "ASCEND_RUNTIME_MOUNTS=big"])
const empty = path.join(work, "empty")
fs.writeFileSync(empty, "")

// The binary as installed: a copy next to the CLI, and the wrapper as a link named ascend-docker-runtime.
const binary = path.join(bin, "ascend-docker-hook")
fs.copyFileSync(path.join(root, "dist/ascend-docker-hook"), binary)
fs.chmodSync(binary, 0o755)
fs.symlinkSync("ascend-docker-hook", path.join(bin, "ascend-docker-runtime"))

// The exec'd CLI must see blocking stdio: checked once per build with the recording CLI.
const record = path.join(work, "record.json")
const blocking = (cmd) => {
  fs.rmSync(record, { force: true })
  const probe = spawnSync(cmd[0], [...cmd.slice(1), "--config-dir", conf, "--cli", recorder], {
    input: fs.readFileSync(full),
    env: { ADH_RECORD: record }
  })
  const flags = probe.status === 0 && fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, "utf8")).nonblock : []
  return { ok: flags.length === 3 && flags.every((x) => x === 0), flags }
}
const checks = {
  binary: blocking([binary]),
  bundle: blocking([node, path.join(root, "dist/ascend-docker-hook.cjs")])
}

// An empty program built exactly as the hook is: Bun's own floor.
const bunEmpty = bunCompiled(bin, "bun-empty", "")

const hookBundle = [
  node,
  path.join(root, "dist/ascend-docker-hook.cjs"),
  "--config-dir",
  conf,
  "--cli",
  path.join(bin, "ascend-docker-cli")
]
const rows = [
  { name: "node -e 0", cmd: [node, "-e", "0"], stdin: empty },
  { name: "empty Bun-compiled program", cmd: [bunEmpty], stdin: empty },
  { name: "binary: no-op (no NPU asked for)", cmd: [binary, "--config-dir", conf], stdin: noop },
  { name: "binary: full (8 NPUs, 2x20 entries, exec)", cmd: [binary, "--config-dir", conf], stdin: full },
  { name: "binary: large (1024 NPUs, 1000 entries)", cmd: [binary, "--config-dir", conf], stdin: large },
  { name: "bundle: no-op", cmd: hookBundle, stdin: noop },
  { name: "bundle: full", cmd: hookBundle, stdin: full }
]

// The Go seed: a copy whose compiled-in config dir is this bench's, next to the same CLI.
const seedMissing = buildSeed(work, conf, path.join(bin, "seed-hook"))
const seed = seedMissing === undefined
if (seed) {
  rows.push(
    { name: "Go seed: no-op", cmd: [path.join(bin, "seed-hook")], stdin: noop },
    { name: "Go seed: full", cmd: [path.join(bin, "seed-hook")], stdin: full }
  )
} else console.log(`Go seed rows left out: ${seedMissing}`)

// The wrapper's pass-through: everything but create/run goes straight to runc.
const runc = ["/usr/sbin/runc", "/usr/bin/runc"].find((p) => fs.existsSync(p))
if (runc !== undefined) {
  rows.push(
    { name: "runc --version", cmd: [runc, "--version"], stdin: empty },
    { name: "wrapper (binary) --version", cmd: [path.join(bin, "ascend-docker-runtime"), "--version"], stdin: empty },
    {
      name: "wrapper (bundle) --version",
      cmd: [node, path.join(root, "dist/ascend-docker-runtime.cjs"), "--version"],
      stdin: empty
    }
  )
} else console.log("wrapper rows left out: no runc")

for (const row of rows) row.samples = []
for (let round = 0; round < runs + 2; round++) {
  for (const row of rows) {
    const out = execFileSync(measure, ["1", row.stdin, ...row.cmd], { encoding: "utf8" })
    const [ns, kb, status] = out.trim().split(" ").map(Number)
    if (status !== 0) throw new Error(`${row.name} exited ${status}`)
    if (round >= 2) row.samples.push({ ms: ns / 1e6, mib: kb / 1024 })
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const stat = (name) => {
  const row = rows.find((r) => r.name === name)
  return row && { ms: median(row.samples.map((s) => s.ms)), mib: median(row.samples.map((s) => s.mib)) }
}
const floor = stat("node -e 0")
const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)
console.log(`\nascend-docker-hook start-up, ${runs} interleaved runs each, empty environment (${os.arch()})`)
console.log(
  `Node ${process.version}; exec'd CLI sees blocking stdio: binary ${checks.binary.ok ? "yes" : "NO"}, bundle ${checks.bundle.ok ? "yes" : "NO"}\n`
)
console.log(
  `${pad("command", 44)} ${lpad("median ms", 10)} ${lpad("min", 7)} ${lpad("max", 7)} ${lpad("RSS MiB", 8)} ${lpad("RSS x node", 11)}`
)
for (const row of rows) {
  const ms = row.samples.map((s) => s.ms)
  const s = stat(row.name)
  console.log(
    `${pad(row.name, 44)} ${lpad(s.ms.toFixed(1), 10)} ${lpad(Math.min(...ms).toFixed(1), 7)} ${lpad(Math.max(...ms).toFixed(1), 7)} ${lpad(s.mib.toFixed(1), 8)} ${lpad(`${(s.mib / floor.mib).toFixed(2)}x`, 11)}`
  )
}

const ratio = (a, b, key = "ms") => (a && b ? `${(a[key] / b[key]).toFixed(2)}x` : "n/a")
const target = (name, value, required, aim) =>
  console.log(`${pad(name, 52)} ${lpad(value, 7)}   required <= ${required}, aim <= ${aim}`)
console.log("\nTargets (ratios in this run):")
target(
  "hook full path / Go seed full",
  ratio(stat("binary: full (8 NPUs, 2x20 entries, exec)"), seed && stat("Go seed: full")),
  "4.0x",
  "2.5x"
)
target(
  "hook no-op / Go seed no-op",
  ratio(stat("binary: no-op (no NPU asked for)"), seed && stat("Go seed: no-op")),
  "4.0x",
  "2.5x"
)
target(
  "hook peak RSS (full path) / node -e 0",
  ratio(stat("binary: full (8 NPUs, 2x20 entries, exec)"), floor, "mib"),
  "0.65x",
  "0.5x"
)
target(
  "wrapper pass-through / runc alone",
  ratio(stat("wrapper (binary) --version"), stat("runc --version")),
  "3.0x",
  "2.0x"
)
console.log("(hook under runc, time added vs the Go seed's: npm run bench:runc)")

// The admin commands on a private --root tree, as the binary runs them (issue 26: an edge board or a pod
// with a memory limit must be able to install): peak RSS of install (the ~112 MB binary copied), install
// again (compared with the one in place), doctor, cdi generate and uninstall (told ours by its mark), each
// in that order on a fresh tree per round; medians. Figures only.
const adminRounds = Math.min(runs, 5)
const adminRows = ["install", "install again", "doctor", "cdi generate", "uninstall"].map((name) => ({
  name,
  samples: []
}))
const ENGINE_FLAGS = ["--runtime", "docker", "--runtime", "containerd", "--runtime", "crio", "--runtime", "podman"]
let devices = true
for (let round = 0; round < adminRounds; round++) {
  const tree = path.join(work, `admin-root-${round}`)
  const conf = path.join(tree, "etc/ascend-docker-runtime.d")
  fs.mkdirSync(path.join(tree, "etc/docker"), { recursive: true, mode: 0o755 })
  fs.mkdirSync(path.join(tree, "dev"), { recursive: true, mode: 0o755 })
  fs.writeFileSync(path.join(tree, "etc/docker/daemon.json"), '{ "log-driver": "json-file" }\n')
  for (const n of ["davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"])
    devices &&= spawnSync("mknod", [path.join(tree, "dev", n), "c", "1", "3"]).status === 0
  const commands = [
    ["install", ...ENGINE_FLAGS, "--root", tree],
    ["install", ...ENGINE_FLAGS, "--root", tree],
    ["doctor", "--root", tree],
    [
      "cdi",
      "generate",
      "--dev-root",
      path.join(tree, "dev"),
      "--config-dir",
      conf,
      "--output",
      path.join(tree, "etc/cdi/npu.json")
    ],
    ["uninstall", ...ENGINE_FLAGS, "--root", tree]
  ]
  commands.forEach((args, i) => {
    if (args[0] === "cdi" && !devices) return
    const out = execFileSync(measure, ["1", empty, binary, ...args], { encoding: "utf8" })
    const [ns, kb, status] = out.trim().split(" ").map(Number)
    // doctor exits 1 on a tree with no CLI or driver; the others must succeed.
    if (status !== 0 && !(args[0] === "doctor" && status === 1)) throw new Error(`${args.join(" ")} exited ${status}`)
    adminRows[i].samples.push({ ms: ns / 1e6, mib: kb / 1024 })
  })
}
console.log(
  `\nAdmin commands (the binary, on a private --root tree), ${adminRounds} rounds each; target: peak RSS under 64 MiB`
)
console.log(`${pad("command", 44)} ${lpad("median ms", 10)} ${lpad("RSS MiB", 8)} ${lpad("max RSS", 8)}`)
for (const row of adminRows) {
  if (row.samples.length === 0) {
    console.log(`${pad(row.name, 44)} left out: mknod failed (not root?), no device nodes for it`)
    continue
  }
  const mib = row.samples.map((x) => x.mib)
  console.log(
    `${pad(row.name, 44)} ${lpad(median(row.samples.map((x) => x.ms)).toFixed(1), 10)} ${lpad(median(mib).toFixed(1), 8)} ${lpad(Math.max(...mib).toFixed(1), 8)}`
  )
}
if (!checks.binary.ok || !checks.bundle.ok) process.exitCode = 1
