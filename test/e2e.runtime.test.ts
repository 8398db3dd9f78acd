import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { BINARY, cleanup, HOOK, inCI, NODE, recordingCli, scratch } from "./support/fixtures.ts"

// The hook where it lives: runc and crun start real containers (a busybox rootfs, `runc spec`) with the
// built hook registered as an installer would (absolute path, args, an explicit env without PATH), once
// as a prestart and once as a createRuntime hook. The CLI is the recording stand-in; it checks that
// --pid is a live process in another mount namespace (the container's init).

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))
const missing = [...["runc", "crun", "unshare"].filter((c) => !which(c)), ...(BUSYBOX === undefined ? ["busybox"] : [])]
const isRoot = process.getuid?.() === 0
const canRun = missing.length === 0 && isRoot

if (!canRun) {
  const why = isRoot ? `missing ${missing.join(", ")}` : "not root"
  if (inCI)
    throw new Error(`end-to-end runtime tests cannot run in CI: ${why} (.ci/run installs runc crun busybox-static)`)
  console.warn(`SKIPPING end-to-end runtime tests outside CI: ${why}`)
}

type Runtime = "runc" | "crun"
type Stage = "prestart" | "createRuntime"

let base = ""
let rootfs = ""
const ids: Array<string> = []
let counter = 0

beforeAll(() => {
  if (!canRun) return
  base = scratch()
  rootfs = path.join(base, "rootfs")
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true })
  fs.copyFileSync(BUSYBOX!, path.join(rootfs, "bin/busybox"))
  fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755)
  fs.symlinkSync("busybox", path.join(rootfs, "bin/sh"))
  fs.mkdirSync(path.join(base, "conf"), { mode: 0o755 })
  fs.writeFileSync(path.join(base, "conf/base.list"), "/usr/lib\n/etc/hostname\n/nonexistent\n")
  fs.writeFileSync(path.join(base, "conf/extra.list"), "/usr/share\n")
  // The binary installed as an installer would: the CLI next to it, no node anywhere on its PATH.
  fs.mkdirSync(path.join(base, "bin"), { mode: 0o755 })
  fs.copyFileSync(BINARY, path.join(base, "bin/ascend-docker-hook"))
  fs.copyFileSync(recordingCli(), path.join(base, "bin/ascend-docker-cli"))
  fs.chmodSync(path.join(base, "bin/ascend-docker-hook"), 0o755)
  fs.chmodSync(path.join(base, "bin/ascend-docker-cli"), 0o755)
  fs.symlinkSync("ascend-docker-hook", path.join(base, "bin/ascend-docker-runtime"))
})

afterAll(() => {
  if (!canRun) return
  for (const id of ids) {
    spawnSync("runc", ["delete", "-f", id])
    spawnSync("crun", ["delete", "-f", id])
  }
  const left = ["runc", "crun"].flatMap((rt) =>
    execFileSync(rt, ["list", "-q"], { encoding: "utf8" })
      .split("\n")
      .filter((id) => ids.includes(id))
  )
  cleanup(base)
  assert.deepStrictEqual(left, [], "containers left behind")
})

interface Started {
  readonly id: string
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  readonly record?: {
    readonly argv: ReadonlyArray<string>
    readonly env: ReadonlyArray<string>
    readonly pidAlive: boolean
    readonly mntnsDiffers: boolean
  }
  /** The state the runtime sent its hooks, captured by a hook that runs before ours. */
  readonly state?: Record<string, unknown>
}

