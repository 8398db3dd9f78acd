// Bundles the hook into one minified CJS file: unbundled start-up is 3-4x slower (STACK.md).
import { readFileSync } from "node:fs"
import * as esbuild from "esbuild"

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))

const result = await esbuild.build({
  entryPoints: ["src/bin.ts"],
  outfile: "dist/ascend-docker-hook.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node22",
  minify: true,
  legalComments: "none",
  metafile: true,
  define: { HOOK_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning"
})
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
const modules = Object.keys(result.metafile.inputs).length
console.log(`built dist/ascend-docker-hook.cjs: ${bytes} bytes from ${modules} modules`)
