// What a container start costs on the routes users run: `runc run` of a busybox `true` container (private
// runc root), alone, with the Go seed as its prestart hook, with our binary as its prestart hook, and through
// our wrapper (the binary as installed, invoked by its `ascend-docker-runtime` link as runc's replacement) in
// hook mode with a 2023 CLI, in cdi mode, and for a container that asks for no NPU; and, for scale, Bun's own
// floor on the hook's and the runtime's place (programs compiled as ours that only exec). One interleaved run;
// medians of whole starts and of per-round paired differences to plain runc; ratios to the seed's route; and the
// CPU time (user + system, of runc and everything it waited for, from wait4), which a shared machine's load
// disturbs far less than wall time.
// Stand-in device nodes (mknod, made-up numbers) and CLIs that exit at once. Figures only, never asserted.
// The bundles are on tmpfs, where every engine keeps them (containerd and Docker under /run/containerd, CRI-O
// and Podman under /run/containers): the wrapper's synced write of config.json costs there what it costs a
// user. Needs root, runc, gcc, busybox-static; the seed row needs Go. Run: npm run bench:routes
// (BENCH_RUNS=25; BENCH_BINARY=path measures another build of the binary, e.g. an older one, in its place).
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { benchDir, buildSeed, bunCompiled, busyboxRootfs, measurer, median, ROOT, trueCli } from "./bench/common.mjs"

const runs = Number(process.env.BENCH_RUNS ?? 25)
if (!Number.isSafeInteger(runs) || runs <= 0) throw new Error(`BENCH_RUNS=${process.env.BENCH_RUNS} is not a count`)
const runc = ["/usr/sbin/runc", "/usr/bin/runc"].find((p) => fs.existsSync(p))
if (runc === undefined) throw new Error("runc is needed")
const work = benchDir("ascend-docker-hook-bench-routes")
const measure = measurer(work)
const runcRoot = path.join(work, "runc-root")
fs.mkdirSync(runcRoot, { mode: 0o700 })
const binary = path.resolve(process.env.BENCH_BINARY ?? path.join(ROOT, "dist/ascend-docker-hook"))
const tmpfs = ["/run", "/dev/shm"].find(
  (d) => spawnSync("findmnt", ["-no", "FSTYPE", d], { encoding: "utf8" }).stdout.trim().split("\n")[0] === "tmpfs"
)
const bundles = fs.mkdtempSync(path.join(tmpfs ?? work, "adh-bench-routes-"))

// The host: mount lists, device nodes under a dev root of our own, the rootfs.
const conf = path.join(work, "conf")
fs.mkdirSync(conf, { mode: 0o755 })
fs.writeFileSync(path.join(conf, "base.list"), "/usr/lib\n/etc/hostname\n")
const dev = path.join(work, "dev")
fs.mkdirSync(dev, { mode: 0o755 })
const nodes = [
  ...Array.from({ length: 8 }, (_, i) => [`davinci${i}`, 240, i]),
  ["davinci_manager", 241, 0],
  ["devmm_svm", 241, 1],
  ["hisi_hdc", 241, 2]
]
for (const [name, major, minor] of nodes)
  execFileSync("mknod", ["-m", "0660", path.join(dev, name), "c", String(major), String(minor)])
const rootfs = path.join(work, "rootfs")
busyboxRootfs(rootfs)
fs.mkdirSync(path.join(rootfs, "usr/lib"), { recursive: true })
fs.mkdirSync(path.join(rootfs, "etc"), { recursive: true })
fs.writeFileSync(path.join(rootfs, "etc/hostname"), "")

// Two installs of the binary, each next to its CLI: with the 2021 CLI (the seed's generation) and the 2023 one.
const install = (name, protocol) => {
  const bin = path.join(work, name)
  fs.mkdirSync(bin, { mode: 0o755 })
  fs.copyFileSync(binary, path.join(bin, "ascend-docker-hook"))
  fs.chmodSync(path.join(bin, "ascend-docker-hook"), 0o755)
  fs.symlinkSync("ascend-docker-hook", path.join(bin, "ascend-docker-runtime"))
  trueCli(path.join(bin, "ascend-docker-cli"), protocol)
  return bin
}
const bin2021 = install("bin-2021", "2021")
const bin2023 = install("bin-2023", "2023")
const seedHook = path.join(bin2021, "seed-hook")
const seedMissing = buildSeed(work, conf, seedHook)
if (seedMissing !== undefined) console.log(`Go seed row left out: ${seedMissing}`)

