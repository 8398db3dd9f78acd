import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
// @ts-expect-error: a build script in plain JavaScript, without type declarations
import { CHECKED_NODE_VERSIONS, stripBuiltinCodeCache } from "../scripts/sea-strip.mjs"
import { BINARY, ROOT } from "./support/fixtures.ts"

// The build's one trick that depends on Node internals: dropping Node's built-in code cache from the
// binary's snapshot. It must only act on a blob it fully understands, for the Node it was checked
// against, and otherwise leave the documented build alone. The binary's own behaviour is covered by
// every test that runs it (process, adversarial, e2e): those run the stripped binary.

const blob = fs.readFileSync(path.join(ROOT, "dist/sea-prep.blob"))
const node = process.versions.node

describe("stripping Node's built-in code cache from the SEA snapshot", () => {
  it("on the Node it was checked against: the cache goes, everything else stays", () => {
    assert.include(CHECKED_NODE_VERSIONS, node, "the project's own Node is the checked one")
    const out = stripBuiltinCodeCache(blob, node)
    assert.isDefined(out.blob, out.reason)
    assert.isAbove(out.entries, 100)
    assert.strictEqual(out.blob.length, blob.length - out.removed)
    assert.isTrue(out.blob.subarray(0, 16).equals(blob.subarray(0, 16)), "SEA header unchanged")
    const again = stripBuiltinCodeCache(out.blob, node)
    assert.strictEqual(again.entries, 0, "stripping is idempotent: the rewritten blob parses to an empty cache")
    assert.strictEqual(again.blob.length, out.blob.length)
  })

  it("the build used it, and the binary it made runs", () => {
    const build = JSON.parse(fs.readFileSync(path.join(ROOT, "dist/sea-build.json"), "utf8"))
    assert.deepStrictEqual(build, { node: process.version, strippedCodeCache: true })
    const version = spawnSync(BINARY, ["--version"], { encoding: "utf8", env: {} })
    assert.strictEqual(version.status, 0, version.stderr)
  })

  it("falls back (leaves the blob alone) for another Node version or any blob it does not fully understand", () => {
    assert.match(stripBuiltinCodeCache(blob, "25.0.0").reason, /not checked against Node 25.0.0/)
    assert.match(stripBuiltinCodeCache(Buffer.from("not a blob at all"), node).reason, /not a SEA blob|unreadable/)
    assert.match(
      stripBuiltinCodeCache(blob.subarray(0, 5000), node).reason,
      /longer than the blob|unreadable|truncated/
    )
    const wrongVersion = Buffer.from(blob)
    const at = wrongVersion.indexOf(Buffer.from(node, "latin1"))
    wrongVersion.write("99", at, "latin1")
    assert.match(stripBuiltinCodeCache(wrongVersion, node).reason, /snapshot made by Node 99/)
    const trailing = Buffer.from(blob)
    // One byte more inside the snapshot's declared length: the parse no longer ends where it must.
    const lengthAt = 4 + 4 + 1 + 8 + trailing.readUInt32LE(9)
    trailing.writeBigUInt64LE(trailing.readBigUInt64LE(lengthAt) - 1n, lengthAt)
    assert.isUndefined(stripBuiltinCodeCache(trailing, node).blob)
  })
})
