import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SyncFileSystem from "../src/platform/SyncFileSystem.ts"
import { SpecParser } from "../src/services/SpecParser.ts"
import { RUNTIME_MARK } from "../src/wrapper/ContainerEdits.ts"
import { asksForNoNpu, decodeConfigText, markIfNoRequest } from "../src/wrapper/NoRequest.ts"
import { decodePlan, PLAN_ENV } from "../src/wrapper/Plan.ts"
import { prepareBundle, type WrapperSettings } from "../src/wrapper/WrapperMain.ts"
import { doc, naiveAsksForNothing } from "./support/configs.ts"
import { BINARY, cleanup, type Host, makeHost, recordingCli, scratch } from "./support/fixtures.ts"

// The wrapper's work in proportion to what a container asks (issue 22): the no-request path that loads no
// Effect, held to the full path's verdicts and bytes; and the plan made once at create, which the hook runs
// at prestart with the same argv, env and refusals as the whole pipeline.

const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) cleanup(d)
})

describe("a container that asks for nothing: decided exactly, as every stage reads the config", () => {
  const asks = (text: string) => {
    const config = decodeConfigText(text, "/b")
    assert.isDefined(config, text)
    return !asksForNoNpu(config!)
  }
  // Each of these asks for NPUs, and a check of the text alone says it does not (the foil proves the case
  // would catch that shortcut; verified once by putting naiveAsksForNothing in asksForNoNpu's place).
  const requests: ReadonlyArray<readonly [string, string]> = [
    ["the key written with a JSON escape", doc(String.raw`["ASCEND\u005fVISIBLE_DEVICES=0"]`)],
    ["the whole entry escaped", doc(String.raw`["\u0041SCEND_VISIBLE_DEVICES=0-3"]`)],
    ["duplicated: the first entry wins", doc(`["ASCEND_VISIBLE_DEVICES=0","ASCEND_VISIBLE_DEVICES=void"]`)],
    [
      "void only where no stage reads it (a hook's env), the request in process.env",
      `${doc(`["ASCEND_VISIBLE_DEVICES=1"]`).slice(0, -1)},"hooks":{"prestart":[{"path":"/x","env":["ASCEND_VISIBLE_DEVICES=void"]}]}}`
    ],
    [
      "duplicated key: JSON.parse takes the last process, as SpecParser does",
      `{"process":{"env":["ASCEND_VISIBLE_DEVICES=void"]},${doc(`["ASCEND_VISIBLE_DEVICES=2"]`, `{"note":"ASCEND_VISIBLE_DEVICES=void"}`).slice(1)}`
    ],
    ["in a CDI annotation, no env at all", doc("[]", `{"cdi.k8s.io/npu":"ascend.com/npu=0"}`)],
    ["in an annotation written with escapes", doc("[]", String.raw`{"cdi.k8s.io\u002fa":"ascend.com\u002fnpu=1"}`)],
    [
      "in an annotation of the older kind",
      doc(`["ASCEND_VISIBLE_DEVICES=void"]`, `{"cdi.k8s.io/x":"huawei.com/npu=0"}`)
    ]
  ]
  for (const [name, text] of requests) {
    it(`asks: ${name}`, () => {
      assert.isTrue(asks(text), text)
      assert.isTrue(naiveAsksForNothing(text), "the text-only check gets this case wrong")
    })
  }
  it("asks for nothing: unset, blank, void (spaces around it), another vendor's kind, another key", () => {
    for (const text of [
      doc("[]"),
      doc(`["PATH=/bin"]`),
      doc(`["ASCEND_VISIBLE_DEVICES="]`),
      doc(`["ASCEND_VISIBLE_DEVICES= void "]`),
      doc(`["ASCEND_VISIBLE_DEVICES_X=0","XASCEND_VISIBLE_DEVICES=0"]`),
      doc(`["ASCEND_VISIBLE_DEVICES=void","ASCEND_VISIBLE_DEVICES=0"]`),
      doc("[]", `{"cdi.k8s.io/gpu":"nvidia.com/gpu=0","ascend.com/npu":"0"}`),
      `{"process":{"env":null},"root":{"path":"rootfs"}}`
    ])
      assert.isFalse(asks(text), text)
  })
  it("what SpecParser would refuse is not decided here (the full path refuses it in its own words)", () => {
    for (const text of [
      "{",
      "[]",
      `{"process":{"env":[1]},"root":{"path":"rootfs"}}`,
      `{"process":{},"root":{"path":"/"}}`,
      `{"root":{"path":"rootfs"}}`,
      `${"[".repeat(100)}${"]".repeat(100)}`
    ])
      assert.isUndefined(decodeConfigText(text, "/b"), text)
  })
})

