import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { EnvError } from "../src/schemas/AscendEnv.ts"
import { decodeAscendEnv } from "../src/schemas/ContainerEnv.ts"
import { decodeContainerConfig, SpecError } from "../src/schemas/ContainerSpec.ts"
import { decodeContainerState, StateError } from "../src/schemas/ContainerState.ts"
import { parseDeviceList } from "../src/schemas/DeviceList.ts"
import { parseInvocation } from "../src/schemas/Invocation.ts"
import { jsonSyntaxError } from "../src/schemas/Json.ts"
import { MountError, parseMountList } from "../src/schemas/MountList.ts"
import { parseMountListNames } from "../src/schemas/MountListNames.ts"
import { parseRuntimeOptions } from "../src/schemas/RuntimeOptions.ts"

// Fuzzing the decoders with random and mutated input: every outcome must be a value that keeps the
// invariants or the parser's typed error; never a throw. `npm test` runs FUZZ_RUNS (default 3000) cases
// per target; `npm run fuzz` runs 200 000 and prints the count, crashes and the slowest case.

/** A positive whole number from the env, or the default; anything else stops the run (never a silent pass). */
const count = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n <= 0)
    throw new Error(`${name}=${JSON.stringify(raw)} is not a positive whole number`)
  return n
}
const RUNS = count("FUZZ_RUNS", 3000)
const SEED = count("FUZZ_SEED", 20261128)

/** mulberry32: a small seeded PRNG, so a failure can be replayed with FUZZ_SEED. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const TOKENS = [
  ",",
  "-",
  " ",
  "\t",
  "\n",
  "\r",
  "{",
  "}",
  "[",
  "]",
  '"',
  ":",
  "\\",
  "\\u0000",
  "\u0000",
  "\uFEFF",
  "\u00A0",
  "\u0085",
  "\u212A",
  "0",
  "1",
  "1023",
  "1024",
  "-1",
  "+1",
  "1e3",
  "9999999999999999",
  "..",
  "/",
  "#",
  ".list",
  "NODRV",
  "VIRTUAL",
  "Ascend910-",
  "npu-",
  "Ascend310P-",
  "base",
  "null",
  "true",
  "pid",
  "bundle",
  "env",
  "process",
  "root",
  "path",
  "ASCEND_VISIBLE_DEVICES=",
  "=",
  "é",
  "\uD800",
  "𝟙"
]

const mutate = (rand: () => number, input: string): string => {
  let s = input
  const steps = 1 + Math.floor(rand() * 6)
  for (let i = 0; i < steps; i++) {
    const at = Math.floor(rand() * (s.length + 1))
    switch (Math.floor(rand() * 7)) {
      case 0:
        s = s.slice(0, at) + TOKENS[Math.floor(rand() * TOKENS.length)] + s.slice(at)
        break
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8))
        break
      case 2:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x3000)) + s.slice(at + 1)
        break
      case 3:
        s = s.slice(0, at) + s.slice(at, at + Math.floor(rand() * 16)).repeat(1 + Math.floor(rand() * 4)) + s.slice(at)
        break
      case 4:
        s = s.slice(0, at)
        break
      case 5:
        s = s.slice(at) + s.slice(0, at)
        break
      default:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + s.slice(at)
    }
  }
  return s
}

const randomString = (rand: () => number): string => {
  const n = Math.floor(rand() * 64)
  let s = ""
  for (let i = 0; i < n; i++) {
    const r = rand()
    s +=
      r < 0.5
        ? TOKENS[Math.floor(rand() * TOKENS.length)]
        : String.fromCharCode(Math.floor(rand() * (r < 0.9 ? 128 : 0xffff)))
  }
  return s
}

interface Target {
  readonly name: string
  readonly corpus: ReadonlyArray<string>
  /** Runs the parser; returns a string describing a broken invariant, or undefined. */
  readonly check: (input: string) => string | undefined
}

const isAbs = (p: string) => p.startsWith("/") && !/[\u0000-\u001f]/.test(p)
const sortedUnique = (xs: ReadonlyArray<number>) => xs.every((x, i) => i === 0 || x > xs[i - 1]!)