/** Makes a bundle with `runc spec`, registers the hook, and runs the container to completion. */
const start = (
  runtime: Runtime,
  stage: Stage,
  env: ReadonlyArray<string>,
  hookEnv: ReadonlyArray<string> = [],
  build: "bundle" | "binary" = "bundle"
): Started => {
  const id = `adh-e2e-${process.pid}-${++counter}`
  ids.push(id)
  const bundle = path.join(base, id)
  fs.mkdirSync(bundle)
  execFileSync("runc", ["spec"], { cwd: bundle })
  const record = path.join(bundle, "record.json")
  const stateCopy = path.join(bundle, "state.json")
  const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
  config.root = { path: rootfs, readonly: true }
  config.process.terminal = false
  config.process.args = ["sh", "-c", `echo MARKER-${id}`]
  config.process.env = [...config.process.env, ...env]
  config.hooks = {
    [stage]: [
      { path: "/bin/sh", args: ["sh", "-c", `/bin/cat > ${stateCopy}`] },
      build === "bundle"
        ? {
            path: NODE,
            args: ["node", HOOK, "--config-dir", path.join(base, "conf"), "--cli", recordingCli()],
            env: [`ADH_RECORD=${record}`, ...hookEnv],
            timeout: 30
          }
        : {
            path: path.join(base, "bin/ascend-docker-hook"),
            args: ["ascend-docker-hook", "--config-dir", path.join(base, "conf")],
            env: [`ADH_RECORD=${record}`, ...hookEnv],
            timeout: 30
          }
    ]
  }
  fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(config))
  const command =
    runtime === "runc"
      ? ["runc", ["run", "--bundle", bundle, id]]
      : // crun fails on these machines' hybrid cgroup layout; in a private mount namespace without the
        // unified hierarchy it works. Nothing on the host changes.
        [
          "unshare",
          ["-m", "sh", "-c", `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run --bundle ${bundle} ${id}`]
        ]
  const result = spawnSync(command[0] as string, command[1] as Array<string>, {
    cwd: bundle,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000
  })
  spawnSync(runtime, ["delete", "-f", id])
  return {
    id,
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    record: fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, "utf8")) : undefined,
    state: fs.existsSync(stateCopy) ? JSON.parse(fs.readFileSync(stateCopy, "utf8")) : undefined
  }
}

for (const runtime of ["runc", "crun"] as const) {
  for (const stage of ["prestart", "createRuntime"] as const) {
    describe.runIf(canRun)(`under ${runtime}, as a ${stage} hook`, () => {
      it("devices requested: the container runs and the CLI gets exactly the argv", () => {
        const run = start(runtime, stage, [
          "ASCEND_VISIBLE_DEVICES=3, 1-2,npu-1",
          "ASCEND_RUNTIME_MOUNTS=base,EXTRA",
          "ASCEND_RUNTIME_OPTIONS=VIRTUAL"
        ])
        assert.strictEqual(run.status, 0, run.stderr)
        assert.include(run.stdout, `MARKER-${run.id}`)
        assert.isDefined(run.record, "the CLI ran")
        const pid = run.record!.argv[4]!
        assert.deepStrictEqual(run.record!.argv, [
          recordingCli(),
          "--devices",
          "1,2,3",
          "--pid",
          pid,
          "--rootfs",
          rootfs,
          "--mount-file",
          "/etc/hostname",
          "--mount-dir",
          "/usr/lib",
          "--mount-dir",
          "/usr/share",
          "--options",
          "VIRTUAL"
        ])
        assert.strictEqual(pid, String(run.state!.pid), "--pid is the pid the runtime gave")
        assert.isTrue(run.record!.pidAlive, "--pid names a live process")
        assert.isTrue(run.record!.mntnsDiffers, "--pid is in another mount namespace: the container's init")
        assert.deepStrictEqual(run.record!.env, [`ADH_RECORD=${path.join(base, run.id, "record.json")}`])
      })

      it("no ASCEND_VISIBLE_DEVICES: the container runs and the CLI never starts", () => {
        const run = start(runtime, stage, [])
        assert.strictEqual(run.status, 0, run.stderr)
        assert.include(run.stdout, `MARKER-${run.id}`)
        assert.isUndefined(run.record)
      })

      it("a bad value: the runtime refuses the container, and no container is left", () => {
        const run = start(runtime, stage, ["ASCEND_VISIBLE_DEVICES=a"])
        assert.notStrictEqual(run.status, 0)
        assert.notInclude(run.stdout, "MARKER")
        assert.isUndefined(run.record)
        if (runtime === "runc") {
          assert.include(
            run.stderr,
            'ascend-docker-hook: container env ASCEND_VISIBLE_DEVICES: item \\"a\\" is not a device id'
          )
        } else {
          assert.match(run.stderr, /error executing hook .* \(exit code: 1\)/)
        }
        const list = execFileSync(runtime, ["list", "-q"], { encoding: "utf8" })
        assert.notInclude(list.split("\n"), run.id)
      })

      it("the CLI exits non-zero: the container is refused with the CLI's status", () => {
        const run = start(runtime, stage, ["ASCEND_VISIBLE_DEVICES=0"], ["ADH_EXIT=5"])
        assert.notStrictEqual(run.status, 0)
        assert.notInclude(run.stdout, "MARKER")
        assert.isDefined(run.record, "the CLI ran")
        if (runtime === "runc") assert.include(run.stderr, "exit status 5")
        else assert.match(run.stderr, /\(exit code: 5\)/)
      })

      it(`${runtime}'s own state is what the hook read`, () => {
        const run = start(runtime, stage, ["ASCEND_VISIBLE_DEVICES=0"])
        assert.strictEqual(run.status, 0, run.stderr)
        if (runtime === "crun") {
          assert.strictEqual(run.state!.status, "created")
          assert.strictEqual(run.state!.root, rootfs)
        } else {
          assert.strictEqual(run.state!.status, "creating")
        }
        assert.strictEqual(run.record!.argv[4], String(run.state!.pid))
      })
    })
  }
}