describe("the no-request path writes what the full path writes, byte for byte", () => {
  const settings = (bundle: string, base: string): WrapperSettings => ({
    bundle,
    mode: "hook",
    devRoot: path.join(base, "dev"),
    configDir: path.join(base, "conf"),
    configDirGiven: true,
    protocol: "2023",
    hook: { path: path.join(base, "ascend-docker-hook"), args: ["ascend-docker-hook"] },
    cliPath: path.join(base, "ascend-docker-cli"),
    uid: 0,
    unprivilegedEnv: "accept"
  })
  const texts = [
    doc("[]"),
    doc(String.raw`["A=\u00e9","B=\ud83d\ude00"]`),
    '{ "ociVersion": "1.0.2",\n  "process": {"env": ["X=1"], "rlimit": 9223372036854775807},\n  "root": {"path": "r"} }\n',
    `{"process":{"env":["${RUNTIME_MARK}"]},"root":{"path":"r"}}`,
    `{"process":{"env":["ASCEND_DOCKER_RUNTIME=False","ASCEND_VISIBLE_DEVICES=void"]},"root":{"path":"r"}}`,
    `{"process":{"cwd":"/"},"root":{"path":"r"}}`,
    `{"process":{"env":null},"root":{"path":"r"}}`,
    '\r\n{"process":\t{"env":[]},"root":{"path":"r"}}  \r\n',
    `{"process":{"env":[]},"root":{"path":"/"}}`,
    `{"process":{"env":["ASCEND_VISIBLE_DEVICES=0"]},"root":{"path":"r"}}`,
    "not json"
  ]
  it("for each config: the same bytes, the config a request goes on from, or the full path's turn (and it refuses)", () => {
    const specLayer = SpecParser.layer.pipe(Layer.provide(SyncFileSystem.layer))
    let requests = 0
    const base = scratch()
    dirs.push(base)
    fs.mkdirSync(path.join(base, "dev"))
    fs.mkdirSync(path.join(base, "conf"))
    for (const [i, text] of texts.entries()) {
      const bundle = path.join(base, `b${i}`)
      fs.mkdirSync(bundle)
      const file = path.join(bundle, "config.json")
      fs.writeFileSync(file, text, { mode: 0o640 })
      fs.writeFileSync(path.join(bundle, "config.json.ascend-killed1.tmp"), "left by a killed run")
      const fast = markIfNoRequest(fs, bundle)
      const fastBytes = fs.readFileSync(file, "utf8")
      const fastDir = fs.readdirSync(bundle).sort()
      const fastMode = fs.statSync(file).mode
      fs.writeFileSync(file, text)
      fs.chmodSync(file, 0o640)
      fs.writeFileSync(path.join(bundle, "config.json.ascend-killed1.tmp"), "left by a killed run")
      const failure = prepareBundle(settings(bundle, base))
      if (typeof fast === "object") {
        // A request: the full path goes on from the config the first look decoded, which must be the one
        // SpecParser reads and decodes itself (the prepareBundle just above had no such hand-over).
        assert.strictEqual(fastBytes, text, "nothing written for a request")
        assert.deepStrictEqual(fast.asks, decodeConfigText(text, bundle))
        assert.deepStrictEqual(
          fast.asks,
          Effect.runSync(SpecParser.use((p) => p.parse(bundle)).pipe(Effect.provide(specLayer)))
        )
        requests++
        continue
      }
      if (fast === "full") {
        assert.strictEqual(fastBytes, text, "nothing written when the answer is not certain")
        assert.isDefined(failure, text)
        continue
      }
      assert.isUndefined(failure, text)
      assert.strictEqual(fastBytes, fs.readFileSync(file, "utf8"), text)
      assert.deepStrictEqual(fastDir, fs.readdirSync(bundle).sort(), "the killed run's temp file is gone both ways")
      assert.strictEqual(fastMode, fs.statSync(file).mode)
      assert.strictEqual(fast, fastBytes === text ? "unchanged" : "edited")
    }
    assert.strictEqual(requests, 1, "the request among the configs took its branch")
  })
  it("a link or a FIFO is never opened: the full path refuses it", () => {
    const base = scratch()
    dirs.push(base)
    const bundle = path.join(base, "b")
    fs.mkdirSync(bundle)
    fs.writeFileSync(path.join(base, "real.json"), doc("[]"))
    fs.symlinkSync(path.join(base, "real.json"), path.join(bundle, "config.json"))
    assert.strictEqual(markIfNoRequest(fs, bundle), "full")
    assert.strictEqual(fs.readFileSync(path.join(base, "real.json"), "utf8"), doc("[]"))
    fs.rmSync(path.join(bundle, "config.json"))
    spawnSync("mkfifo", [path.join(bundle, "config.json")])
    assert.strictEqual(markIfNoRequest(fs, bundle), "full")
  })
})

