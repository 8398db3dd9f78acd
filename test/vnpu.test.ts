import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import {
  ARM64_BINARY,
  BINARY,
  cleanup,
  HOOK,
  inCI,
  NODE,
  QEMU_ARM64,
  recordingCli,
  scratch
} from "./support/fixtures.ts"
import { canMakePrivateHost, type PrivateHost, privateHost } from "./support/privateHost.ts"

// Virtual NPUs end to end, against the stand-in libdcmi.so (test/support/stand-in-dcmi.c; no NPU here).
// The library is installed as the driver installs it, in a private mount-namespace view of the host
// (/etc and /usr/local are overlays): /usr/local/Ascend/driver/lib64/driver/libdcmi.so, its dir in
// /etc/ld.so.conf.d, `ldconfig` run there, so the binary finds it by the loader's own search. The wrapper,
// runc and the destroy hook all run in that view. What the stand-in answers is its control file; every
// call it gets is a line of its record.

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))
const cannot = [
  canMakePrivateHost(),
  ...["runc", "gcc", "ldconfig", "mknod"].filter((c) => !which(c)).map((c) => `no ${c}`),
  BUSYBOX === undefined ? "no busybox" : undefined
].filter((x) => x !== undefined)
if (cannot.length > 0) {
  if (inCI) throw new Error(`vNPU tests cannot run in CI: ${cannot.join(", ")}`)
  console.warn(`SKIPPING vNPU tests outside CI: ${cannot.join(", ")}`)
}
const canRun = cannot.length === 0
const arm64Ready =
  fs.existsSync(QEMU_ARM64[0]) &&
  fs.existsSync(`${QEMU_ARM64[2]}/lib/ld-linux-aarch64.so.1`) &&
  which("aarch64-linux-gnu-gcc")
if (canRun && !arm64Ready) {
  if (inCI) throw new Error("arm64 vNPU tests cannot run in CI: qemu-user-static or gcc-aarch64-linux-gnu missing")
  console.warn("warning: qemu-aarch64-static or aarch64-linux-gnu-gcc missing: the arm64 vNPU runs are left out")
}

const LIB_DIR = "/usr/local/Ascend/driver/lib64/driver"
let base = ""
let host: PrivateHost
let control = ""
let record = ""
let dev = ""
let bin = ""
let rootfs = ""
let state = ""
let counter = 0
const ids: Array<string> = []

/** Stand-in nodes (made-up numbers from the experimental range): two NPUs, vNPUs 100 and 116, the managers. */
const NODES: ReadonlyArray<readonly [string, number, number]> = [
  ["davinci0", 240, 0],
  ["davinci1", 240, 1],
  ["vdavinci100", 243, 100],
  ["vdavinci116", 243, 116],
  ["davinci_manager", 241, 0],
  ["devmm_svm", 241, 1],
  ["hisi_hdc", 241, 2]
]

const buildStandIn = (out: string, compiler: string) => {
  fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o755 })
  const defines = [`-DCONTROL="${control}"`, `-DRECORD="${record}"`]
  execFileSync(compiler, ["-shared", "-fPIC", "-O2", "-Wall", ...defines, "-o", out, "test/support/stand-in-dcmi.c"])
  fs.chmodSync(out, 0o755)
}

beforeAll(async () => {
  if (!canRun) return
  base = scratch()
  control = path.join(base, "control")
  record = path.join(base, "record")
  state = path.join(base, "state")
  buildStandIn(path.join(base, "lib/libdcmi.so"), "gcc")
  if (arm64Ready) buildStandIn(path.join(base, "lib-arm64/libdcmi.so"), "aarch64-linux-gnu-gcc")
  dev = path.join(base, "dev")
  fs.mkdirSync(dev, { mode: 0o755 })
  for (const [name, major, minor] of NODES)
    execFileSync("mknod", ["-m", "0660", path.join(dev, name), "c", String(major), String(minor)])
  bin = path.join(base, "bin")
  fs.mkdirSync(bin, { mode: 0o755 })
  fs.copyFileSync(BINARY, path.join(bin, "ascend-docker-hook"))
  fs.copyFileSync(recordingCli("2023"), path.join(bin, "ascend-docker-cli"))
  fs.chmodSync(path.join(bin, "ascend-docker-hook"), 0o755)
  fs.chmodSync(path.join(bin, "ascend-docker-cli"), 0o755)
  fs.symlinkSync("ascend-docker-hook", path.join(bin, "ascend-docker-runtime"))
  fs.mkdirSync(path.join(base, "conf"), { mode: 0o755 })
  fs.writeFileSync(path.join(base, "conf/base.list"), "/usr/lib\n")
  rootfs = path.join(base, "rootfs")
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true })
  fs.copyFileSync(BUSYBOX!, path.join(rootfs, "bin/busybox"))
  fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755)
  fs.symlinkSync("busybox", path.join(rootfs, "bin/sh"))
  host = await privateHost(path.join(base, "host"))
  installLibrary("x64")
})

