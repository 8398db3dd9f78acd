import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { program } from "../example/embed.ts"
import { EMBED_EXAMPLE_ARGV, ROOT } from "./support/fixtures.ts"

// The README's embedding example: type-checked by `npm run typecheck` (tsconfig includes example/),
// run here through the package's public entry, and kept in the README verbatim.

describe("embedding as a library", () => {
  it("the README example runs and gives the hook's plan", () => {
    const result = Effect.runSync(program)
    assert.deepStrictEqual(result.argv, EMBED_EXAMPLE_ARGV)
    assert.deepStrictEqual(Option.getOrThrow(result.otherDevices), [7])
  })

  it("the README shows example/embed.ts and example/property.test.ts as they are", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8")
    for (const file of ["example/embed.ts", "example/property.test.ts"]) {
      assert.include(readme, fs.readFileSync(path.join(ROOT, file), "utf8").trim(), file)
    }
  })
})