for (const runtime of ["runc", "crun"] as const) {
  describe.runIf(canRun)(`the self-contained binary under ${runtime}`, () => {
    it("runs as a prestart hook with no node and no PATH, and execs the CLI next to it", () => {
      const run = start(runtime, "prestart", ["ASCEND_VISIBLE_DEVICES=0-1"], [], "binary")
      assert.strictEqual(run.status, 0, run.stderr)
      assert.include(run.stdout, `MARKER-${run.id}`)
      assert.deepStrictEqual(run.record!.argv.slice(0, 3), [
        path.join(base, "bin/ascend-docker-cli"),
        "--devices",
        "0,1"
      ])
      assert.isTrue(run.record!.mntnsDiffers)
    })
  })
}

/** A `runc spec` bundle without hooks, for the wrapper to fill in. */
const plainBundle = (env: ReadonlyArray<string>, id: string) => {
  const bundle = path.join(base, id)
  fs.mkdirSync(bundle)
  execFileSync("runc", ["spec"], { cwd: bundle })
  const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
  config.root = { path: rootfs, readonly: true }
  config.process.terminal = false
  config.process.args = ["sh", "-c", `echo MARKER-${id}`]
  config.process.env = [...config.process.env, ...env]
  fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(config, null, 2))
  return bundle
}