/** The stand-in for one arch as the driver's installer leaves it: in its lib dir, registered, ldconfig run. */
const installLibrary = (arch: "x64" | "arm64") => {
  const from = path.join(base, arch === "x64" ? "lib/libdcmi.so" : "lib-arm64/libdcmi.so")
  const script = [
    `mkdir -p ${LIB_DIR}`,
    `chmod 755 /usr/local/Ascend /usr/local/Ascend/driver /usr/local/Ascend/driver/lib64 ${LIB_DIR}`,
    `cp ${from} ${LIB_DIR}/libdcmi.so`,
    `echo ${LIB_DIR} > /etc/ld.so.conf.d/ascend-driver.conf`,
    "ldconfig"
  ].join(" && ")
  const r = host.run(["/bin/sh", "-c", script])
  assert.strictEqual(r.status, 0, String(r.stderr))
}

afterAll(() => {
  if (!canRun) return
  for (const id of ids) host.run(["runc", "delete", "-f", id])
  host.stop()
  cleanup(base)
})

/** Sets the stand-in's answers and empties its record. */
const standIn = (settings: Record<string, string | number> = {}) => {
  fs.writeFileSync(
    control,
    `${Object.entries({ chip: "910B3", ...settings })
      .map(([k, v]) => `${k}=${v}`)
      .join("\n")}\n`
  )
  fs.writeFileSync(record, "")
}
const calls = () =>
  fs
    .readFileSync(record, "utf8")
    .split("\n")
    .filter((l) => l !== "")
const creates = () => calls().filter((c) => c.startsWith("dcmi_create_vdevice"))
const destroys = () => calls().filter((c) => c.startsWith("dcmi_set_destroy_vdevice"))

/** A `runc spec` bundle whose container lists the /dev it sees. */
const bundleFor = (env: ReadonlyArray<string>) => {
  const id = `adh-vnpu-${process.pid}-${++counter}`
  ids.push(id)
  const bundle = path.join(base, id)
  fs.mkdirSync(bundle)
  execFileSync("runc", ["spec"], { cwd: bundle })
  const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
  config.root = { path: rootfs, readonly: true }
  config.process.terminal = false
  config.process.args = ["sh", "-c", `busybox ls /dev; echo MARKER-${id}`]
  config.process.env = [...config.process.env, ...env]
  fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(config, null, 2))
  return { id, bundle }
}

/** The wrapper's env: its settings, never the test's. */
const wrapperEnv = (settings: Record<string, string>) => ({
  PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
  ASCEND_DOCKER_RUNTIME_DEV_ROOT: dev,
  ASCEND_DOCKER_RUNTIME_CONFIG_DIR: path.join(base, "conf"),
  ASCEND_DOCKER_RUNTIME_STATE_DIR: state,
  ...settings
})

/** Runs the wrapper (this machine's binary unless `program` says otherwise) in the private view. */
const wrapper = (
  args: ReadonlyArray<string>,
  settings: Record<string, string> = {},
  program: ReadonlyArray<string> = [path.join(bin, "ascend-docker-runtime")]
) =>
  host.run(
    ["/usr/bin/env", "-i", ...Object.entries(wrapperEnv(settings)).map(([k, v]) => `${k}=${v}`), ...program, ...args],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000
    }
  ) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string }

/** create through the wrapper, start, wait for the container to stop, then what it printed; deleted by the caller. */
const createAndStart = (env: ReadonlyArray<string>, settings: Record<string, string> = {}) => {
  const { id, bundle } = bundleFor(env)
  const out = path.join(bundle, "out.txt")
  const created = host.run(
    [
      "/bin/sh",
      "-c",
      `exec /usr/bin/env -i ${Object.entries(wrapperEnv(settings))
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")} ${path.join(bin, "ascend-docker-runtime")} create --bundle ${bundle} ${id} >${out} 2>&1`
    ],
    { encoding: "utf8" }
  )
  let status = ""
  if (created.status === 0) {
    host.run(["runc", "start", id])
    for (let i = 0; i < 100 && status !== "stopped"; i++) {
      const st = host.run(["runc", "state", id], { encoding: "utf8" })
      status = st.status === 0 ? JSON.parse(String(st.stdout)).status : "gone"
      if (status !== "stopped") execFileSync("sleep", ["0.05"])
    }
  }
  return { id, bundle, created, output: fs.readFileSync(out, "utf8"), status }
}