const targets: ReadonlyArray<Target> = [
  {
    name: "container state",
    corpus: [
      '{"ociVersion":"1.0.2-dev","id":"c1","status":"creating","pid":983,"bundle":"/run/c1"}',
      '{"pid":1,"bundle":"/b","root":"rootfs","status":"created"}'
    ],
    check: (input) => {
      const r = decodeContainerState(input, "stdin")
      if (Result.isFailure(r)) return r.failure instanceof StateError ? undefined : "not a StateError"
      const { pid, bundle } = r.success
      return Number.isInteger(pid) && pid > 0 && isAbs(bundle) ? undefined : `bad state ${JSON.stringify(r.success)}`
    }
  },
  {
    name: "config.json",
    corpus: [
      JSON.stringify({
        ociVersion: "1.0.2",
        process: { env: ["PATH=/bin", "ASCEND_VISIBLE_DEVICES=0"] },
        root: { path: "rootfs" }
      }),
      '{"process":{"env":null},"root":{"path":"/abs/root"}}'
    ],
    check: (input) => {
      const r = decodeContainerConfig(input, "/b/config.json", "/b")
      if (Result.isFailure(r)) return r.failure instanceof SpecError ? undefined : "not a SpecError"
      const ok =
        isAbs(r.success.rootfs) && r.success.rootfs !== "/" && r.success.env.every((e) => typeof e === "string")
      return ok ? undefined : `bad config ${JSON.stringify(r.success).slice(0, 200)}`
    }
  },
  {
    name: "ASCEND_VISIBLE_DEVICES",
    corpus: ["0,1,3", "0-7", " 3 - 5 ,Ascend910-1,npu-2", "1023"],
    check: (input) => {
      const r = parseDeviceList(input)
      if (Result.isFailure(r)) return r.failure instanceof EnvError ? undefined : "not an EnvError"
      const ok =
        r.success.length > 0 &&
        sortedUnique(r.success) &&
        r.success.every((x) => Number.isInteger(x) && x >= 0 && x <= 1023)
      return ok ? undefined : `bad ids ${r.success}`
    }
  },
  {
    name: "ASCEND_RUNTIME_MOUNTS",
    corpus: ["base", "base, Extra ,tools", "a.b_c-d"],
    check: (input) => {
      const r = parseMountListNames(input)
      if (Result.isFailure(r)) return r.failure instanceof EnvError ? undefined : "not an EnvError"
      const ok = r.success.every((n) => /^[a-z0-9][a-z0-9_.-]*$/.test(n) && !n.includes("..") && n.length <= 250)
      return ok && new Set(r.success).size === r.success.length ? undefined : `bad names ${r.success}`
    }
  },
  {
    name: "ASCEND_RUNTIME_OPTIONS",
    corpus: ["NODRV", "VIRTUAL,NODRV", " NODRV , VIRTUAL "],
    check: (input) => {
      const r = parseRuntimeOptions(input)
      if (Result.isFailure(r)) return r.failure instanceof EnvError ? undefined : "not an EnvError"
      const text = r.success.join(",")
      return ["", "NODRV", "VIRTUAL", "NODRV,VIRTUAL"].includes(text) ? undefined : `bad options ${text}`
    }
  },
  {
    name: "container env (all three)",
    corpus: ["ASCEND_VISIBLE_DEVICES=0\nASCEND_RUNTIME_MOUNTS=base\nASCEND_RUNTIME_OPTIONS=NODRV\nFOO"],
    check: (input) => {
      const r = decodeAscendEnv(input.split("\n"))
      if (Result.isFailure(r)) return r.failure instanceof EnvError ? undefined : "not an EnvError"
      if (Option.isNone(r.success)) return undefined
      return r.success.value.devices.length > 0 && r.success.value.mountLists.length > 0 ? undefined : "empty request"
    }
  },
  {
    name: "mount list",
    corpus: ["/usr/local/Ascend/driver/lib64\n# comment\n\n/usr/local/bin/npu-smi\n", "/a/./b/../c/\r\n"],
    check: (input) => {
      const r = parseMountList(input, "/etc/x.list")
      if (Result.isFailure(r)) return r.failure instanceof MountError ? undefined : "not a MountError"
      const ok = r.success.every(
        (e) => isAbs(e.path) && /^[A-Za-z0-9._/~-]+$/.test(e.path) && e.path !== "/" && !e.path.includes("//")
      )
      return ok ? undefined : `bad entries ${JSON.stringify(r.success).slice(0, 200)}`
    }
  },
  {
    name: "JSON syntax locator agrees with JSON.parse",
    corpus: ['{"a":[1,2.5e3,-0,"x\\u00e9\\n"],"b":{"c":null,"d":true,"e":false}}', '[{"pid":1}, "s", 0]', ' "x" '],
    check: (input) => {
      let parses = true
      try {
        JSON.parse(input)
      } catch {
        parses = false
      }
      const located = jsonSyntaxError(input)
      if (parses) return located === undefined ? undefined : `valid JSON reported as ${located}`
      return located !== undefined && /^at line [0-9]+ column [0-9]+: /.test(located)
        ? undefined
        : `invalid JSON not located (${String(located)})`
    }
  },
  {
    name: "hook arguments",
    corpus: ["--config-dir\n/etc/x\n--cli=/usr/bin/c\n--dry-run", "--state\n/s.json"],
    check: (input) => {
      const r = parseInvocation(input.split("\n"))
      return Result.isFailure(r) && typeof r.failure !== "string" ? "failure is not a message" : undefined
    }
  }
]

describe(`fuzzing the decoders (${RUNS} cases per target, seed ${SEED})`, () => {
  for (const target of targets) {
    it(target.name, () => {
      const rand = prng(SEED ^ target.name.length)
      const crashes: Array<string> = []
      let slowest = 0
      let slowestInput = ""
      for (let i = 0; i < RUNS; i++) {
        const input =
          rand() < 0.25 ? randomString(rand) : mutate(rand, target.corpus[Math.floor(rand() * target.corpus.length)]!)
        const start = performance.now()
        let problem: string | undefined
        try {
          problem = target.check(input)
        } catch (e) {
          problem = `threw ${e instanceof Error ? e.message : String(e)}`
        }
        const took = performance.now() - start
        if (took > slowest) {
          slowest = took
          slowestInput = input
        }
        if (problem !== undefined) crashes.push(`${problem} on ${JSON.stringify(input).slice(0, 300)}`)
      }
      if (process.env.FUZZ_REPORT) {
        console.log(
          `fuzz ${target.name}: ${RUNS} cases, ${crashes.length} crashes, slowest ${slowest.toFixed(2)} ms on ${JSON.stringify(slowestInput).slice(0, 80)}`
        )
      }
      assert.deepStrictEqual(crashes.slice(0, 5), [])
    })
  }
})