describe.runIf(canRun)("ascend-docker-runtime, the wrapper, under runc", () => {
  const wrapper = (id: string, bundle: string, how: "binary" | "bundle" = "binary") => {
    fs.rmSync(path.join(base, "bin/record.json"), { force: true })
    const [cmd, ...pre] =
      how === "binary"
        ? [path.join(base, "bin/ascend-docker-runtime")]
        : [NODE, path.join(HOOK, "../ascend-docker-runtime.cjs")]
    const result = spawnSync(cmd!, [...pre, "--log-format", "text", "run", "--bundle", bundle, id], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        ASCEND_DOCKER_RUNTIME_HOOK: path.join(base, "bin/ascend-docker-hook"),
        ASCEND_DOCKER_RUNTIME_HOOK_ARGS: `--config-dir ${path.join(base, "conf")}`
      },
      timeout: 60_000
    })
    spawnSync("runc", ["delete", "-f", id])
    const record = path.join(base, "bin/record.json")
    return { ...result, record: fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, "utf8")) : undefined }
  }
  const nextId = () => {
    const id = `adh-e2e-${process.pid}-${++counter}`
    ids.push(id)
    return id
  }

  for (const how of ["binary", "bundle"] as const) {
    it(`(${how}) a container asking for NPUs gets the hook, and the CLI runs`, () => {
      const id = nextId()
      const bundle = plainBundle(["ASCEND_VISIBLE_DEVICES=1,0"], id)
      const run = wrapper(id, bundle, how)
      assert.strictEqual(run.status, 0, run.stderr)
      assert.include(run.stdout, `MARKER-${id}`)
      assert.deepStrictEqual(run.record!.argv.slice(0, 3), [
        path.join(base, "bin/ascend-docker-cli"),
        "--devices",
        "0,1"
      ])
      assert.isTrue(run.record!.mntnsDiffers)
      const hooks = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8")).hooks
      assert.deepStrictEqual(hooks.prestart, [
        {
          path: path.join(base, "bin/ascend-docker-hook"),
          args: ["ascend-docker-hook", "--config-dir", path.join(base, "conf")],
          env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        }
      ])
    })
  }

  it("a container without NPUs (or with ASCEND_VISIBLE_DEVICES=void) gets only the mark, every other byte kept", () => {
    for (const env of [[], ["ASCEND_VISIBLE_DEVICES=void"]]) {
      const id = nextId()
      const bundle = plainBundle(env, id)
      const before = fs.readFileSync(path.join(bundle, "config.json"), "utf8")
      const run = wrapper(id, bundle)
      assert.strictEqual(run.status, 0, run.stderr)
      assert.include(run.stdout, `MARKER-${id}`)
      assert.isUndefined(run.record)
      const after = fs.readFileSync(path.join(bundle, "config.json"), "utf8")
      const expected = JSON.parse(before)
      expected.process.env.push("ASCEND_DOCKER_RUNTIME=True")
      assert.deepStrictEqual(JSON.parse(after), expected)
      assert.strictEqual(
        after.length,
        before.length + ',"ASCEND_DOCKER_RUNTIME=True"'.length,
        "only the mark was added"
      )
    }
  })

  it("64-bit numbers JSON.parse would round survive the edit, and runc runs the container they describe", () => {
    // RLIMIT_CORE at RLIM_INFINITY (2^64-1) and a u64 seccomp-style value: rounded through a double they
    // become 18446744073709552000, which runc's uint64 decoder rejects. The shell prints the limit it got.
    const id = nextId()
    const bundle = plainBundle(["ASCEND_VISIBLE_DEVICES=0"], id)
    const file = path.join(bundle, "config.json")
    const config = JSON.parse(fs.readFileSync(file, "utf8"))
    config.process.args = ["sh", "-c", `ulimit -c; echo MARKER-${id}`]
    config.process.rlimits = [{ type: "RLIMIT_CORE", hard: 1, soft: 1 }]
    config.annotations = { "org.example.mask": "x" }
    const text = JSON.stringify(config, null, 2)
      .replace('"hard": 1,', '"hard": 18446744073709551615,')
      .replace('"soft": 1', '"soft": 18446744073709551615')
      .replace('"org.example.mask": "x"', '"org.example.mask": "x", "org.example.n": "\\u00e9"')
    fs.writeFileSync(file, text)
    const run = wrapper(id, bundle)
    assert.strictEqual(run.status, 0, run.stderr)
    assert.include(run.stdout, `unlimited\nMARKER-${id}`, "runc set the limit the config asked for")
    assert.isDefined(run.record, "the hook ran the CLI")
    const after = fs.readFileSync(file, "utf8")
    assert.include(after, '"hard": 18446744073709551615,', "the number kept as written")
    assert.include(after, '"soft": 18446744073709551615')
    assert.include(after, '"org.example.n": "\\u00e9"', "an escape kept as written")
  })

  it("a corrupt config.json is refused with nothing written and no container", () => {
    const id = nextId()
    const bundle = plainBundle(["ASCEND_VISIBLE_DEVICES=0"], id)
    const text = `${fs.readFileSync(path.join(bundle, "config.json"), "utf8").slice(0, -20)}`
    fs.writeFileSync(path.join(bundle, "config.json"), text)
    const run = wrapper(id, bundle)
    assert.strictEqual(run.status, 1, run.stderr)
    assert.match(run.stderr, /^ascend-docker-runtime: OCI config .*config.json: invalid JSON: [^\n]*\n$/)
    assert.strictEqual(fs.readFileSync(path.join(bundle, "config.json"), "utf8"), text)
    assert.deepStrictEqual(fs.readdirSync(bundle).sort(), ["config.json"])
    assert.notInclude(execFileSync("runc", ["list", "-q"], { encoding: "utf8" }).split("\n"), id)
  })

  it("every other command passes straight through to runc", () => {
    const ours = spawnSync(path.join(base, "bin/ascend-docker-runtime"), ["--version"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" }
    })
    const runc = spawnSync("runc", ["--version"], { encoding: "utf8" })
    assert.strictEqual(ours.status, 0, ours.stderr)
    assert.strictEqual(ours.stdout, runc.stdout)
    const list = spawnSync(path.join(base, "bin/ascend-docker-runtime"), ["list", "-q"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" }
    })
    assert.strictEqual(list.status, 0)
  })
})

