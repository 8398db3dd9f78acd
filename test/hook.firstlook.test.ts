import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { firstLookStep } from "../src/wrapper/PlannedHook.ts"
import { doc, naiveAsksForNothing } from "./support/configs.ts"
import { BUILDS, cleanup, makeHost, processBuilds, runHook, scratch } from "./support/fixtures.ts"

// The hook's first look (issue 22): registered without a plan, as hooks.d registers it for every container
// of Podman and CRI-O, the hook decides "asks for no NPU" without loading Effect, from the state and
// config.json decoded as StateReader and SpecParser decode them. It must answer exactly as the pipeline
// would, or leave the answer to it.

const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) cleanup(d)
})

// Each asks for NPUs through the env, and a check of the text alone says it does not.
const requests: ReadonlyArray<readonly [string, string]> = [
  ["the key written with a JSON escape", doc(String.raw`["ASCEND\u005fVISIBLE_DEVICES=0"]`)],
  ["duplicated: the first entry wins", doc(`["ASCEND_VISIBLE_DEVICES=0","ASCEND_VISIBLE_DEVICES=void"]`)],
  [
    "duplicated key: JSON.parse takes the last process, as SpecParser does",
    `{"process":{"env":["ASCEND_VISIBLE_DEVICES=void"]},${doc(`["ASCEND_VISIBLE_DEVICES=2"]`, `{"n":"ASCEND_VISIBLE_DEVICES=void"}`).slice(1)}`
  ]
]
// Each asks for nothing the hook reads (a CDI annotation is the wrapper's to turn into env, never the hook's).
const nothing: ReadonlyArray<readonly [string, string]> = [
  ["no env", doc("[]")],
  ["another variable", doc(`["PATH=/bin"]`)],
  ["blank", doc(`["ASCEND_VISIBLE_DEVICES="]`)],
  ["void with spaces", doc(`["ASCEND_VISIBLE_DEVICES= void "]`)],
  ["void first, a request after it", doc(`["ASCEND_VISIBLE_DEVICES=void","ASCEND_VISIBLE_DEVICES=0"]`)],
  ["a CDI annotation only", doc("[]", `{"cdi.k8s.io/npu":"ascend.com/npu=0"}`)],
  ["env null", `{"process":{"env":null},"root":{"path":"rootfs"}}`]
]
// What the pipeline refuses or reads another way is never answered by the first look.
const refused: ReadonlyArray<readonly [string, string]> = [
  ["not JSON", "{"],
  ["an env entry not a string", `{"process":{"env":[1]},"root":{"path":"rootfs"}}`],
  ["the host's root as rootfs", `{"process":{"env":[]},"root":{"path":"/"}}`],
  [
    "nested deeper than the pre-scan allows",
    `{"process":{"env":[]},"root":{"path":"rootfs"},"x":${"[".repeat(80)}${"]".repeat(80)}}`
  ]
]

describe("the hook's first look, in process", () => {
  const look = (config: string, state?: (bundle: string) => string) => {
    const h = makeHost({ config })
    dirs.push(h.dir)
    const stateFile = path.join(h.dir, "state.json")
    fs.writeFileSync(stateFile, state === undefined ? h.state : state(h.bundle))
    return firstLookStep(fs, stateFile)._tag
  }
  for (const [name, text] of requests) {
    it(`a request goes to the pipeline: ${name}`, () => {
      assert.strictEqual(look(text), "Pipeline")
      assert.isTrue(naiveAsksForNothing(text), "the text-only check gets this case wrong")
    })
  }
  it("asks for nothing: answered here", () => {
    for (const [name, text] of nothing) assert.strictEqual(look(text), "Nothing", name)
  })
  it("a config or state the pipeline refuses goes to the pipeline", () => {
    for (const [name, text] of refused) assert.strictEqual(look(text), "Pipeline", name)
    const none = doc("[]")
    assert.strictEqual(
      look(none, () => "{"),
      "Pipeline",
      "state not JSON"
    )
    assert.strictEqual(
      look(none, (b) => JSON.stringify({ id: "c", status: "creating", bundle: b })),
      "Pipeline"
    )
    assert.strictEqual(
      look(none, () => JSON.stringify({ ociVersion: "1.0.2", id: "c", status: "creating", pid: 1, bundle: "rel" })),
      "Pipeline",
      "a relative bundle"
    )
  })
  it("a config.json that is a link is left to the pipeline (which follows it)", () => {
    const h = makeHost({ config: doc("[]") })
    dirs.push(h.dir)
    fs.renameSync(path.join(h.bundle, "config.json"), path.join(h.dir, "real.json"))
    fs.symlinkSync(path.join(h.dir, "real.json"), path.join(h.bundle, "config.json"))
    const stateFile = path.join(h.dir, "state.json")
    fs.writeFileSync(stateFile, h.state)
    assert.strictEqual(firstLookStep(fs, stateFile)._tag, "Pipeline")
  })
})

