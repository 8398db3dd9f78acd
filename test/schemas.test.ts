import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { errorLine } from "../src/ErrorLine.ts"
import { decodeAscendEnv, lookupEnv } from "../src/schemas/ContainerEnv.ts"
import { resolveRootfs } from "../src/schemas/ContainerSpec.ts"
import { parseInvocation } from "../src/schemas/Invocation.ts"
import { jsonShapeProblem, MAX_JSON_DEPTH, parseJsonObject } from "../src/schemas/Json.ts"
import { parseMountListLine } from "../src/schemas/MountList.ts"
import { normalizeAbsolute } from "../src/schemas/Paths.ts"
import { quote, trimSpace, utf8Length } from "../src/schemas/Text.ts"

// The pure pieces the stages are built from, with the edge cases that matter.

describe("JSON pre-scan", () => {
  it("skips strings with escaped quotes and backslashes", () => {
    assert.isUndefined(jsonShapeProblem('{"a":"x\\"[[[","b":"\\\\","c":["]"]}'))
    assert.strictEqual(jsonShapeProblem('{"a":"x\\"}'), "invalid JSON: unterminated string")
    assert.strictEqual(jsonShapeProblem('{"a":"\\\\\\"}'), "invalid JSON: unterminated string")
  })
  it("allows MAX_JSON_DEPTH levels and refuses one more", () => {
    const nest = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`
    assert.isUndefined(jsonShapeProblem(nest(MAX_JSON_DEPTH)))
    assert.match(jsonShapeProblem(nest(MAX_JSON_DEPTH + 1))!, /nested deeper than 64/)
  })
  it("refuses a string longer than 1 MiB, whatever it holds", () => {
    assert.isUndefined(jsonShapeProblem(`{"a":"${"x".repeat(1024 * 1024)}"}`))
    assert.match(jsonShapeProblem(`{"a":"${"x".repeat(1024 * 1024 + 1)}"}`)!, /a string of 1048577 characters/)
    assert.match(jsonShapeProblem(`{"a":"${"\\".repeat(1200 * 1024)}"}`)!, /a string of 1228800 characters/)
  })
  it("counts values", () => {
    assert.isUndefined(jsonShapeProblem("[1,2,3]", 3))
    assert.match(jsonShapeProblem("[1,2,3,4]", 3)!, /more than 3 values/)
  })
  it("parseJsonObject wants exactly one object", () => {
    assert.isTrue(Result.isSuccess(parseJsonObject(' \n{"a":1}\t')))
    for (const bad of ["", "1", "[]", "null", '"s"', "{}{}", "{} x", "\uFEFF{}"]) {
      assert.isTrue(Result.isFailure(parseJsonObject(bad)), bad)
    }
  })
})

describe("text", () => {
  it("trims Go's white space set, not JavaScript's", () => {
    assert.strictEqual(trimSpace("\u0085 a \t\n"), "a")
    assert.strictEqual(trimSpace("\uFEFFa"), "\uFEFFa")
    assert.strictEqual(trimSpace("   "), "")
  })
  it("counts UTF-8 bytes", () => {
    assert.strictEqual(utf8Length("aé€𝟙"), 1 + 2 + 3 + 4)
    assert.strictEqual(utf8Length("\uD800"), 3)
  })
  it("quotes values on one line and cuts long ones", () => {
    assert.strictEqual(quote("a\nb"), '"a\\nb"')
    assert.match(quote("x".repeat(500)), /^"x{160}"\.\.\. \(500 chars\)$/)
  })
  it("errorLine: one line, at most 1 KiB, never a broken character", () => {
    assert.strictEqual(errorLine("a\nb\r\nc"), "ascend-docker-hook: a; b; c\n")
    const long = errorLine("é".repeat(2000))
    assert.isAtMost(new TextEncoder().encode(long).length, 1024)
    assert.match(long, /^ascend-docker-hook: é+\.\.\.\n$/)
  })
})

describe("paths", () => {
  it("normalizes lexically, as path.resolve does", () => {
    assert.strictEqual(normalizeAbsolute("//a/./b/../c/"), "/a/c")
    assert.strictEqual(normalizeAbsolute("/../.."), "/")
    const parts = ["/", ".", "..", "a", "b.", ".c", "/"]
    let seed = 7
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    for (let i = 0; i < 5000; i++) {
      let p = "/"
      for (let n = next(9); n > 0; n--) p += parts[next(parts.length)]
      assert.strictEqual(normalizeAbsolute(p), path.posix.resolve(p), p)
    }
  })
  it("rootfs: absolute as written, relative joined and cleaned, / refused", () => {
    assert.deepStrictEqual(resolveRootfs("/b", "/x/"), Result.succeed("/x/"))
    assert.deepStrictEqual(resolveRootfs("/b/", "./r/../rootfs"), Result.succeed("/b/rootfs"))
    assert.deepStrictEqual(resolveRootfs("/b", ""), Result.succeed("/b"))
    assert.isTrue(Result.isFailure(resolveRootfs("/b", "//")))
    assert.isTrue(Result.isFailure(resolveRootfs("/b", "..")))
  })
  it("list lines: comments, blanks, CRLF, normalization", () => {
    assert.deepStrictEqual(parseMountListLine("  # x"), Result.succeed(undefined))
    assert.deepStrictEqual(parseMountListLine("\r"), Result.succeed(undefined))
    assert.deepStrictEqual(parseMountListLine(" /usr//lib/./x/ \r"), Result.succeed("/usr/lib/x"))
    assert.deepStrictEqual(parseMountListLine("/a~b-c_d.e"), Result.succeed("/a~b-c_d.e"))
  })
})

describe("env", () => {
  it("first occurrence wins; entries without '=' are skipped; keys are exact", () => {
    assert.strictEqual(lookupEnv(["A", "A=1", "A=2"], "A"), "1")
    assert.isUndefined(lookupEnv(["AB=1", "a=1"], "A"))
    assert.strictEqual(lookupEnv(["A="], "A"), "")
  })
  it("a blank ASCEND_RUNTIME_MOUNTS means base; options are canonical", () => {
    const r = decodeAscendEnv([
      "ASCEND_VISIBLE_DEVICES=1",
      "ASCEND_RUNTIME_MOUNTS= ",
      "ASCEND_RUNTIME_OPTIONS=VIRTUAL,NODRV,VIRTUAL"
    ])
    assert.deepStrictEqual(Option.getOrThrow(Result.getOrThrow(r)), {
      devices: [1],
      mountLists: ["base"],
      options: ["NODRV", "VIRTUAL"],
      allowLink: false,
      disableUbMount: false
    })
  })
})

describe("invocation", () => {
  it("parses the flags in both forms", () => {
    const r = parseInvocation(["--config-dir=/c", "--cli", "/x", "--state", "s.json", "--dry-run"])
    assert.deepStrictEqual(Result.getOrThrow(r), {
      command: "hook",
      dryRun: true,
      configDir: "/c",
      cliPath: "/x",
      statePath: "s.json"
    })
    assert.strictEqual(Result.getOrThrow(parseInvocation(["--dry-run", "--help"])).command, "help")
    assert.isTrue(Result.isFailure(parseInvocation(["--dry-run=1"])))
    assert.isTrue(Result.isFailure(parseInvocation(["--cli="])))
    assert.isTrue(Result.isFailure(parseInvocation(["positional"])))
  })
})
