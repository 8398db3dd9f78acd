import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { cleanup, EMBED_EXAMPLE_ARGV, NODE, ROOT, scratch } from "./support/fixtures.ts"

// The library as an embedder meets it: `npm pack` of this project, installed into a fresh project with
// `effect` from the registry, the README's embedding example type-checked there under strict,
// exactOptionalPropertyTypes and NodeNext (no skipLibCheck) and run on plain Node from node_modules.

const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) cleanup(d)
})

const npm = (cwd: string, ...args: Array<string>) =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_update_notifier: "false" },
    timeout: 240_000
  })

const ours = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"))

describe("the package, installed as an embedder installs it", () => {
  it("packs small, installs with one effect, type-checks and runs the README example", { timeout: 300_000 }, () => {
    const work = scratch()
    dirs.push(work)
    const packed = JSON.parse(npm(ROOT, "pack", "--json", "--pack-destination", work))[0]
    const tarball = path.join(work, packed.filename)
    const size = fs.statSync(tarball).size
    assert.isAtMost(size, 3 * 1024 * 1024, `tarball is ${size} bytes`)
    const files: Array<string> = packed.files.map((f: { path: string }) => f.path)
    assert.include(files, "dist/lib/index.js")
    assert.include(files, "dist/lib/index.d.ts")
    assert.include(files, "dist/ascend-docker-hook.cjs")
    for (const f of ["README.md", "SECURITY.md", "LICENSE"]) assert.include(files, f)
    assert.isFalse(
      files.some(
        (f) => f.startsWith("test/") || f.startsWith("src/") || f.startsWith(".ci/") || /linux-(x64|arm64)$/.test(f)
      ),
      `no tests, sources, CI or binaries: ${files.filter((f) => !f.startsWith("dist/lib/")).join(" ")}`
    )

    const app = path.join(work, "app")
    fs.mkdirSync(app)
    fs.writeFileSync(
      path.join(app, "package.json"),
      JSON.stringify({
        name: "embedder",
        private: true,
        type: "module",
        dependencies: { effect: ours.devDependencies.effect, "ascend-docker-hook": `file:${tarball}` },
        devDependencies: {
          typescript: ours.devDependencies.typescript,
          "@types/node": ours.devDependencies["@types/node"]
        }
      })
    )
    fs.writeFileSync(
      path.join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          // Effect's own declarations name WebCrypto types (CryptoKey, JsonWebKey) that @types/node
          // declares as values only; an embedder gets them from the DOM lib.
          lib: ["ES2023", "DOM"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          types: ["node"],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          allowImportingTsExtensions: true,
          noEmit: true
        },
        files: ["embed.ts"]
      })
    )
    fs.copyFileSync(path.join(ROOT, "example/embed.ts"), path.join(app, "embed.ts"))
    fs.writeFileSync(
      path.join(app, "run.mjs"),
      'import * as Effect from "effect/Effect"\nimport { program } from "./embed.ts"\nconsole.log(JSON.stringify(Effect.runSync(program).argv))\n'
    )
    npm(app, "install", "--prefer-offline")

    // Exactly one effect in the tree, so the embedder's Context and ours are one.
    const copies = execFileSync("find", [path.join(app, "node_modules"), "-path", "*/effect/package.json"], {
      encoding: "utf8"
    })
      .split("\n")
      .filter((p) => p !== "" && JSON.parse(fs.readFileSync(p, "utf8")).name === "effect")
    assert.deepStrictEqual(copies, [path.join(app, "node_modules/effect/package.json")])

    const tsc = spawnSync(NODE, [path.join(app, "node_modules/typescript/bin/tsc"), "-p", app], { encoding: "utf8" })
    assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)

    const run = spawnSync(NODE, ["run.mjs"], { cwd: app, encoding: "utf8", env: {} })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.deepStrictEqual(JSON.parse(run.stdout), EMBED_EXAMPLE_ARGV)
  })
})