describe("the hook's first look, in the builds: the pipeline's outcome, word for word", () => {
  // With --log the hook always runs the pipeline (a log must be written); without it, args the first look
  // takes. Every other effect must be the same: status, stdout, stderr, and the CLI's argv when it runs.
  const outcome = (r: ReturnType<typeof runHook>) => ({
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    argv: r.cli?.argv
  })
  for (const build of processBuilds()) {
    it(`${build}: requests, nothing, refusals, and bad states`, () => {
      const cases: Array<readonly [string, string, string | undefined]> = [
        ...[...requests, ...nothing, ...refused].map(([n, t]) => [n, t, undefined] as const),
        ["a state without its pid", doc("[]"), "no-pid"],
        ["a state that is not JSON", doc("[]"), "garbage"]
      ]
      let execs = 0
      for (const [name, text, badState] of cases) {
        const h = makeHost({ config: text })
        dirs.push(h.dir)
        const stdin =
          badState === "no-pid"
            ? JSON.stringify({ ociVersion: "1.0.2", id: "c1", status: "creating", bundle: h.bundle })
            : badState === "garbage"
              ? "{{"
              : h.state
        const quick = outcome(runHook(h, { build, stdin }))
        const log = path.join(scratch(), "run.log")
        dirs.push(path.dirname(log))
        const whole = outcome(runHook(h, { build, stdin, args: ["--log", log] }))
        assert.deepStrictEqual(quick, whole, `${build}: ${name}`)
        assert.isTrue(fs.existsSync(log), `${name}: the pipeline ran where a log was asked for`)
        if (quick.argv !== undefined) execs++
      }
      assert.strictEqual(execs, requests.length, "each request reached the CLI, through the pipeline")
    }, 120_000)
  }
})

describe("the hook's first look on a non-blocking stdin written in pieces", () => {
  // A runtime may hand the hook its stdin non-blocking; the state then arrives as it is written. The first
  // look must wait out EAGAIN as the pipeline's reader does, not take half a state for a bad one.
  const SPLIT = String.raw`
import fcntl, json, os, subprocess, sys, time
cmd, state, env = json.loads(sys.argv[1]), sys.argv[2].encode(), json.loads(sys.argv[3])
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen(cmd, stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
os.close(r)
os.write(w, state[:20])
time.sleep(0.3)
os.write(w, state[20:])
os.close(w)
out, err = p.communicate()
print(json.dumps({"status": p.returncode, "stderr": err.decode()}))
`
  for (const build of processBuilds()) {
    it(`${build}: no request exits 0; a request reaches the CLI`, () => {
      for (const [env, cli] of [
        [["PATH=/bin"], false],
        [["ASCEND_VISIBLE_DEVICES=1"], true]
      ] as const) {
        const h = makeHost({ env: [...env] })
        dirs.push(h.dir)
        const command = [...BUILDS[build](), "--config-dir", h.configDir, "--cli", h.cli]
        const r = spawnSync(
          "/usr/bin/python3",
          ["-c", SPLIT, JSON.stringify(command), h.state, JSON.stringify({ ADH_RECORD: h.record })],
          {
            encoding: "utf8",
            cwd: h.bundle,
            timeout: 60_000
          }
        )
        assert.strictEqual(r.status, 0, r.stderr)
        const run = JSON.parse(r.stdout) as { status: number; stderr: string }
        assert.deepStrictEqual(run, { status: 0, stderr: "" }, `${build} ${env.join(" ")}`)
        assert.strictEqual(fs.existsSync(h.record), cli, "the CLI ran only for the request")
      }
    }, 120_000)
  }
})