const oneLine = (stderr: string, pattern: RegExp) => {
  assert.match(stderr, /^[^\n]*\n$/, `not one line: ${stderr}`)
  assert.match(stderr, pattern)
}

describe.runIf(canRun)("vNPU under runc: made on create, destroyed on delete", () => {
  it("the container sees /dev/davinci<vdevId> and nothing else of the NPUs; runc delete runs the destroy", () => {
    standIn()
    const r = createAndStart(["ASCEND_VISIBLE_DEVICES=1", "ASCEND_VNPU_SPECS=vir02"])
    assert.strictEqual(r.created.status, 0, r.output)
    assert.strictEqual(r.status, "stopped")
    const seen = r.output.split(/\s+/)
    assert.include(seen, `MARKER-${r.id}`)
    assert.include(seen, "davinci116")
    for (const other of ["davinci0", "davinci1", "davinci100", "vdavinci116", "vdavinci100"])
      assert.notInclude(seen, other)
    assert.includeMembers(seen, ["davinci_manager", "devmm_svm", "hisi_hdc"])
    assert.deepStrictEqual(creates(), ["dcmi_create_vdevice 1 0 vir02 in=0xffffffff,0xffffffff -> 0 116"])
    assert.deepStrictEqual(destroys(), [], "destroyed before the delete")
    const config = JSON.parse(fs.readFileSync(path.join(r.bundle, "config.json"), "utf8"))
    assert.includeMembers(config.process.env, ["ASCEND_VISIBLE_DEVICES=116", "ASCEND_RUNTIME_OPTIONS=VIRTUAL"])
    assert.deepStrictEqual(config.hooks.poststop[0].args, ["ascend-docker-destroy", "1", "0", "116"])
    assert.isFalse(fs.existsSync(path.join(state, "vnpu", `${r.id}.json`)), "record kept after runc took the container")
    const deleted = host.run(["runc", "delete", r.id], { encoding: "utf8" })
    assert.strictEqual(deleted.status, 0, String(deleted.stderr))
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 1 0 116 -> 0"])
  })

  it("cdi mode: the same vNPU node, no hook; delete destroys it", () => {
    standIn()
    const r = createAndStart(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir04"], {
      ASCEND_DOCKER_RUNTIME_MODE: "cdi"
    })
    assert.strictEqual(r.created.status, 0, r.output)
    const seen = r.output.split(/\s+/)
    assert.include(seen, "davinci100")
    for (const other of ["davinci0", "davinci1", "davinci116"]) assert.notInclude(seen, other)
    const config = JSON.parse(fs.readFileSync(path.join(r.bundle, "config.json"), "utf8"))
    assert.isUndefined(config.hooks?.prestart)
    host.run(["runc", "delete", r.id])
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 0 0 100 -> 0"])
  })

  it("2021 CLI (it makes the nodes from --devices): the vdevId reaches the CLI's argv through the hook", () => {
    standIn()
    const bin2021 = path.join(base, "bin-2021")
    if (!fs.existsSync(bin2021)) {
      fs.mkdirSync(bin2021, { mode: 0o755 })
      fs.copyFileSync(BINARY, path.join(bin2021, "ascend-docker-hook"))
      fs.copyFileSync(recordingCli("2021"), path.join(bin2021, "ascend-docker-cli"))
      fs.chmodSync(path.join(bin2021, "ascend-docker-hook"), 0o755)
      fs.chmodSync(path.join(bin2021, "ascend-docker-cli"), 0o755)
    }
    fs.rmSync(path.join(bin2021, "record.json"), { force: true })
    const r = createAndStart(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"], {
      ASCEND_DOCKER_RUNTIME_HOOK: path.join(bin2021, "ascend-docker-hook")
    })
    assert.strictEqual(r.created.status, 0, r.output)
    const cli = JSON.parse(fs.readFileSync(path.join(bin2021, "record.json"), "utf8"))
    const argv: ReadonlyArray<string> = cli.argv
    assert.deepStrictEqual(argv.slice(1, 3), ["--devices", "100"])
    assert.deepStrictEqual(argv.slice(argv.indexOf("--options"), argv.indexOf("--options") + 2), [
      "--options",
      "VIRTUAL"
    ])
    host.run(["runc", "delete", r.id])
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 0 0 100 -> 0"])
  })

  it("runc run (create, start and delete in one): the container sees its vNPU, which is gone when run returns", () => {
    standIn()
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir01"])
    const r = wrapper(["run", "--bundle", bundle, id])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout.split(/\s+/), "davinci100")
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 0 0 100 -> 0"])
    assert.isFalse(fs.existsSync(path.join(state, "vnpu", `${id}.json`)))
  })

  it("runc refusing the container (before any poststop hook can run) destroys the vNPU", () => {
    standIn()
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
    const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
    config.root.path = path.join(base, "no-such-rootfs")
    fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(config))
    const r = wrapper(["create", "--bundle", bundle, id])
    assert.notStrictEqual(r.status, 0)
    assert.lengthOf(creates(), 1)
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 0 0 100 -> 0"])
    assert.isFalse(fs.existsSync(path.join(state, "vnpu", `${id}.json`)))
  })

  it("a kill of the wrapper between the create and runc's answer leaves a record, and the next delete destroys the vNPU", () => {
    // How: the "runc" the wrapper runs kills its parent, the wrapper, with SIGKILL (nothing of it runs after).
    standIn()
    const killer = path.join(base, "killer-runc")
    fs.writeFileSync(killer, "#!/bin/sh\nkill -KILL $PPID\nsleep 1\nexit 1\n", { mode: 0o755 })
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=1", "ASCEND_VNPU_SPECS=vir02"])
    const r = wrapper(["create", "--bundle", bundle, id], { ASCEND_DOCKER_RUNTIME_RUNC: killer })
    assert.strictEqual(r.signal, "SIGKILL")
    assert.lengthOf(creates(), 1)
    assert.deepStrictEqual(destroys(), [], "nothing could destroy it yet")
    assert.isTrue(fs.existsSync(path.join(state, "vnpu", `${id}.json`)))
    // The engine answers a failed create with a delete (containerd's shim, dockerd): that destroys it.
    const d = wrapper(["delete", "--force", id])
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 1 0 116 -> 0"], String(d.stderr))
    assert.isFalse(fs.existsSync(path.join(state, "vnpu", `${id}.json`)))
  })
})

