// Start-up benchmark: medians (min/max) of wall time and peak RSS from interleaved runs, each with an
// empty environment, as ratios to `node -e 0` on the same Node in the same run. Prints figures only;
// nothing here asserts a time (the machines are shared and noisy).
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const runs = Number(process.env.BENCH_RUNS ?? 30)
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
const cli = path.join(bin, "ascend-docker-cli")
gcc(path.join(root, "scripts/bench/true-cli.c"), cli)
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

// The exec'd CLI must see blocking stdio: checked once with the recording CLI.
const record = path.join(work, "record.json")
const probe = spawnSync(
  node,
  [path.join(root, "dist/ascend-docker-hook.cjs"), "--config-dir", conf, "--cli", recorder],
  {
    input: fs.readFileSync(full),
    env: { ADH_RECORD: record }
  }
)
const recorded = JSON.parse(fs.readFileSync(record, "utf8"))
const blocking = probe.status === 0 && recorded.nonblock.every((x) => x === 0)

const hook = (extra = []) => [
  node,
  path.join(root, "dist/ascend-docker-hook.cjs"),
  "--config-dir",
  conf,
  "--cli",
  cli,
  ...extra
]
const rows = [
  { name: "node -e 0 (floor)", cmd: [node, "-e", "0"], stdin: empty },
  { name: "bundle: no-op (no NPU asked for)", cmd: hook(), stdin: noop },
  { name: "bundle: full (8 NPUs, 2x20 list entries, exec)", cmd: hook(), stdin: full },
  { name: "bundle: large (1024 NPUs, 1000 entries, exec)", cmd: hook(), stdin: large }
]
const sea = path.join(root, "dist/ascend-docker-hook")
if (fs.existsSync(sea)) {
  const seaCopy = path.join(bin, "ascend-docker-hook")
  fs.copyFileSync(sea, seaCopy)
  fs.chmodSync(seaCopy, 0o755)
  const binary = [seaCopy, "--config-dir", conf]
  rows.push(
    { name: "binary: no-op", cmd: binary, stdin: noop },
    { name: "binary: full", cmd: binary, stdin: full },
    { name: "binary: large", cmd: binary, stdin: large }
  )
}

// The Go seed, if Go and the OCI spec package are installed: a copy whose config dir points here.
const goPath = "/usr/share/gocode"
if (
  spawnSync("go", ["version"]).status === 0 &&
  fs.existsSync(path.join(goPath, "src/github.com/opencontainers/runtime-spec"))
) {
  const seedSrc = path.join(root, "..", "shared", "seed", "ascend-docker-hook.go")
  if (fs.existsSync(seedSrc)) {
    const dir = path.join(work, "seed")
    fs.mkdirSync(dir, { mode: 0o755 })
    const source = fs.readFileSync(seedSrc, "utf8").replace('"/etc/ascend-docker-runtime.d"', JSON.stringify(conf))
    fs.writeFileSync(path.join(dir, "main.go"), source)
    const built = spawnSync("go", ["build", "-o", path.join(bin, "seed-hook"), "."], {
      cwd: dir,
      env: { ...process.env, GO111MODULE: "off", GOPATH: goPath, GOCACHE: path.join(work, "gocache") }
    })
    if (built.status === 0) {
      rows.push(
        { name: "Go seed: no-op", cmd: [path.join(bin, "seed-hook")], stdin: noop },
        { name: "Go seed: full", cmd: [path.join(bin, "seed-hook")], stdin: full }
      )
    }
  }
}

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
const floor = rows[0]
const fMs = median(floor.samples.map((s) => s.ms))
const fMib = median(floor.samples.map((s) => s.mib))
const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)
console.log(
  `\nascend-docker-hook start-up, ${runs} interleaved runs each, empty environment, ${node} (${process.version})`
)
console.log(
  `exec'd CLI sees blocking stdin/stdout/stderr: ${blocking ? "yes" : "NO"} (nonblock flags ${JSON.stringify(recorded.nonblock)})\n`
)
console.log(
  `${pad("command", 48)} ${lpad("median ms", 10)} ${lpad("min", 7)} ${lpad("max", 7)} ${lpad("x floor", 8)} ${lpad("RSS MiB", 8)} ${lpad("x floor", 8)}`
)
for (const row of rows) {
  const ms = row.samples.map((s) => s.ms)
  const mib = row.samples.map((s) => s.mib)
  const m = median(ms)
  const r = median(mib)
  console.log(
    `${pad(row.name, 48)} ${lpad(m.toFixed(1), 10)} ${lpad(Math.min(...ms).toFixed(1), 7)} ${lpad(Math.max(...ms).toFixed(1), 7)} ${lpad(`${(m / fMs).toFixed(2)}x`, 8)} ${lpad(r.toFixed(1), 8)} ${lpad(`${(r / fMib).toFixed(2)}x`, 8)}`
  )
}
if (!blocking) process.exitCode = 1