describe.runIf(canRun)("the wrapper with today's stack (2023 CLI, CDI mode), under runc", () => {
  // Stand-in device nodes (made-up numbers from the local/experimental range 240-254) under a dev root, and a
  // bin dir whose CLI is the 2023 stand-in, so the wrapper detects the protocol from its option table.
  let dev = ""
  let bin2023 = ""
  const NODES: ReadonlyArray<readonly [string, number, number]> = [
    ["davinci0", 240, 0],
    ["davinci1", 240, 1],
    ["davinci2", 240, 2],
    ["davinci_manager", 241, 0],
    ["devmm_svm", 241, 1],
    ["hisi_hdc", 241, 2],
    ["uburma/uburma0", 242, 0]
  ]
  beforeAll(() => {
    dev = path.join(base, "dev")
    fs.mkdirSync(path.join(dev, "uburma"), { recursive: true, mode: 0o755 })
    for (const [name, major, minor] of NODES) {
      execFileSync("mknod", ["-m", "0660", path.join(dev, name), "c", String(major), String(minor)])
    }
    bin2023 = path.join(base, "bin-2023")
    fs.mkdirSync(bin2023, { mode: 0o755 })
    fs.copyFileSync(BINARY, path.join(bin2023, "ascend-docker-hook"))
    fs.copyFileSync(recordingCli("2023"), path.join(bin2023, "ascend-docker-cli"))
    fs.chmodSync(path.join(bin2023, "ascend-docker-hook"), 0o755)
    fs.chmodSync(path.join(bin2023, "ascend-docker-cli"), 0o755)
    fs.symlinkSync("ascend-docker-hook", path.join(bin2023, "ascend-docker-runtime"))
  })

  /** Runs a container through the wrapper; it prints the /dev it sees and its mount table. */
  const run = (env: ReadonlyArray<string>, settings: Record<string, string>) => {
    const id = `adh-e2e-${process.pid}-${++counter}`
    ids.push(id)
    const bundle = plainBundle(env, id)
    const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
    config.process.args = [
      "sh",
      "-c",
      `busybox ls /dev /dev/uburma; echo MOUNTS; busybox cat /proc/self/mountinfo; echo MARKER-${id}`
    ]
    fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(config, null, 2))
    const before = fs.readFileSync(path.join(bundle, "config.json"), "utf8")
    const record = path.join(bin2023, "record.json")
    fs.rmSync(record, { force: true })
    const result = spawnSync(path.join(bin2023, "ascend-docker-runtime"), ["run", "--bundle", bundle, id], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        ASCEND_DOCKER_RUNTIME_DEV_ROOT: dev,
        ASCEND_DOCKER_RUNTIME_CONFIG_DIR: path.join(base, "conf"),
        ...settings
      },
      timeout: 60_000
    })
    spawnSync("runc", ["delete", "-f", id])
    const [devices = "", mounts = ""] = result.stdout.split("MOUNTS\n")
    return {
      ...result,
      id,
      before,
      after: JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8")),
      devices: devices.split(/\s+/).filter((x) => x !== "" && !x.endsWith(":")),
      mounts,
      record: fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, "utf8")) : undefined
    }
  }

  it("hook mode, 2023 CLI (detected): the asked-for nodes and the shared ones, the 2023 argv, not the others", () => {
    const r = run(["ASCEND_VISIBLE_DEVICES=2,0"], {})
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout, `MARKER-${r.id}`)
    for (const name of ["davinci0", "davinci2", "davinci_manager", "devmm_svm", "hisi_hdc", "uburma0"]) {
      assert.include(r.devices, name)
    }
    assert.notInclude(r.devices, "davinci1")
    assert.deepStrictEqual(r.record.argv.slice(1, 5), ["--allow-link", "False", "--pid", r.record.argv[4]])
    assert.strictEqual(r.record.argv[5], "--rootfs")
    assert.isTrue(r.record.mntnsDiffers)
    assert.notInclude(r.record.argv, "--devices")
    const hook = r.after.hooks.prestart[0]
    assert.deepStrictEqual(hook.args.slice(-2), ["--cli-protocol", "2023"])
    assert.include(r.after.process.env, "ASCEND_DOCKER_RUNTIME=True")
    const rule = r.after.linux.resources.devices.find(
      (d: { major?: number; minor?: number }) => d.major === 240 && d.minor === 2
    )
    assert.deepStrictEqual(rule, { allow: true, type: "c", major: 240, minor: 2, access: "rwm" })
  })

  it("hook mode: a requested id with no node is refused, naming it; nothing written, no container", () => {
    const r = run(["ASCEND_VISIBLE_DEVICES=5"], {})
    assert.strictEqual(r.status, 1)
    assert.match(r.stderr, new RegExp(`^ascend-docker-runtime: device node ${dev}/davinci5: does not exist\\n$`))
    assert.isUndefined(r.after.linux.devices?.find((d: { path: string }) => d.path === "/dev/davinci5"))
    assert.notInclude(execFileSync("runc", ["list", "-q"], { encoding: "utf8" }).split("\n"), r.id)
  })

  it("cdi mode: nodes, driver paths read-only, no hook and no CLI", () => {
    const r = run(["ASCEND_VISIBLE_DEVICES=1"], { ASCEND_DOCKER_RUNTIME_MODE: "cdi" })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.devices, "davinci1")
    assert.notInclude(r.devices, "davinci0")
    assert.include(r.devices, "davinci_manager")
    assert.isUndefined(r.record, "no CLI ran")
    assert.isUndefined(r.after.hooks?.prestart)
    // /usr/lib and /etc/hostname from base.list, mounted read-only (/nonexistent is skipped).
    const line = (p: string) => r.mounts.split("\n").find((l) => l.split(" ")[4] === p) ?? ""
    for (const p of ["/usr/lib", "/etc/hostname"]) assert.match(line(p), /(^|\s)ro[, ]/, `${p} read-only: ${line(p)}`)
  })

  it("cdi mode with NODRV: the nodes only", () => {
    const r = run(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_OPTIONS=NODRV"], { ASCEND_DOCKER_RUNTIME_MODE: "cdi" })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.devices, "davinci0")
    assert.isUndefined(r.after.mounts.find((m: { source?: string }) => m.source === "/usr/lib"))
  })

  it("void and no request: the spec as it was but for the mark, in both modes", () => {
    for (const mode of ["hook", "cdi"]) {
      for (const env of [[], ["ASCEND_VISIBLE_DEVICES=void"]]) {
        const r = run(env, { ASCEND_DOCKER_RUNTIME_MODE: mode })
        assert.strictEqual(r.status, 0, r.stderr)
        const expected = JSON.parse(r.before)
        expected.process.env.push("ASCEND_DOCKER_RUNTIME=True")
        assert.deepStrictEqual(r.after, expected)
        assert.notInclude(r.devices, "davinci0")
      }
    }
  })

  it("the privilege gate in the wrapper: runc spec's container is unprivileged; ignore gives it nothing, refuse fails it", () => {
    const ignored = run(["ASCEND_VISIBLE_DEVICES=0"], { ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: "ignore" })
    assert.strictEqual(ignored.status, 0, ignored.stderr)
    assert.notInclude(ignored.devices, "davinci0")
    assert.isUndefined(ignored.after.hooks?.prestart)
    assert.isUndefined(ignored.record)
    const refused = run(["ASCEND_VISIBLE_DEVICES=0"], { ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: "refuse" })
    assert.strictEqual(refused.status, 1)
    assert.match(
      refused.stderr,
      /^ascend-docker-runtime: container env ASCEND_VISIBLE_DEVICES: item "0" is asked for by an unprivileged container/
    )
    assert.notInclude(execFileSync("runc", ["list", "-q"], { encoding: "utf8" }).split("\n"), refused.id)
  })

  it("2021 protocol forced: the hook only (its CLI makes the nodes), so the 2023 CLI refuses --devices", () => {
    const r = run(["ASCEND_VISIBLE_DEVICES=0"], { ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL: "2021" })
    assert.notStrictEqual(r.status, 0)
    assert.isUndefined(r.after.linux.devices?.find((d: { path: string }) => d.path === "/dev/davinci0"))
    assert.match(r.stderr, /unrecognized option '--devices'/)
  })
})