describe.runIf(canRun)("a kill inside the driver's create (the one window no record can close)", () => {
  it("the next delete says where the vNPU may be left, in one line, and removes the pending record", () => {
    // How: the stand-in's create kills its caller (SIGKILL) right after making the vNPU, before returning.
    standIn({ kill_after_create: 1 })
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=1", "ASCEND_VNPU_SPECS=vir02"])
    const r = wrapper(["create", "--bundle", bundle, id], { ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true" })
    assert.strictEqual(r.signal, "SIGKILL")
    assert.lengthOf(creates(), 1)
    const record = JSON.parse(fs.readFileSync(path.join(state, "vnpu", `${id}.json`), "utf8"))
    assert.deepStrictEqual(record, { phy: 1, card: 1, device: 0, vdevId: null })
    const d = wrapper(["delete", "--force", id])
    oneLine(
      d.stderr.split("\n")[0]! + "\n",
      /^ascend-docker-runtime: vNPU: the wrapper was killed while the driver made a vNPU on NPU 1 \(card 1 device 0\) for container .*; its id is unknown/
    )
    assert.deepStrictEqual(destroys(), [])
    assert.isFalse(fs.existsSync(path.join(state, "vnpu", `${id}.json`)))
  })
})

describe.runIf(canRun)("vNPU refusals: one line each, no driver call (or, after the create, a destroy)", () => {
  /** Runs the wrapper's create with `env` in a bundle, with runc replaced by `true` (nothing is to reach it). */
  const refused = (env: ReadonlyArray<string>, settings: Record<string, string> = {}) => {
    const { id, bundle } = bundleFor(env)
    const before = fs.readFileSync(path.join(bundle, "config.json"), "utf8")
    const r = wrapper(["create", "--bundle", bundle, id], { ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true", ...settings })
    assert.strictEqual(r.status, 1, r.stderr)
    assert.strictEqual(fs.readFileSync(path.join(bundle, "config.json"), "utf8"), before, "config.json changed")
    assert.isFalse(fs.existsSync(path.join(state, "vnpu", `${id}.json`)), "a record left behind")
    return r
  }

  it("bad requests are refused before the driver is loaded", () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["ASCEND_VNPU_SPECS=vir03"], /"vir03" is not a vNPU template/],
      [["ASCEND_VNPU_SPECS="], /is empty; a template is one of vir01/],
      [["ASCEND_VISIBLE_DEVICES=0,1", "ASCEND_VNPU_SPECS=vir02"], /needs exactly one physical NPU .* not 2/],
      [["ASCEND_VISIBLE_DEVICES=300", "ASCEND_VNPU_SPECS=vir02"], /physical ids for a vNPU are 0-255/],
      [["ASCEND_RUNTIME_OPTIONS=VIRTUAL", "ASCEND_VNPU_SPECS=vir02"], /has VIRTUAL \(its ids are vNPUs already\)/]
    ]
    for (const mode of ["hook", "cdi"]) {
      for (const [env, pattern] of cases) {
        standIn()
        const visible = env.some((e) => e.startsWith("ASCEND_VISIBLE_DEVICES=")) ? [] : ["ASCEND_VISIBLE_DEVICES=0"]
        const r = refused([...visible, ...env], { ASCEND_DOCKER_RUNTIME_MODE: mode })
        oneLine(r.stderr, new RegExp(`^ascend-docker-runtime: container env ASCEND_VNPU_SPECS: .*${pattern.source}`))
        assert.deepStrictEqual(calls(), [], `${env.join(" ")}: the driver was asked`)
      }
    }
  })

  it("an unprivileged container's ASCEND_VNPU_SPECS goes through the privilege gate (refuse)", () => {
    standIn()
    const r = refused(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"], {
      ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: "refuse"
    })
    oneLine(r.stderr, /unprivileged container/)
    assert.deepStrictEqual(calls(), [])
  })

  it("what the driver refuses or cannot place: one line naming device, call, code and meaning; nothing created", () => {
    const cases: ReadonlyArray<readonly [Record<string, string | number>, string, RegExp]> = [
      [{ v2: 1, chip: "Ascend950PR" }, "0", /driver: this is an Ascend 950 \(dcmi v2\), which has no vNPU/],
      [{ cards: 1 }, "1", /driver: NPU 1 \(logic id 1\) is on no card dcmi lists; no vNPU was made/],
      [
        { err_dcmi_create_vdevice: -8005 },
        "0",
        /driver: dcmi_create_vdevice for NPU 0 \(card 0 device 0\) failed with -8005 \(internal error of the driver\)/
      ],
      [
        { err_dcmi_get_device_logicid_from_phyid: -8007 },
        "1",
        /driver: dcmi_get_device_logicid_from_phyid for NPU 1 failed with -8007 \(invalid device id\)/
      ],
      [{ err_dcmi_init: -8002 }, "0", /driver: dcmi_init failed with -8002 \(permission denied\)/]
    ]
    for (const [settings, phy, pattern] of cases) {
      standIn(settings)
      const r = refused([`ASCEND_VISIBLE_DEVICES=${phy}`, "ASCEND_VNPU_SPECS=vir02"])
      oneLine(r.stderr, new RegExp(`^ascend-docker-runtime: ${pattern.source}`))
      assert.deepStrictEqual(destroys(), [])
      if (!("err_dcmi_create_vdevice" in settings)) assert.deepStrictEqual(creates(), [])
    }
  })

  it("a vdevId the driver cannot have meant: 0xFFFFFFFF is refused; another one out of range is destroyed again", () => {
    standIn({ vdev: "0xFFFFFFFF" })
    const none = refused(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
    oneLine(none.stderr, /returned no vNPU id \(0xFFFFFFFF\); the container does not get the physical NPU instead/)
    assert.deepStrictEqual(destroys(), [])
    standIn({ vdev: 5000 })
    const far = refused(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
    oneLine(far.stderr, /returned vNPU id 5000, outside 0-1023; it was destroyed again/)
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 0 0 5000 -> 0"])
  })

  it("no vdavinci node for the vdevId the driver gave: refused naming it, and the vNPU destroyed", () => {
    standIn({ vdev: 132 })
    const r = refused(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
    oneLine(r.stderr, new RegExp(`device node ${dev}/vdavinci132: does not exist`))
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 0 0 132 -> 0"])
  })

  it("a library that is not trusted is never loaded: one line, and the stand-in never called", () => {
    standIn()
    host.run(["chmod", "o+w", `${LIB_DIR}/libdcmi.so`])
    try {
      const r = refused(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
      oneLine(r.stderr, new RegExp(`driver: ${LIB_DIR}/libdcmi.so is not trusted: .*writable by group or others`))
      assert.deepStrictEqual(calls(), [])
    } finally {
      host.run(["chmod", "o-w", `${LIB_DIR}/libdcmi.so`])
    }
  })

  it("the Node bundle refuses a vNPU in one line (it cannot load the driver), and runs other containers", () => {
    standIn()
    const node = [NODE, path.join(HOOK, "../ascend-docker-runtime.cjs")]
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
    const r = wrapper(["create", "--bundle", bundle, id], { ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true" }, node)
    assert.strictEqual(r.status, 1)
    oneLine(
      r.stderr,
      /^ascend-docker-runtime: driver: a virtual NPU \(ASCEND_VNPU_SPECS\) needs the driver library, which only the ascend-docker-hook binary can load/
    )
    assert.deepStrictEqual(calls(), [])
    const plain = bundleFor(["ASCEND_VISIBLE_DEVICES=0"])
    const ok = wrapper(
      ["create", "--bundle", plain.bundle, plain.id],
      { ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true" },
      node
    )
    assert.strictEqual(ok.status, 0, ok.stderr)
  })
})

describe.runIf(canRun)("ascend-docker-destroy, the poststop hook", () => {
  const destroy = (
    args: ReadonlyArray<string>,
    program: ReadonlyArray<string> = [path.join(bin, "ascend-docker-hook")]
  ) =>
    host.run(
      ["/bin/bash", "--norc", "--noprofile", "-c", 'exec -a ascend-docker-destroy "$@"', "bash", ...program, ...args],
      {
        encoding: "utf8",
        env: {}
      }
    ) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string }

  it("checks its arguments before the driver: one line, no call", () => {
    for (const args of [
      [],
      ["0", "0"],
      ["0", "0", "x"],
      ["0", "4", "100"],
      ["64", "0", "100"],
      ["0", "0", "1024"],
      ["0", "0", "-1"]
    ]) {
      standIn()
      const r = destroy(args)
      assert.strictEqual(r.status, 1, `${args.join(" ")}: ${r.stderr}`)
      oneLine(r.stderr, /^ascend-docker-destroy: /)
      assert.deepStrictEqual(calls(), [])
    }
  })

  it("destroys the vNPU it is given with an empty env (the library by the loader's search); a dcmi error is one line", () => {
    standIn()
    const ok = destroy(["1", "0", "116"])
    assert.strictEqual(ok.status, 0, ok.stderr)
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 1 0 116 -> 0"])
    standIn({ err_dcmi_set_destroy_vdevice: -8020 })
    const busy = destroy(["1", "0", "116"])
    assert.strictEqual(busy.status, 1)
    oneLine(
      busy.stderr,
      /^ascend-docker-destroy: driver: dcmi_set_destroy_vdevice for vNPU 116 on card 1 device 0 failed with -8020 \(the device's resources are in use\)\n$/
    )
  })
})

/**
 * An ld.so.cache (glibc's new format) with one entry, libdcmi.so for aarch64: the host's ldconfig refuses to
 * index a library of another machine ("unknown machine 183"), and Debian's arm64 cross libc has no ldconfig.
 */
const arm64Cache = (target: string): Buffer => {
  const strings = Buffer.from(`libdcmi.so\0${target}\0`)
  const header = Buffer.alloc(48)
  header.write("glibc-ld.so.cache1.1", 0, "latin1")
  header.writeUInt32LE(1, 20)
  header.writeUInt32LE(strings.length, 24)
  const entry = Buffer.alloc(24)
  entry.writeInt32LE(0x0a03, 0)
  entry.writeUInt32LE(48 + 24, 4)
  entry.writeUInt32LE(48 + 24 + "libdcmi.so".length + 1, 8)
  return Buffer.concat([header, entry, strings])
}

describe.runIf(canRun && arm64Ready)("vNPU with the arm64 binary under qemu-user, against an arm64 stand-in", () => {
  beforeAll(() => {
    installLibrary("arm64")
    const cache = path.join(base, "arm64.ld.so.cache")
    fs.writeFileSync(cache, arm64Cache(`${LIB_DIR}/libdcmi.so`))
    const r = host.run(["/bin/sh", "-c", `cp /etc/ld.so.cache /etc/ld.so.cache.x64 && cp ${cache} /etc/ld.so.cache`])
    assert.strictEqual(r.status, 0, String(r.stderr))
  })
  afterAll(() => {
    host.run(["/bin/sh", "-c", "mv /etc/ld.so.cache.x64 /etc/ld.so.cache"])
    installLibrary("x64")
  })

  it("the arm64 wrapper makes the vNPU and its destroy hook destroys it", () => {
    standIn()
    const arm = path.join(base, "bin-arm64")
    fs.mkdirSync(arm, { mode: 0o755, recursive: true })
    fs.copyFileSync(ARM64_BINARY, path.join(arm, "ascend-docker-hook"))
    fs.chmodSync(path.join(arm, "ascend-docker-hook"), 0o755)
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=1", "ASCEND_VNPU_SPECS=vir02"])
    const qemu = [...QEMU_ARM64.slice(0, 3), "-0", "ascend-docker-runtime", path.join(arm, "ascend-docker-hook")]
    const r = wrapper(
      ["create", "--bundle", bundle, id],
      { ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true", ASCEND_DOCKER_RUNTIME_MODE: "cdi" },
      qemu
    )
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepStrictEqual(creates(), ["dcmi_create_vdevice 1 0 vir02 in=0xffffffff,0xffffffff -> 0 116"])
    const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
    assert.deepStrictEqual(config.hooks.poststop[0].args, ["ascend-docker-destroy", "1", "0", "116"])
    const d = host.run(
      [...QEMU_ARM64.slice(0, 3), "-0", "ascend-docker-destroy", path.join(arm, "ascend-docker-hook"), "1", "0", "116"],
      {
        encoding: "utf8",
        env: {}
      }
    )
    assert.strictEqual(d.status, 0, String(d.stderr))
    assert.deepStrictEqual(destroys(), ["dcmi_set_destroy_vdevice 1 0 116 -> 0"])
  })

  it("the arm64 wrapper's refusals: a dcmi error and an Ascend 950, one line each, nothing made", () => {
    const arm = path.join(base, "bin-arm64", "ascend-docker-hook")
    const qemu = [...QEMU_ARM64.slice(0, 3), "-0", "ascend-docker-runtime", arm]
    const cases: ReadonlyArray<readonly [Record<string, string | number>, RegExp]> = [
      [{ err_dcmi_create_vdevice: -8005 }, /failed with -8005 \(internal error of the driver\)/],
      [{ v2: 1, chip: "Ascend950PR" }, /this is an Ascend 950 \(dcmi v2\), which has no vNPU/]
    ]
    for (const [settings, pattern] of cases) {
      standIn(settings)
      const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02"])
      const r = wrapper(["create", "--bundle", bundle, id], { ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true" }, qemu)
      assert.strictEqual(r.status, 1)
      oneLine(r.stderr, new RegExp(`^ascend-docker-runtime: driver: .*${pattern.source}`))
      assert.deepStrictEqual(destroys(), [])
    }
  })
})

describe.runIf(canRun)("chip-aware device sets, from the driver where it is present", () => {
  /** A dev root with these nodes (made-up numbers), for one chip's case. */
  const devRoot = (names: ReadonlyArray<string>) => {
    const root = path.join(base, `dev-${++counter}`)
    fs.mkdirSync(root, { mode: 0o755 })
    for (const [i, name] of names.entries())
      execFileSync("mknod", ["-m", "0660", path.join(root, name), "c", "244", String(i)])
    return root
  }
  const ALL = [
    "davinci0",
    "davinci_manager",
    "devmm_svm",
    "hisi_hdc",
    "dvpp_cmdlist",
    "svm0",
    "ts_aisle",
    "vdec",
    "hdmi"
  ]
  /** The container paths of the nodes the wrapper gave a container asking for NPU 0 (runc replaced by `true`). */
  const nodesFor = (root: string, mode: "hook" | "cdi" = "cdi") => {
    const { id, bundle } = bundleFor(["ASCEND_VISIBLE_DEVICES=0"])
    const r = wrapper(["create", "--bundle", bundle, id], {
      ASCEND_DOCKER_RUNTIME_RUNC: "/bin/true",
      ASCEND_DOCKER_RUNTIME_MODE: mode,
      ASCEND_DOCKER_RUNTIME_DEV_ROOT: root
    })
    const config = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
    const devices: ReadonlyArray<{ path: string; minor: number }> = config.linux.devices ?? []
    return { ...r, paths: devices.map((d) => d.path.slice("/dev/".length)).sort(), devices }
  }

  it("310B (Atlas 200I A2): its edge nodes where present, davinci_manager from davinci_manager_docker, no common nodes; seen under runc", () => {
    standIn({ chip: "310B1" })
    const root = devRoot([...ALL, "davinci_manager_docker"])
    const r = nodesFor(root)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepStrictEqual(r.paths, ["davinci0", "davinci_manager", "dvpp_cmdlist", "hdmi", "svm0", "ts_aisle", "vdec"])
    assert.strictEqual(
      r.devices.find((d) => d.path === "/dev/davinci_manager")?.minor,
      ALL.length,
      "not the docker node"
    )
    const seen = createAndStart(["ASCEND_VISIBLE_DEVICES=0"], {
      ASCEND_DOCKER_RUNTIME_MODE: "cdi",
      ASCEND_DOCKER_RUNTIME_DEV_ROOT: root
    })
    assert.strictEqual(seen.created.status, 0, seen.output)
    const listed = seen.output.split(/\s+/)
    assert.includeMembers(listed, ["davinci0", "davinci_manager", "dvpp_cmdlist", "svm0", "ts_aisle", "vdec", "hdmi"])
    for (const absent of ["devmm_svm", "hisi_hdc"]) assert.notInclude(listed, absent)
    host.run(["runc", "delete", seen.id])
  })

  it("cdi generate gives every device the chip's set, as the wrapper's cdi mode does (310B here)", () => {
    standIn({ chip: "310B1" })
    const root = devRoot([...ALL, "davinci_manager_docker"])
    const out = path.join(base, `spec-${++counter}.json`)
    const r = host.run(
      [
        path.join(bin, "ascend-docker-hook"),
        "cdi",
        "generate",
        "--dev-root",
        root,
        "--config-dir",
        path.join(base, "conf"),
        "--output",
        out
      ],
      { encoding: "utf8" }
    )
    assert.strictEqual(r.status, 0, String(r.stderr))
    const spec = JSON.parse(fs.readFileSync(out, "utf8")) as {
      containerEdits: { deviceNodes: ReadonlyArray<{ path: string; hostPath?: string }> }
    }
    const shared = spec.containerEdits.deviceNodes.map((n) => n.path.slice("/dev/".length)).sort()
    assert.deepStrictEqual(shared, ["davinci_manager", "dvpp_cmdlist", "hdmi", "svm0", "ts_aisle", "vdec"])
    assert.strictEqual(
      spec.containerEdits.deviceNodes.find((n) => n.path === "/dev/davinci_manager")?.hostPath,
      path.join(root, "davinci_manager_docker"),
      "davinci_manager from davinci_manager_docker"
    )
    assert.deepStrictEqual(["davinci0", ...shared].sort(), nodesFor(root).paths, "the wrapper's cdi mode")
    // A node the chip requires that the host lacks: refused in one line, nothing written.
    standIn({ chip: "910B3" })
    const lacking = devRoot(["davinci0", "davinci_manager", "devmm_svm"])
    const refused = host.run(
      [path.join(bin, "ascend-docker-hook"), "cdi", "generate", "--dev-root", lacking, "--output", `${out}.2`],
      { encoding: "utf8" }
    )
    assert.strictEqual(refused.status, 1)
    oneLine(String(refused.stderr), /hisi_hdc: does not exist/)
    assert.isFalse(fs.existsSync(`${out}.2`))
  })

  it("Atlas 200I SoC A1: no common manager nodes; 910B elsewhere: the common ones and dvpp_cmdlist", () => {
    const root = devRoot(ALL)
    standIn({ chip: "310", product: "Atlas 200I SoC A1" })
    assert.deepStrictEqual(nodesFor(root).paths, ["davinci0", "davinci_manager", "dvpp_cmdlist"])
    standIn({ chip: "910B3", product: "Atlas 800T A2" })
    assert.deepStrictEqual(nodesFor(root, "hook").paths, [
      "davinci0",
      "davinci_manager",
      "devmm_svm",
      "dvpp_cmdlist",
      "hisi_hdc"
    ])
  })

  it("Ascend 950 (dcmi v2): hisi_hdc only of the common nodes, and no dvpp_cmdlist", () => {
    standIn({ chip: "Ascend950PR", v2: 1 })
    assert.deepStrictEqual(nodesFor(devRoot(ALL)).paths, ["davinci0", "davinci_manager", "hisi_hdc"])
  })

  it("a node the chip requires that the host lacks is refused, naming it (the /dev-based set would have left it out)", () => {
    standIn({ chip: "910B3" })
    const root = devRoot(["davinci0", "davinci_manager", "devmm_svm"])
    const r = nodesFor(root)
    assert.strictEqual(r.status, 1)
    oneLine(r.stderr, new RegExp(`^ascend-docker-runtime: device node ${root}/hisi_hdc: does not exist\\n$`))
  })
})

describe.runIf(canRun)("doctor reports the driver library", () => {
  it("the stand-in, registered with the loader, is the source of device facts; a record left is reported", () => {
    const doctor = host.run([path.join(bin, "ascend-docker-hook"), "doctor", "--json", "--dev-root", dev], {
      encoding: "utf8"
    })
    const checks = JSON.parse(String(doctor.stdout)).checks as Array<{ id: string; message: string }>
    assert.strictEqual(
      checks.find((c) => c.id === "driver")?.message,
      `driver: ${LIB_DIR}/libdcmi.so (libdcmi.so, found and trusted as the wrapper loads it): vNPU (ASCEND_VNPU_SPECS) and the chip's own device set`
    )
  })
})