// Bun's own cost on each kind of route, for scale: programs compiled as ours are, that do nothing but the
// exec their place ends in (the CLI for a hook, runc for a runtime). No Bun program can start a container
// on that route for less; what a row of ours adds above its floor is our code's.
const floorHookDir = path.join(work, "floor-hook")
fs.mkdirSync(floorHookDir, { mode: 0o755 })
const floorHook = bunCompiled(
  floorHookDir,
  "floor-hook",
  `process.execve(${JSON.stringify(path.join(bin2021, "ascend-docker-cli"))}, ["ascend-docker-cli"], process.env)\n`
)
const floorRuntimeDir = path.join(work, "floor-runtime")
fs.mkdirSync(floorRuntimeDir, { mode: 0o755 })
bunCompiled(
  floorRuntimeDir,
  "ascend-docker-runtime",
  `process.execve(${JSON.stringify(runc)}, [${JSON.stringify(runc)}, ...process.argv.slice(2)], process.env)\n`
)

const HOOK_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
const NPU = ["ASCEND_VISIBLE_DEVICES=0-7"]
const wrapperEnv = (mode) => [
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  `ASCEND_DOCKER_RUNTIME_CONFIG_DIR=${conf}`,
  `ASCEND_DOCKER_RUNTIME_DEV_ROOT=${dev}`,
  ...(mode === "cdi" ? ["ASCEND_DOCKER_RUNTIME_MODE=cdi"] : [])
]
const routes = [
  { name: "runc alone", env: NPU },
  ...(seedMissing === undefined
    ? [{ name: "runc + Go seed hook (2021 CLI)", env: NPU, hook: { path: seedHook, args: ["ascend-docker-hook"] } }]
    : []),
  {
    name: "runc + our binary as prestart hook (2021 CLI)",
    env: NPU,
    hook: { path: path.join(bin2021, "ascend-docker-hook"), args: ["ascend-docker-hook", "--config-dir", conf] }
  },
  { name: "our wrapper, hook mode, 2023 CLI", env: NPU, wrapper: bin2023, wrapperEnv: wrapperEnv("hook") },
  { name: "our wrapper, cdi mode", env: NPU, wrapper: bin2023, wrapperEnv: wrapperEnv("cdi") },
  { name: "our wrapper, no NPU asked", env: [], wrapper: bin2023, wrapperEnv: wrapperEnv("hook") },
  {
    name: "floor: Bun program as hook, execs the CLI",
    env: NPU,
    hook: { path: floorHook, args: ["floor-hook"] },
    floor: true
  },
  { name: "floor: Bun program as runtime, execs runc", env: [], wrapper: floorRuntimeDir, floor: true }
]

for (const r of routes) {
  r.bundle = path.join(bundles, r.name.replace(/\W+/g, "-"))
  fs.mkdirSync(r.bundle, { recursive: true })
  execFileSync(runc, ["spec"], { cwd: r.bundle })
  const config = JSON.parse(fs.readFileSync(path.join(r.bundle, "config.json"), "utf8"))
  config.root = { path: rootfs, readonly: true }
  config.process.terminal = false
  config.process.args = ["true"]
  config.process.env.push(...r.env)
  if (r.hook) config.hooks = { prestart: [{ ...r.hook, env: HOOK_ENV }] }
  // runc spec's config as an engine writes it (indented); the wrapper edits it, so each run starts from this.
  r.config = JSON.stringify(config, null, "\t")
  r.samples = []
  r.cpu = []
}

