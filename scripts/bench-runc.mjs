// `runc run` wall time for one busybox container: with no hook, with this hook (prestart, exec'ing a
// trivial compiled CLI), and with the Go seed when Go is installed. Medians (min/max) of interleaved runs.
// Needs root and runc. Run: npm run bench:runc (BENCH_RUNS=20 by default).
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { buildSeed } from "./bench/common.mjs"

const root = path.resolve(import.meta.dirname, "..")
const runs = Number(process.env.BENCH_RUNS ?? 20)
const work = path.join(
  fs.existsSync(path.join(os.homedir(), ".cache")) ? path.join(os.homedir(), ".cache") : "/var/lib",
  "ascend-docker-hook-bench-runc"
)
fs.rmSync(work, { recursive: true, force: true })
fs.mkdirSync(path.join(work, "bin"), { recursive: true, mode: 0o755 })
fs.chmodSync(work, 0o755)
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))
if (!busybox) throw new Error("busybox-static is needed")

const cli = path.join(work, "bin", "ascend-docker-cli")
execFileSync("gcc", ["-O2", "-o", cli, path.join(root, "scripts/bench/true-cli.c")])
const conf = path.join(work, "conf")
fs.mkdirSync(conf, { mode: 0o755 })
fs.writeFileSync(path.join(conf, "base.list"), "/usr/lib\n/etc/hostname\n")
const rootfs = path.join(work, "rootfs")
fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true })
fs.copyFileSync(busybox, path.join(rootfs, "bin/busybox"))
fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755)
fs.symlinkSync("busybox", path.join(rootfs, "bin/sh"))
fs.symlinkSync("busybox", path.join(rootfs, "bin/true"))

const variants = [{ name: "no hook", hook: undefined }]
variants.push({
  name: "ascend-docker-hook (bundle)",
  hook: {
    path: process.execPath,
    args: ["node", path.join(root, "dist/ascend-docker-hook.cjs"), "--config-dir", conf, "--cli", cli],
    env: ["LANG=C"]
  }
})
const binary = path.join(root, "dist/ascend-docker-hook")
if (fs.existsSync(binary)) {
  fs.copyFileSync(binary, path.join(work, "bin", "ascend-docker-hook"))
  fs.chmodSync(path.join(work, "bin", "ascend-docker-hook"), 0o755)
  variants.push({
    name: "ascend-docker-hook (binary)",
    hook: {
      path: path.join(work, "bin", "ascend-docker-hook"),
      args: ["ascend-docker-hook", "--config-dir", conf],
      env: ["LANG=C"]
    }
  })
}
const seedHook = path.join(work, "bin", "seed-hook")
const seedMissing = buildSeed(work, conf, seedHook)
if (seedMissing === undefined)
  variants.push({ name: "Go seed", hook: { path: seedHook, args: ["ascend-docker-hook"], env: ["LANG=C"] } })
else console.log(`Go seed left out: ${seedMissing}`)

for (const v of variants) {
  v.bundle = path.join(work, v.name.replace(/\W+/g, "-"))
  fs.mkdirSync(v.bundle)
  execFileSync("runc", ["spec"], { cwd: v.bundle })
  const config = JSON.parse(fs.readFileSync(path.join(v.bundle, "config.json"), "utf8"))
  config.root = { path: rootfs, readonly: true }
  config.process.terminal = false
  config.process.args = ["true"]
  config.process.env.push("ASCEND_VISIBLE_DEVICES=0-7")
  if (v.hook) config.hooks = { prestart: [v.hook] }
  fs.writeFileSync(path.join(v.bundle, "config.json"), JSON.stringify(config))
  v.samples = []
}

let n = 0
for (let round = 0; round < runs + 2; round++) {
  for (const v of variants) {
    const id = `adh-bench-${process.pid}-${n++}`
    const t = process.hrtime.bigint()
    const r = spawnSync("runc", ["run", "--bundle", v.bundle, id], { stdio: ["ignore", "ignore", "pipe"] })
    const ms = Number(process.hrtime.bigint() - t) / 1e6
    spawnSync("runc", ["delete", "-f", id])
    if (r.status !== 0) throw new Error(`${v.name}: runc exited ${r.status}: ${r.stderr}`)
    if (round >= 2) v.samples.push(ms)
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
// What a hook adds: the median of each round's difference to the no-hook run of that same round. A round
// runs the variants back to back, so the machine's slow drifts cancel; the seed's few milliseconds are
// smaller than the spread of runc run itself, and a difference of medians drowned them.
const added = (name) => {
  const v = variants.find((x) => x.name === name)
  return v === undefined ? undefined : median(v.samples.map((ms, i) => ms - variants[0].samples[i]))
}
console.log(`\nrunc run of a busybox container (${runs} interleaved runs each)\n`)
console.log(
  `${"variant".padEnd(32)} ${"median ms".padStart(10)} ${"min".padStart(7)} ${"max".padStart(7)} ${"+ms (paired)".padStart(15)}`
)
for (const v of variants) {
  const m = median(v.samples)
  console.log(
    `${v.name.padEnd(32)} ${m.toFixed(1).padStart(10)} ${Math.min(...v.samples)
      .toFixed(1)
      .padStart(7)} ${Math.max(...v.samples)
      .toFixed(1)
      .padStart(7)} ${added(v.name).toFixed(1).padStart(15)}`
  )
}
const ours = added("ascend-docker-hook (binary)")
const seed = added("Go seed")
if (ours !== undefined && seed !== undefined) {
  console.log(
    `\ntime the binary adds to runc run / time the Go seed adds: ${(ours / seed).toFixed(2)}x (required <= 3.0x, aim <= 2.0x)`
  )
}
fs.rmSync(work, { recursive: true, force: true })
