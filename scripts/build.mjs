// Builds, from src/bin/main.ts:
// - dist/ascend-docker-hook-linux-x64 and -linux-arm64: self-contained executables made with
//   `bun build --compile --bytecode` (Bun pinned in devDependencies), multi-call (through a link named
//   ascend-docker-runtime they are the wrapper), with every way for the cwd to change their code turned off;
// - dist/ascend-docker-hook: the build for this machine's arch (a hard link), and dist/ascend-docker-runtime,
//   a link to it, so the paths the README, the installer and the tests use stay the same;
// - dist/ascend-docker-hook.cjs (+ -admin.cjs, loaded on demand) and dist/ascend-docker-runtime.cjs: the
//   plain Node bundles (always bundle: unbundled start-up is 3-4x slower, STACK.md).
// - dist/lib/: the library as embedders install it: ESM and declaration files (with maps) for src/index.ts
//   and what it reaches, from tsconfig.lib.json.
// `--no-binary` skips the executables (for a quick rebuild of the bundles).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as esbuild from "esbuild"

const root = path.resolve(import.meta.dirname, "..")
process.chdir(root)
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"))
const version = JSON.stringify(pkg.version)

const bundle = async (entry, outfile, program) => {
  const result = await esbuild.build({
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    minify: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    define: { HOOK_VERSION: version, PROGRAM: JSON.stringify(program), ADMIN_BESIDE: "true" },
    entryPoints: [entry],
    outfile
  })
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
  console.log(`built ${outfile}: ${bytes} bytes from ${Object.keys(result.metafile.inputs).length} modules`)
}

await bundle("src/bin/main.ts", "dist/ascend-docker-hook.cjs", "hook")
await bundle("src/bin/admin.ts", "dist/ascend-docker-hook-admin.cjs", "hook")
await bundle("src/bin/main.ts", "dist/ascend-docker-runtime.cjs", "runtime")

fs.rmSync("dist/lib", { recursive: true, force: true })
execFileSync(path.join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.lib.json"], { stdio: "inherit" })
console.log("built dist/lib: ESM and .d.ts of the library (src/index.ts)")

/** Bun's names for the two Linux arches, and Node's for this machine's. */
const ARCHES = { x64: "x64", arm64: "aarch64" }

if (!process.argv.includes("--no-binary")) {
  const bun = path.join(root, "node_modules/.bin/bun")
  for (const [arch, bunArch] of Object.entries(ARCHES)) {
    const out = `dist/ascend-docker-hook-linux-${arch}`
    execFileSync(
      bun,
      [
        "build",
        "src/bin/main.ts",
        "--compile",
        "--bytecode",
        // One chunk per program (wrapper, hook, admin), loaded by the entry's dynamic import: each
        // program's start-up loads only its own code (measured: ~1 ms and ~2 MiB less for the wrapper).
        "--splitting",
        "--format=esm",
        "--minify",
        // Every program here runs once and briefly (a hook, a runtime call, an admin command): tiering code
        // up to the JIT costs more than it saves. Scaled thresholds keep the run in the interpreter (measured
        // with scripts/bench.mjs: full path ~3 ms and ~5 MiB less; the 1000-entry case ~10-20% slower).
        "--compile-jit-policy=1000",
        `--target=bun-linux-${bunArch === "aarch64" ? "arm64" : "x64"}`,
        // A hook's cwd is the bundle dir, which the image's owner may fill: nothing there may change the code.
        "--no-compile-autoload-dotenv",
        "--no-compile-autoload-bunfig",
        "--no-compile-autoload-tsconfig",
        "--no-compile-autoload-package-json",
        "--define",
        `HOOK_VERSION=${version}`,
        "--define",
        'PROGRAM="multi"',
        "--define",
        "ADMIN_BESIDE=false",
        "--outfile",
        out
      ],
      { stdio: ["ignore", "ignore", "inherit"] }
    )
    console.log(`built ${out}: ${fs.statSync(out).size} bytes, Bun ${pkg.devDependencies.bun} for linux-${arch}`)
  }
  const own = `dist/ascend-docker-hook-linux-${process.arch}`
  if (!fs.existsSync(own)) throw new Error(`no build for this machine's arch (${process.arch})`)
  fs.rmSync("dist/ascend-docker-hook", { force: true })
  fs.linkSync(own, "dist/ascend-docker-hook")
  fs.rmSync("dist/ascend-docker-runtime", { force: true })
  fs.symlinkSync("ascend-docker-hook", "dist/ascend-docker-runtime")
  console.log(`dist/ascend-docker-hook is ${own}; dist/ascend-docker-runtime links to it`)
}
