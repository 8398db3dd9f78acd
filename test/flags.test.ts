import { assert, describe, it } from "@effect/vitest"
import { type Flag, flagHelp, parseFlags } from "../src/commands/Flags.ts"

// The one flag parser of install/uninstall, cdi, doctor and explain, and the --help it writes.

const FLAGS: ReadonlyArray<Flag> = [
  { name: "--runtime", value: "NAME", oneOf: ["docker", "containerd"], repeat: true, help: "an engine" },
  { name: "--root", value: "DIR", absolute: true, help: "a tree" },
  { name: "--dry-run", help: "write nothing" }
]

describe("parseFlags", () => {
  it("takes --flag VALUE and --flag=VALUE, repeats where allowed, booleans", () => {
    const p = parseFlags(
      ["--runtime", "docker", "--runtime=containerd", "--runtime", "docker", "--root=/r", "--dry-run"],
      FLAGS
    )
    assert.notStrictEqual(typeof p, "string")
    if (typeof p === "string") return
    assert.deepStrictEqual(p.all("--runtime"), ["docker", "containerd"])
    assert.strictEqual(p.one("--root"), "/r")
    assert.isTrue(p.has("--dry-run"))
    assert.isFalse(p.has("--nope"))
  })

  it("refuses with one line naming the flag", () => {
    assert.strictEqual(parseFlags(["--bogus"], FLAGS), 'unknown argument "--bogus" (see --help)')
    assert.strictEqual(parseFlags(["--runtime", "lxc"], FLAGS), "--runtime takes one of docker, containerd")
    assert.strictEqual(parseFlags(["--root", "rel"], FLAGS), "--root takes an absolute path")
    assert.strictEqual(parseFlags(["--root"], FLAGS), "--root takes a value (DIR)")
    assert.strictEqual(parseFlags(["--root", "--dry-run"], FLAGS), "--root takes a value (DIR)")
    assert.strictEqual(parseFlags(["--root=/a", "--root=/b"], FLAGS), "--root given twice")
    assert.strictEqual(parseFlags(["--dry-run=yes"], FLAGS), "--dry-run takes no value")
  })

  it("writes the flags part of --help from the same table", () => {
    assert.strictEqual(
      flagHelp(FLAGS),
      [
        "  --runtime NAME  an engine (docker, containerd); repeat for several",
        "  --root DIR      a tree",
        "  --dry-run       write nothing"
      ].join("\n")
    )
  })
})
