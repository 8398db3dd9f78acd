// What the benchmarks share: a trusted work dir, the C stand-ins, the Go seed built as installed, a busybox
// rootfs, and medians. Figures only; nothing here asserts a time.
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The project's root. */
export const ROOT = path.resolve(import.meta.dirname, "../..")

/**
 * A fresh work dir whose parents are all 0755 or stricter (the trust checks refuse /tmp): under
 * ~/.cache, else /var/lib.
 */
export const benchDir = (name) => {
  const home = path.join(os.homedir(), ".cache")
  const work = path.join(fs.existsSync(home) ? home : "/var/lib", name)
  fs.rmSync(work, { recursive: true, force: true })
  fs.mkdirSync(work, { recursive: true, mode: 0o755 })
  fs.chmodSync(work, 0o755)
  return work
}

/** Compiles one C file, mode 0755. */
export const gcc = (src, out, flags = []) => execFileSync("gcc", ["-O2", ...flags, "-o", out, src])

/** The CLI stand-in that exits 0 at once: the 2021 one, or (`"2023"`) one whose bytes name `allow-link`. */
export const trueCli = (out, protocol = "2021") =>
  gcc(path.join(ROOT, "scripts/bench/true-cli.c"), out, protocol === "2023" ? ["-DCLI_2023"] : [])

/** The wait4 measurer (scripts/bench/measure.c). */
export const measurer = (work) => {
  const out = path.join(work, "measure")
  gcc(path.join(ROOT, "scripts/bench/measure.c"), out)
  return out
}

/**
 * The Go seed, built at `out` with `conf` as its compiled-in config dir (exactly as installed; the CLI it
 * runs is the one next to `out`). Undefined, with the reason, when Go or the seed's sources are missing.
 */
export const buildSeed = (work, conf, out) => {
  const goPath = "/usr/share/gocode"
  // ../shared next to the clone, or next to the dir of worktrees it is in.
  const src = [path.join(ROOT, ".."), path.join(ROOT, "../..")]
    .map((dir) => path.join(dir, "shared", "seed", "ascend-docker-hook.go"))
    .find((file) => fs.existsSync(file))
  if (
    spawnSync("go", ["version"]).status !== 0 ||
    !fs.existsSync(path.join(goPath, "src/github.com/opencontainers/runtime-spec")) ||
    src === undefined
  )
    return "needs golang-go, golang-github-opencontainers-specs-dev and ../shared/seed"
  const dir = path.join(work, "seed")
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  fs.writeFileSync(
    path.join(dir, "main.go"),
    fs.readFileSync(src, "utf8").replace('"/etc/ascend-docker-runtime.d"', JSON.stringify(conf))
  )
  const built = spawnSync("go", ["build", "-o", out, "."], {
    cwd: dir,
    env: { ...process.env, GO111MODULE: "off", GOPATH: goPath, GOCACHE: path.join(work, "gocache") }
  })
  return built.status === 0 ? undefined : `go build failed: ${built.stderr}`
}

/** A rootfs with a static busybox as /bin/sh and /bin/true. */
export const busyboxRootfs = (rootfs) => {
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))
  if (!busybox) throw new Error("busybox-static is needed")
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true })
  fs.copyFileSync(busybox, path.join(rootfs, "bin/busybox"))
  fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755)
  fs.symlinkSync("busybox", path.join(rootfs, "bin/sh"))
  fs.symlinkSync("busybox", path.join(rootfs, "bin/true"))
}

/**
 * A Bun program compiled with the flags the real binary is built with (scripts/build.mjs) but for the
 * target: what Bun itself costs, as a floor to set our figures against. `source` is the program's text.
 */
export const bunCompiled = (work, name, source) => {
  const src = path.join(work, `${name}.ts`)
  const out = path.join(work, name)
  fs.writeFileSync(src, source)
  execFileSync(
    path.join(ROOT, "node_modules/.bin/bun"),
    [
      "build",
      src,
      "--compile",
      "--bytecode",
      "--minify",
      "--compile-jit-policy=1000",
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      "--no-compile-autoload-tsconfig",
      "--no-compile-autoload-package-json",
      "--outfile",
      out
    ],
    { stdio: "ignore" }
  )
  return out
}

/** The median (the mean of the two middle values for an even count). */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
