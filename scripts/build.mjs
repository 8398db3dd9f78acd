// Builds the hook two ways:
// - dist/ascend-docker-hook.cjs: one minified CJS bundle, run as `node dist/ascend-docker-hook.cjs`
//   (always bundle: unbundled start-up is 3-4x slower, STACK.md);
//   Its admin commands (install, cdi, doctor, explain) are dist/ascend-docker-hook-admin.cjs, loaded on demand;
// - dist/ascend-docker-runtime.cjs: the runtime wrapper for Docker and containerd, the same way;
// - dist/ascend-docker-hook: a self-contained Node single executable application whose startup snapshot
//   holds the initialised modules and a warmed pipeline (src/sea.ts), and dist/ascend-docker-runtime, a link
//   to it that runs as the wrapper. Skipped with --no-binary.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as esbuild from "esbuild"
import { stripBuiltinCodeCache } from "./sea-strip.mjs"

const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"))
const common = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node22",
  minify: true,
  legalComments: "none",
  metafile: true,
  define: { HOOK_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning"
}

const bundle = async (entry, outfile, adminBeside = false) => {
  const define = { ...common.define, ADMIN_BESIDE: String(adminBeside) }
  const result = await esbuild.build({ ...common, define, entryPoints: [entry], outfile })
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
  console.log(`built ${outfile}: ${bytes} bytes from ${Object.keys(result.metafile.inputs).length} modules`)
}

await bundle("src/bin.ts", "dist/ascend-docker-hook.cjs", true)
await bundle("src/admin.ts", "dist/ascend-docker-hook-admin.cjs")
await bundle("src/runtime.ts", "dist/ascend-docker-runtime.cjs")

if (!process.argv.includes("--no-binary")) {
  const { inject } = await import("postject")
  await bundle("src/sea.ts", "dist/sea-main.cjs")
  fs.writeFileSync(
    "dist/sea-config.json",
    JSON.stringify({
      main: "dist/sea-main.cjs",
      output: "dist/sea-prep.blob",
      disableExperimentalSEAWarning: true,
      useSnapshot: true,
      useCodeCache: false,
      // A ~100 ms process gains nothing from V8's compilers (interpreting is cheaper than setting up
      // executable memory and background compiles) or from parallel GC helper threads. Measured: about
      // 3-4 ms less than --max-opt=0 alone, on a ~110 ms run.
      execArgv: ["--jitless", "--single-threaded-gc"]
    })
  )
  execFileSync(process.execPath, ["--experimental-sea-config", "dist/sea-config.json"], { stdio: "inherit" })
  const out = "dist/ascend-docker-hook"
  fs.rmSync(out, { force: true })
  fs.copyFileSync(process.execPath, `${out}.tmp`)
  fs.chmodSync(`${out}.tmp`, 0o755)
  const prepared = fs.readFileSync("dist/sea-prep.blob")
  const stripped = stripBuiltinCodeCache(prepared)
  if (stripped.blob === undefined) console.warn(`keeping Node's built-in code cache in the binary: ${stripped.reason}`)
  else
    console.log(
      `stripped Node's built-in code cache from the snapshot (${stripped.entries} entries, ${stripped.removed} bytes)`
    )
  fs.writeFileSync(
    "dist/sea-build.json",
    JSON.stringify({ node: process.version, strippedCodeCache: stripped.blob !== undefined })
  )
  await inject(`${out}.tmp`, "NODE_SEA_BLOB", stripped.blob ?? prepared, {
    sentinelFuse: "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"
  })
  fs.renameSync(`${out}.tmp`, out)
  // The same binary is the runtime wrapper when invoked under that name.
  fs.rmSync("dist/ascend-docker-runtime", { force: true })
  fs.symlinkSync("ascend-docker-hook", "dist/ascend-docker-runtime")
  console.log(`built ${out}: Node ${process.version} single executable with a startup snapshot`)
}