describe.runIf(fs.existsSync(BINARY))("the plan made at create, run by the hook at prestart", () => {
  // The binary next to the recording CLI, as installed, and the wrapper as its link; hook mode with the 2021
  // protocol (the 2023 one, whose device nodes need mknod, is run under runc by e2e.runtime.test.ts).
  let bin = ""
  beforeAll(() => {
    bin = scratch()
    dirs.push(bin)
    fs.copyFileSync(BINARY, path.join(bin, "ascend-docker-hook"))
    fs.chmodSync(path.join(bin, "ascend-docker-hook"), 0o755)
    fs.copyFileSync(recordingCli("2021"), path.join(bin, "ascend-docker-cli"))
    fs.chmodSync(path.join(bin, "ascend-docker-cli"), 0o755)
    fs.symlinkSync("ascend-docker-hook", path.join(bin, "ascend-docker-runtime"))
  }, 60_000)

  const host = (env: ReadonlyArray<string>, lists: Record<string, string> = {}) => {
    const h = makeHost({ env, lists: { base: "", ...lists } })
    dirs.push(h.dir)
    return h
  }
  /** `ascend-docker-runtime create` (runc: the recording stand-in); the hook entry it wrote. */
  const create = (h: Host, env: Record<string, string> = {}) => {
    const r = spawnSync(path.join(bin, "ascend-docker-runtime"), ["create", "--bundle", h.bundle, "c1"], {
      encoding: "utf8",
      env: {
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
        ADH_RECORD: h.record,
        ASCEND_DOCKER_RUNTIME_RUNC: recordingCli(),
        ASCEND_DOCKER_RUNTIME_CONFIG_DIR: h.configDir,
        ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL: "2021",
        ...env
      }
    })
    assert.strictEqual(r.status, 0, r.stderr)
    const config = JSON.parse(fs.readFileSync(path.join(h.bundle, "config.json"), "utf8"))
    return config.hooks?.prestart?.[0] as { path: string; args: Array<string>; env: Array<string> } | undefined
  }
  /** Runs a hook entry as runc would: its args and env, the state on stdin, cwd the bundle. */
  const runEntry = (h: Host, entry: { path: string; args: Array<string>; env: Array<string> }, state = h.state) => {
    const record = path.join(bin, "record.json")
    fs.rmSync(record, { force: true })
    const r = spawnSync(entry.path, entry.args.slice(1), {
      argv0: entry.args[0],
      cwd: h.bundle,
      input: state,
      encoding: "utf8",
      env: Object.fromEntries(entry.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]))
    })
    const cli = fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, "utf8")) : undefined
    return {
      status: r.status,
      stderr: r.stderr,
      stdout: r.stdout,
      argv: cli?.argv,
      env: cli?.env,
      nonblock: cli?.nonblock
    }
  }
  const withoutPlan = (entry: { path: string; args: Array<string>; env: Array<string> }) => ({
    ...entry,
    env: entry.env.filter((e) => !e.startsWith(`${PLAN_ENV}=`))
  })

  it("the planned hook execs exactly what the whole pipeline execs; the CLI never sees the plan", () => {
    const h = host(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_MOUNTS=a"], { a: `${h0Files()}\n` })
    const entry = create(h)!
    const plan = decodePlan(entry.env.find((e) => e.startsWith(`${PLAN_ENV}=`))!.slice(PLAN_ENV.length + 1))
    assert.isDefined(plan)
    assert.strictEqual(plan!.bundle, h.bundle)
    const planned = runEntry(h, entry)
    const whole = runEntry(h, withoutPlan(entry))
    assert.strictEqual(planned.status, 0, planned.stderr)
    assert.deepStrictEqual(planned.argv, whole.argv)
    assert.include(planned.argv, "4242")
    assert.deepStrictEqual(planned.env, whole.env)
    assert.isFalse((planned.env as Array<string>).some((e) => e.startsWith(PLAN_ENV)))
    assert.deepStrictEqual(planned.nonblock, [0, 0, 0])
    // The plan is what runs: config.json, which runc read at create, is not read again at prestart.
    fs.writeFileSync(path.join(h.bundle, "config.json"), "{")
    assert.deepStrictEqual(runEntry(h, entry).argv, whole.argv)
    assert.strictEqual(runEntry(h, withoutPlan(entry)).status, 1)
  })

  it("what an image sets cannot become a plan: its env stays in process.env, the entry's env is ours", () => {
    const forged = `${PLAN_ENV}={"v":1,"bundle":"/","rootfs":"/x","mounts":[],"argv":["/bin/sh","-c","x","--pid","0"]}`
    const h = host([forged, "ASCEND_VISIBLE_DEVICES=0"])
    const entry = create(h)!
    assert.deepStrictEqual(entry.env.length, 2)
    const plan = decodePlan(entry.env[1]!.slice(PLAN_ENV.length + 1))!
    assert.strictEqual(plan.argv[0], path.join(bin, "ascend-docker-cli"))
    const none = host([forged])
    assert.isUndefined(create(none), "no request, no hook")
  })

  it("anything not as planned runs the whole pipeline, with its argv or its refusal, word for word", () => {
    const h = host(["ASCEND_VISIBLE_DEVICES=0"], { base: "/usr/lib\n" })
    const entry = create(h)!
    const other = host(["ASCEND_VISIBLE_DEVICES=1"])
    const cases: ReadonlyArray<readonly [string, typeof entry, string]> = [
      ["a state of another bundle", entry, other.state],
      ["a garbled plan", { ...entry, env: [entry.env[0]!, `${PLAN_ENV}={"v":1,`] }, h.state],
      ["--dry-run given", { ...entry, args: [...entry.args, "--dry-run"] }, h.state],
      ["a state that is not JSON", entry, "{"],
      ["a state over the limit", entry, " ".repeat(1024 * 1024 + 1)]
    ]
    for (const [name, e, state] of cases) {
      const planned = runEntry(h, e, state)
      const whole = runEntry(h, withoutPlan(e), state)
      assert.deepStrictEqual(
        [planned.status, planned.stdout, planned.stderr, planned.argv],
        [whole.status, whole.stdout, whole.stderr, whole.argv],
        name
      )
    }
    // A destination that leads out of the rootfs, made after create: refused at prestart, as before.
    fs.mkdirSync(path.join(h.bundle, "rootfs/usr"), { recursive: true })
    fs.symlinkSync("/etc", path.join(h.bundle, "rootfs/usr/lib"))
    const planned = runEntry(h, entry)
    assert.strictEqual(planned.status, 1)
    assert.include(planned.stderr, "leads out of the rootfs")
    assert.strictEqual(planned.stderr, runEntry(h, withoutPlan(entry)).stderr)
    assert.isUndefined(planned.argv, "the CLI never ran")
  })

  it("a vNPU ask the wrapper ignored (unprivileged, policy ignore) while it served an annotation: so does the hook", () => {
    // The device plugin's annotation is served whatever the policy; the container's own ASCEND_VNPU_SPECS goes
    // through the gate and is ignored. The hook at prestart (the whole pipeline: the admin gave it a log)
    // must follow the wrapper, not refuse the vNPU ask it sees in the env (a review found it did).
    const h = makeHost({
      config: {
        process: { env: ["PATH=/bin", "ASCEND_VNPU_SPECS=vir01"] },
        root: { path: "rootfs" },
        annotations: { "cdi.k8s.io/ascend": "ascend.com/npu=0" }
      },
      lists: { base: "" }
    })
    dirs.push(h.dir)
    const log = path.join(h.dir, "hook.log")
    const entry = create(h, {
      ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: "ignore",
      ASCEND_DOCKER_RUNTIME_HOOK_ARGS: `--log ${log}`
    })!
    assert.isFalse(
      entry.env.some((e) => e.startsWith(PLAN_ENV)),
      "the whole pipeline at prestart"
    )
    const r = runEntry(h, entry)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepStrictEqual(r.argv?.slice(1, 3), ["--devices", "0"])
  })

  it("no plan where the admin gave the hook arguments, or a stage refuses at create: the hook refuses at prestart", () => {
    const logged = host(["ASCEND_VISIBLE_DEVICES=0"])
    const entry = create(logged, { ASCEND_DOCKER_RUNTIME_HOOK_ARGS: `--log ${path.join(logged.dir, "hook.log")}` })!
    assert.isFalse(entry.env.some((e) => e.startsWith(PLAN_ENV)))
    const missing = host(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_MOUNTS=nosuch"])
    const plain = create(missing)!
    assert.isFalse(plain.env.some((e) => e.startsWith(PLAN_ENV)))
    const r = runEntry(missing, plain)
    assert.strictEqual(r.status, 1)
    assert.include(r.stderr, "nosuch")
  })
})

/** A mount-list line: a file the test host has (the lists' own dir would do; a list file is a regular file). */
const h0Files = () => "/etc/hostname"