const empty = path.join(work, "empty")
fs.writeFileSync(empty, "")
let n = 0
const once = (r) => {
  fs.writeFileSync(path.join(r.bundle, "config.json"), r.config)
  const id = `adh-routes-${process.pid}-${n++}`
  const cmd = [r.wrapper ? path.join(r.wrapper, "ascend-docker-runtime") : runc, "--root", runcRoot, "run"]
  const envArgs = (r.wrapperEnv ?? HOOK_ENV).flatMap((e) => ["-e", e])
  const out = spawnSync(measure, ["1", empty, ...envArgs, ...cmd, "--bundle", r.bundle, id], { encoding: "utf8" })
  spawnSync(runc, ["--root", runcRoot, "delete", "-f", id])
  const [ns, , status, cpu] = out.stdout.trim().split(" ").map(Number)
  if (out.status !== 0 || status !== 0) throw new Error(`${r.name}: exited ${status}: ${out.stderr}`)
  return { ms: ns / 1e6, cpu: cpu / 1e3 }
}
// Two warm-up rounds, then `runs` rounds of every route back to back.
for (let round = 0; round < runs + 2; round++) {
  for (const r of routes) {
    const { ms, cpu } = once(r)
    if (round >= 2) {
      r.samples.push(ms)
      r.cpu.push(cpu)
    }
  }
}

const base = routes[0]
const seed = routes.find((r) => r.name.startsWith("runc + Go seed"))
for (const r of routes) {
  r.median = median(r.samples)
  r.added = median(r.samples.map((ms, i) => ms - base.samples[i]))
  r.cpuMedian = median(r.cpu)
}
const lpad = (s, w) => String(s).padStart(w)
console.log(
  `\nContainer start (runc run of busybox true, private runc root, bundles on ${tmpfs ?? "disk"}), ${runs} interleaved rounds, ${os.arch()}\n${binary}; load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}\n`
)
console.log(
  `${"route".padEnd(48)} ${lpad("median ms", 10)} ${lpad("min", 6)} ${lpad("max", 6)} ${lpad("+ms paired", 11)} ${lpad("x seed", 7)} ${lpad("CPU ms", 7)} ${lpad("x seed", 7)}`
)
for (const r of routes) {
  console.log(
    `${r.name.padEnd(48)} ${lpad(r.median.toFixed(1), 10)} ${lpad(Math.min(...r.samples).toFixed(1), 6)} ${lpad(
      Math.max(...r.samples).toFixed(1),
      6
    )} ${lpad(r === base ? "" : r.added.toFixed(1), 11)} ${lpad(seed ? `${(r.median / seed.median).toFixed(2)}x` : "n/a", 7)} ${lpad(
      r.cpuMedian.toFixed(1),
      7
    )} ${lpad(seed ? `${(r.cpuMedian / seed.cpuMedian).toFixed(2)}x` : "n/a", 7)}`
  )
}
if (seed) {
  // The ratio of starts is the issue's measure; the paired figure says it without runc's own median in it.
  const targets = [
    ["our wrapper, no NPU asked", "1.20x", "1.12x", ["runtime"]],
    ["our wrapper, cdi mode", "1.40x", "1.25x", ["runtime"]],
    ["our wrapper, hook mode, 2023 CLI", "1.60x", "1.35x", ["runtime", "hook"]],
    ["runc + our binary as prestart hook (2021 CLI)", "1.35x", "1.25x", ["hook"]]
  ]
  const floorAdds = {
    hook: routes.find((r) => r.name.startsWith("floor: Bun program as hook")).added,
    runtime: routes.find((r) => r.name.startsWith("floor: Bun program as runtime")).added
  }
  console.log("\nTargets (container start / the seed's route, this run):")
  for (const [name, required, aim, floors] of targets) {
    const r = routes.find((x) => x.name === name)
    const ratio = r.median / seed.median
    const verdict =
      ratio <= Number.parseFloat(aim) ? "aim met" : ratio <= Number.parseFloat(required) ? "met" : "NOT met"
    const floor = floors.reduce((sum, f) => sum + floorAdds[f], 0)
    console.log(
      `${name.padEnd(48)} ${lpad(`${ratio.toFixed(2)}x`, 7)}  required <= ${required}, aim <= ${aim}: ${verdict}; adds ${r.added.toFixed(1)} ms (seed adds ${seed.added.toFixed(1)}; Bun's floor here ${floor.toFixed(1)}, ours above it ${(r.added - floor).toFixed(1)})`
    )
  }
}
fs.rmSync(work, { recursive: true, force: true })
fs.rmSync(bundles, { recursive: true, force: true })
