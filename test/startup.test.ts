import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ROOT } from "./support/fixtures.ts"

// What a program loads at start is what its static imports reach: every runc call Docker or containerd
// makes through the wrapper pays for it. The wrapper's pass-through must reach none of Effect (its
// create/run work is loaded with require() only for those commands); a constant imported from an Effect
// service module once put all of Effect's shared chunk on that path (13.8 vs 11.3 ms).

/** The modules `file` reaches through static `import ... from` (type-only imports excluded). */
const staticGraph = (file: string, seen = new Set<string>()): Set<string> => {
  if (seen.has(file)) return seen
  seen.add(file)
  const text = fs.readFileSync(file, "utf8")
  for (const m of text.matchAll(/^import (?!type )[^"']*?from "([^"]+)"|^import "([^"]+)"/gm)) {
    const spec = (m[1] ?? m[2])!
    if (spec.startsWith(".")) staticGraph(path.resolve(path.dirname(file), spec), seen)
    else seen.add(spec)
  }
  return seen
}

describe("start-up graph", () => {
  it("the wrapper's entry reaches no module of Effect", () => {
    const graph = [...staticGraph(path.join(ROOT, "src/bin/runtime.ts"))]
    assert.isAbove(graph.length, 3)
    assert.deepStrictEqual(
      graph.filter((m) => m === "effect" || m.startsWith("effect/")),
      [],
      graph.join("\n")
    )
  })

  it("the programs' one entry reaches only the guard before it picks a program", () => {
    const graph = [...staticGraph(path.join(ROOT, "src/bin/main.ts"))].map((m) => path.relative(ROOT, m))
    assert.deepStrictEqual(graph.sort(), [
      "src/ErrorLine.ts",
      "src/Limits.ts",
      "src/bin/main.ts",
      "src/platform/NodeFs.ts",
      "src/schemas/Text.ts"
    ])
  })

  it("node:fs is loaded through platform/NodeFs.ts only (require where there is one: ~1 ms less in the binary)", () => {
    const direct: Array<string> = []
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name)
        if (e.isDirectory()) walk(p)
        else if (p.endsWith(".ts") && !p.endsWith("platform/NodeFs.ts")) {
          if (/getBuiltinModule\(\s*"node:fs"\s*\)/.test(fs.readFileSync(p, "utf8")))
            direct.push(path.relative(ROOT, p))
        }
      }
    }
    walk(path.join(ROOT, "src"))
    assert.deepStrictEqual(direct, [])
  })
})
