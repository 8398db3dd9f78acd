import { type ChildProcess, execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { RUNTIME_MARK } from "../src/wrapper/ContainerEdits.ts"
import { criClient, STAND_IN_NODES } from "./support/cri.ts"
import { daemonPath, type EngineGeneration, GENERATIONS, missingPrograms, versionLine } from "./support/engines.ts"
import { BINARY, cleanup, inCI, recordingCli, scratch } from "./support/fixtures.ts"
import { BUSYBOX, ociArchive } from "./support/images.ts"
import { canMakePrivateHost, type PrivateHost, privateHost } from "./support/privateHost.ts"

// containerd driven as the kubelet drives it, on each engine generation (test/support/engines.ts): Debian
// 12's containerd 1.6 (config version 2, no CDI) and sid's containerd 2 (config version 3, CDI on by
// default). CRI v1 over gRPC to a containerd whose config is what `ascend-docker-hook install --runtime
// containerd` made of an admin's config.toml, all in a private view of the host
// (test/support/privateHost.ts: /etc and /usr/local are overlays, so the installer runs with the real
// paths and the host's own files never change). containerd runs on a private root, state dir and socket;
// the sandbox image is a local busybox imported into k8s.io. The CLI is the recording stand-in at
// /usr/local/bin/ascend-docker-cli (2021 protocol): what it records is what the hook asked for. The NPUs
// are stand-in device nodes under the scratch dir, in the CDI spec `cdi generate` wrote to /etc/cdi.

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const missingFor = (gen: EngineGeneration) => [
  ...missingPrograms(gen, ["containerd", "ctr", "shim"]),
  ...(which("runc") ? [] : ["runc"]),
  ...(BUSYBOX === undefined ? ["busybox"] : []),
  ...(canMakePrivateHost() === undefined ? [] : [canMakePrivateHost()!])
]
for (const gen of GENERATIONS) {
  const missing = missingFor(gen)
  if (missing.length === 0) continue
  const why = `missing: ${missing.join(", ")}`
  if (inCI) throw new Error(`CRI end-to-end tests (${gen.label}) cannot run in CI: ${why} (${gen.howToGet})`)
  console.warn(`skipping the CRI end-to-end tests on ${gen.label} (${why})`)
}

const SANDBOX_IMAGE = "docker.io/local/pause:1"
/**
 * The node's own containerd config, as an admin wrote it (kept byte for byte by install). runc's state
 * root is the test's own (the shim's default is the host's /run/containerd/runc), and OOM scores are not
 * lowered (this machine's root lacks CAP_SYS_RESOURCE, which a sandbox's -998 needs).
 */
const adminConfigV2 = (dir: string) => `version = 2
# The node's own containerd config.
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${SANDBOX_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${dir}/runc"
`
/** The same node's config for containerd 2 (version 3: the CRI plugin split in images and runtime), with a registry dir. */
const adminConfigV3 = (dir: string) => `version = 3
# The node's own containerd config (containerd 2.x).

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "native"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${SANDBOX_IMAGE}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "/etc/containerd/certs.d"   # hosts.toml per registry

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        Root = "${dir}/runc"
        SystemdCgroup = false
`
const adminConfig = (gen: EngineGeneration, dir: string) => (gen.cdi ? adminConfigV3(dir) : adminConfigV2(dir))

const DRIVER = "/usr/local/Ascend/driver"
/** The LD_LIBRARY_PATH the CDI edits give: the driver's lib dirs that exist. */
const LD = `${DRIVER}/lib64/common:${DRIVER}/lib64/driver`

const suite = (gen: EngineGeneration) => () => {
  let dir = ""
  let host: PrivateHost
  let containerd: ChildProcess | undefined
  let cri: ReturnType<typeof criClient> | undefined
  const sock = () => path.join(dir, "containerd.sock")
  const dev = () => path.join(dir, "dev")
  const pods: Array<string> = []

  const inHost = (argv: ReadonlyArray<string>, input?: string) => {
    const r = host.run(argv, { input, encoding: "utf8" })
    assert.strictEqual(r.status, 0, `${argv.join(" ")}: ${r.stderr}`)
    return String(r.stdout)
  }
  const call = <A>(method: string, request: object): Promise<A> => cri!.call<A>(method, request)
  const record = () => {
    const r = host.run(["cat", "/usr/local/bin/record.json"], { encoding: "utf8" })
    return r.status === 0 ? (JSON.parse(String(r.stdout)) as { argv: Array<string> }) : undefined
  }

  beforeAll(async () => {
    dir = scratch()
    host = await privateHost(dir)
    // The admin's config, the CLI stand-in and a driver tree, all inside the private view.
    inHost(["sh", "-c", "mkdir -p /etc/containerd && cat > /etc/containerd/config.toml"], adminConfig(gen, dir))
    inHost(["install", "-m", "0755", recordingCli("2021"), "/usr/local/bin/ascend-docker-cli"])
    inHost(["sh", "-c", `mkdir -p ${DRIVER}/lib64/common ${DRIVER}/lib64/driver && echo 23.0 > ${DRIVER}/version.info`])
    fs.mkdirSync(dev(), { recursive: true })
    for (const [name, major, minor] of STAND_IN_NODES)
      execFileSync("mknod", ["-m", "0660", path.join(dev(), name), "c", String(major), String(minor)])
    // ADH_DEBUG_RUNC=1 (with ADH_KEEP=1) puts a runc in front of the real one that keeps each bundle's
    // config.json and runc's log in the scratch dir: what the shim hides when runc fails.
    if (process.env.ADH_DEBUG_RUNC !== undefined)
      inHost(
        ["sh", "-c", "cat > /usr/local/bin/runc && chmod 755 /usr/local/bin/runc"],
        `#!/bin/sh
echo "$@" >> ${dir}/runc.args
for a in "$@"; do case "$prev" in --bundle|-b) cp "$a/config.json" ${dir}/config.$$.json;; --log) L="$a";; esac; prev="$a"; done
/usr/sbin/runc "$@"; rc=$?; [ -n "$L" ] && cp "$L" ${dir}/runc-log.$$.json; exit $rc
`
      )
    const out = inHost([BINARY, "install", "--runtime", "containerd"])
    assert.match(out, /create +\/etc\/containerd\/conf.d\/99-ascend.toml/)
    // The static CDI spec for the stand-in NPUs (what a DRA driver or an admin puts in /etc/cdi).
    inHost([BINARY, "cdi", "generate", "--dev-root", dev()])

    containerd = host.daemon(
      [
        gen.containerd,
        "--config",
        "/etc/containerd/config.toml",
        "--address",
        sock(),
        "--root",
        path.join(dir, "root"),
        "--state",
        path.join(dir, "state")
      ],
      path.join(dir, "containerd.log"),
      // The wrapper runs under containerd's shims with containerd's env: where the NPU nodes are.
      { PATH: daemonPath(gen), ASCEND_DOCKER_RUNTIME_DEV_ROOT: dev() }
    )
    for (let i = 0; i < 200 && !fs.existsSync(sock()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.isTrue(
      fs.existsSync(sock()),
      `containerd did not start: ${fs.readFileSync(path.join(dir, "containerd.log"), "utf8").slice(-2000)}`
    )

    const archive = ociArchive(path.join(dir, "image"), SANDBOX_IMAGE, ["/bin/sleep", "100000"])
    const imported = spawnSync(gen.ctr, ["-a", sock(), "-n", "k8s.io", "images", "import", archive], {
      encoding: "utf8"
    })
    assert.strictEqual(imported.status, 0, imported.stderr)

    cri = criClient(sock())
  }, 120_000)

  afterAll(async () => {
    // The pods' shims stop and delete their containers through the runtime they were started with, which the
    // suite's last uninstall removed: put it back first, or StopPodSandbox fails and the containers' processes
    // outlive the suite.
    host?.run([BINARY, "install", "--runtime", "containerd"])
    for (const id of pods) {
      await call("StopPodSandbox", { pod_sandbox_id: id }).catch(() => {})
      await call("RemovePodSandbox", { pod_sandbox_id: id }).catch(() => {})
    }
    cri?.close()
    if (containerd?.pid !== undefined) {
      process.kill(containerd.pid, "SIGTERM")
      await new Promise((r) => containerd!.once("exit", r).once("error", r))
    }
    // Shims outlive containerd by design; ours are the ones started with our socket.
    spawnSync("pkill", ["-KILL", "-f", `containerd-shim-runc-v2 .*${sock()}`])
    host?.stop()
    if (dir !== "" && process.env.ADH_KEEP === undefined) cleanup(dir)
  }, 60_000)

  let counter = 0
  /** A pod (host network, as a device-plugin workload often is) and one container in it, started. */
  const podWith = async (
    handler: string,
    env: Record<string, string>,
    annotations: Record<string, string> = {},
    cdiDevices: ReadonlyArray<string> = []
  ) => {
    const n = ++counter
    const sandbox = {
      metadata: { name: `npu-pod-${n}`, uid: `uid-${process.pid}-${n}`, namespace: "default", attempt: 0 },
      hostname: "",
      log_directory: path.join(dir, "logs", String(n)),
      linux: { security_context: { namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" } } }
    }
    fs.mkdirSync(sandbox.log_directory, { recursive: true })
    const { pod_sandbox_id } = await call<{ pod_sandbox_id: string }>("RunPodSandbox", {
      config: sandbox,
      runtime_handler: handler
    })
    pods.push(pod_sandbox_id)
    const { container_id } = await call<{ container_id: string }>("CreateContainer", {
      pod_sandbox_id,
      config: {
        metadata: { name: "work", attempt: 0 },
        image: { image: SANDBOX_IMAGE },
        command: ["/bin/sleep", "100000"],
        envs: Object.entries(env).map(([key, value]) => ({ key, value })),
        annotations,
        CDI_devices: cdiDevices.map((name) => ({ name })),
        log_path: "work.log"
      },
      sandbox_config: sandbox
    })
    host.run(["rm", "-f", "/usr/local/bin/record.json"])
    const started = await call("StartContainer", { container_id }).then(
      () => undefined,
      (e: Error) => e
    )
    return { pod_sandbox_id, container_id, started }
  }

  it(`runs ${gen.label}`, async () => {
    const v = await call<{ runtime_version: string }>("Version", { version: "v1" })
    console.log(`CRI suite on ${gen.name}: containerd ${versionLine(v.runtime_version)}`)
    assert.match(v.runtime_version, gen.containerdVersion)
  })

  const dump = () => inHost([gen.containerd, "--config", "/etc/containerd/config.toml", "config", "dump"])
  const imported = (config: string) =>
    config.replace(/^version = (\d)\n/, 'version = $1\nimports = ["/etc/containerd/conf.d/99-ascend.toml"]\n')

  if (!gen.cdi)
    it("containerd's own config dump shows runtimes.ascend merged, and the admin's CRI settings kept", () => {
      const d = dump()
      assert.match(d, /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.ascend\]/)
      assert.match(d, /BinaryName = "\/usr\/local\/bin\/ascend-docker-runtime"/)
      assert.match(d, /sandbox_image = "docker\.io\/local\/pause:1"/, "the admin's sandbox_image survives the import")
      assert.match(d, /snapshotter = "native"/)
      assert.match(d, /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\]/)
      assert.strictEqual(d.split(`Root = "${dir}/runc"`).length, 3, "ascend has the default runtime's options too")
      assert.strictEqual(inHost(["cat", "/etc/containerd/config.toml"]), imported(adminConfig(gen, dir)))
      assert.isFalse(
        fs.readFileSync("/etc/containerd/config.toml", "utf8").includes("99-ascend"),
        "the host's own file"
      )
    })
  else
    it("a version 3 config: install's diff is the imports line, the dump has runtimes.ascend under cri.v1.runtime and the admin's settings", () => {
      assert.strictEqual(inHost(["cat", "/etc/containerd/config.toml"]), imported(adminConfig(gen, dir)))
      const d = dump()
      // containerd 2 dumps TOML with single-quoted keys and strings.
      assert.match(d, /\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.ascend\]/)
      assert.match(d, /BinaryName = '\/usr\/local\/bin\/ascend-docker-runtime'/)
      assert.match(d, /container_annotations = \['cdi\.k8s\.io\/\*'\]/)
      assert.match(d, /\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.runc\]/)
      assert.match(d, /default_runtime_name = 'runc'/)
      assert.match(d, /sandbox = 'docker\.io\/local\/pause:1'/, "the admin's sandbox image")
      assert.match(d, /config_path = '\/etc\/containerd\/certs\.d'/, "the admin's registry dir")
      assert.match(d, /snapshotter = 'native'/)
      assert.match(d, /enable_cdi = true/, "CDI on by default in containerd 2")
      assert.match(d, /cdi_spec_dirs = \['\/etc\/cdi', '\/var\/run\/cdi'\]/)
      assert.strictEqual(d.split(`Root = '${dir}/runc'`).length, 3, "the admin's runc options, and ascend has them too")
      assert.isFalse(
        fs.readFileSync("/etc/containerd/config.toml", "utf8").includes("99-ascend"),
        "the host's own file"
      )
    })

  it("speaks CRI v1", async () => {
    const v = await call<{ runtime_name: string; runtime_api_version: string; runtime_version: string }>("Version", {
      version: "v1"
    })
    assert.strictEqual(v.runtime_name, "containerd")
    assert.strictEqual(v.runtime_api_version, "v1")
  })

  it("a pod with handler ascend and the device plugin's env: the CLI ran for that container", async () => {
    const { container_id, started } = await podWith("ascend", {
      ASCEND_VISIBLE_DEVICES: "1,0",
      ASCEND_RUNTIME_OPTIONS: ""
    })
    assert.isUndefined(started, String(started))
    const status = await call<{ status: { state: string }; info: { info: string } }>("ContainerStatus", {
      container_id,
      verbose: true
    })
    assert.strictEqual(status.status.state, "CONTAINER_RUNNING")
    const info = JSON.parse(status.info.info) as { pid: number; runtimeSpec: { root: { path: string } } }
    const rec = record()
    assert.isDefined(rec, "the CLI stand-in ran")
    const argv = rec!.argv
    assert.strictEqual(argv[0], "/usr/local/bin/ascend-docker-cli")
    assert.deepStrictEqual(argv.slice(1, 3), ["--devices", "0,1"])
    assert.strictEqual(argv[argv.indexOf("--pid") + 1], String(info.pid), "the pid of this container")
    const rootfs = argv[argv.indexOf("--rootfs") + 1]!
    assert.include(rootfs, container_id, "the rootfs of this container")
    assert.include(argv, "/usr/local/Ascend/driver/lib64")
    assert.include(argv, "/usr/local/Ascend/driver/version.info")
  })

  it("a pod with handler runc and the same env gets nothing", async () => {
    const { started } = await podWith("runc", { ASCEND_VISIBLE_DEVICES: "0" })
    assert.isUndefined(started, String(started))
    assert.isUndefined(record(), "the CLI never ran")
  })

  it("a pod with handler ascend and no request runs untouched", async () => {
    const { started } = await podWith("ascend", {})
    assert.isUndefined(started, String(started))
    assert.isUndefined(record())
  })

  it("a bad value fails StartContainer with the hook's line in the error", async () => {
    const { started } = await podWith("ascend", { ASCEND_VISIBLE_DEVICES: "0,x" })
    assert.instanceOf(started, Error)
    assert.match(String(started!.message), /ASCEND_VISIBLE_DEVICES/, String(started!.message))
    assert.isUndefined(record(), "nothing run")
  })

  it("install --unprivileged-env ignore: a pod's own env asks for nothing, the device plugin's CDI annotation is honoured", async () => {
    inHost([BINARY, "install", "--runtime", "containerd", "--unprivileged-env", "ignore"])
    try {
      const own = await podWith("ascend", { ASCEND_VISIBLE_DEVICES: "0,1" })
      assert.isUndefined(own.started, String(own.started))
      assert.isUndefined(record(), "an env an image or pod spec can set is no request here")
      // What a device plugin's allocation looks like with CDI annotations; containerd passes it on because
      // install gave the ascend runtime container_annotations = ["cdi.k8s.io/*"].
      const plugin = await podWith(
        "ascend",
        { ASCEND_VISIBLE_DEVICES: "0,1" },
        { "cdi.k8s.io/ascend-device-plugin_work": "ascend.com/npu=1" }
      )
      assert.isUndefined(plugin.started, String(plugin.started))
      if (gen.cdi) {
        // containerd 2 applied the annotation's spec itself: the wrapper only marks, and the CLI never runs.
        const seen = await look(plugin.container_id)
        assert.include(seen.dev, "davinci1", "the annotation's device")
        assert.notInclude(seen.dev, "davinci0", "not the env's")
        assert.isUndefined(seen.cli, "the engine gave it: no hook, no CLI")
      } else
        assert.deepStrictEqual(record()?.argv.slice(1, 3), ["--devices", "1"], "the annotation's device, not the env's")
    } finally {
      inHost([BINARY, "install", "--runtime", "containerd", "--unprivileged-env", "accept"])
    }
  })

  /** What a running container got, seen from the host: its /dev, LD_LIBRARY_PATH, driver mounts, and the bundle the runtime ran. */
  const look = async (container_id: string) => {
    const status = await call<{ info: { info: string } }>("ContainerStatus", { container_id, verbose: true })
    const { pid } = JSON.parse(status.info.info) as { pid: number }
    const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
    const driverMounts = fs
      .readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .split("\n")
      .map((line) => line.split(" "))
      .filter((f) => f[4] === `${DRIVER}/lib64`)
    const bundle = JSON.parse(
      fs.readFileSync(path.join(dir, "state/io.containerd.runtime.v2.task/k8s.io", container_id, "config.json"), "utf8")
    ) as { hooks?: { prestart?: Array<unknown> }; linux: { devices?: Array<{ path: string }> } }
    return {
      dev: fs.readdirSync(`/proc/${pid}/root/dev`),
      ld: env.find((e) => e.startsWith("LD_LIBRARY_PATH="))?.slice("LD_LIBRARY_PATH=".length),
      driverMounts: driverMounts.length,
      readOnly: driverMounts.every((f) => f[5]!.split(",").includes("ro")),
      prestartHooks: bundle.hooks?.prestart?.length ?? 0,
      davinci1InBundle: (bundle.linux.devices ?? []).filter((d) => d.path === "/dev/davinci1").length,
      cli: record()
    }
  }
  const ANNOTATION = "cdi.k8s.io/ascend-device-plugin_work"

  if (gen.cdi) {
    const routes = [
      { handler: "runc", via: "CDI_devices" },
      { handler: "runc", via: "annotation" },
      { handler: "ascend", via: "CDI_devices" }
    ] as const
    for (const { handler, via } of routes)
      it(`containerd 2 applies the CDI spec itself: ascend.com/npu=1 by ${via}, handler ${handler}: the nodes, read-only driver, LD_LIBRARY_PATH, each once, no hook`, async () => {
        const { container_id, started } = await podWith(
          handler,
          {},
          via === "annotation" ? { [ANNOTATION]: "ascend.com/npu=1" } : {},
          via === "CDI_devices" ? ["ascend.com/npu=1"] : []
        )
        assert.isUndefined(started, String(started))
        const seen = await look(container_id)
        assert.include(seen.dev, "davinci1")
        assert.notInclude(seen.dev, "davinci0", "only the device asked for")
        for (const shared of ["davinci_manager", "devmm_svm", "hisi_hdc"]) assert.include(seen.dev, shared)
        assert.strictEqual(seen.driverMounts, 1, "the driver mounted once")
        assert.isTrue(seen.readOnly)
        assert.strictEqual(seen.ld, LD, "LD_LIBRARY_PATH once")
        assert.strictEqual(seen.davinci1InBundle, 1, "the node once in the bundle")
        assert.strictEqual(seen.prestartHooks, 0, "no hook: the engine did it all")
        assert.isUndefined(seen.cli, "the CLI never ran")
      })

    // containerd passes the annotation on to handler ascend (container_annotations) after applying the spec
    // itself. The wrapper sees the annotated NPU's node already in the bundle and adds only the device
    // plugin's mark: no hook, so the CLI does not mount for an NPU the engine already gave.
    it("handler ascend with the annotation on containerd 2: the engine's edits once, and no hook (the wrapper only marks)", async () => {
      const { container_id, started } = await podWith("ascend", {}, { [ANNOTATION]: "ascend.com/npu=1" })
      assert.isUndefined(started, String(started))
      const seen = await look(container_id)
      assert.include(seen.dev, "davinci1")
      assert.notInclude(seen.dev, "davinci0")
      assert.strictEqual(seen.davinci1InBundle, 1, "the engine's node, not a second one from the wrapper")
      assert.strictEqual(seen.driverMounts, 1, "the engine's driver mount, once")
      assert.strictEqual(seen.ld, LD)
      assert.strictEqual(seen.prestartHooks, 0, "no hook: the engine did it all")
      assert.isUndefined(seen.cli, "the CLI never ran")
    })

    it("ascend.com/npu=all by CDI_devices, handler runc: every NPU", async () => {
      const { container_id, started } = await podWith("runc", {}, {}, ["ascend.com/npu=all"])
      assert.isUndefined(started, String(started))
      const seen = await look(container_id)
      for (const node of ["davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"])
        assert.include(seen.dev, node)
    })
  } else {
    it("containerd 1.6 has no CDI: CDI_devices and the annotation give a handler-runc container nothing, the wrapper is the route there", async () => {
      const { container_id, started } = await podWith("runc", {}, { [ANNOTATION]: "ascend.com/npu=1" }, [
        "ascend.com/npu=1"
      ])
      assert.isUndefined(started, String(started))
      const seen = await look(container_id)
      assert.notInclude(seen.dev, "davinci1")
      assert.strictEqual(seen.driverMounts, 0)
      assert.isUndefined(seen.cli)
    })
  }

  it("install --mode cdi: handler ascend with the device plugin's env gets the CDI edits from the wrapper, no hook, no CLI", async () => {
    inHost([BINARY, "install", "--runtime", "containerd", "--mode", "cdi"])
    try {
      const { container_id, started } = await podWith("ascend", { ASCEND_VISIBLE_DEVICES: "1" })
      assert.isUndefined(started, String(started))
      const seen = await look(container_id)
      assert.include(seen.dev, "davinci1")
      assert.notInclude(seen.dev, "davinci0")
      assert.strictEqual(seen.driverMounts, 1)
      assert.isTrue(seen.readOnly)
      assert.strictEqual(seen.ld, LD)
      assert.strictEqual(seen.prestartHooks, 0)
      assert.isUndefined(seen.cli)
    } finally {
      inHost([BINARY, "install", "--runtime", "containerd", "--mode", "hook"])
    }
  })

  it("uninstall restores the admin's config.toml byte for byte", () => {
    const out = inHost([BINARY, "uninstall", "--runtime", "containerd"])
    assert.match(out, /update +\/etc\/containerd\/config.toml/)
    assert.strictEqual(inHost(["cat", "/etc/containerd/config.toml"]), adminConfig(gen, dir))
    assert.strictEqual(host.run(["test", "-e", "/etc/containerd/conf.d/99-ascend.toml"]).status, 1, "the drop-in gone")
  })

  it("uninstall while a pod with handler ascend runs keeps the binary, and its shim still stops and removes the pod", async () => {
    // Back in place (the test above uninstalled); the running containerd still knows handler ascend.
    inHost([BINARY, "install", "--runtime", "containerd"])
    const { pod_sandbox_id, container_id, started } = await podWith("ascend", {})
    assert.isUndefined(started, String(started))
    // The engine's bundles where a host's containerd keeps them (this one's --state is private to the test).
    const tasks = "/run/containerd/io.containerd.runtime.v2.task"
    inHost(["sh", "-c", `mkdir -p /run/containerd && ln -sfn ${dir}/state/io.containerd.runtime.v2.task ${tasks}`])
    try {
      const out = inHost([BINARY, "uninstall", "--runtime", "containerd"])
      // Every container this suite started through the wrapper is still running, this one among them.
      const bundle = path.join(dir, "state/io.containerd.runtime.v2.task/k8s.io", container_id, "config.json")
      assert.include(fs.readFileSync(bundle, "utf8"), JSON.stringify(RUNTIME_MARK))
      assert.match(
        out,
        /keep +\/usr\/local\/bin\/ascend-docker-hook +\(the hook binary: kept, \d+ running containers were created through the wrapper \(k8s\.io\//
      )
      assert.match(out, /keep +\/usr\/local\/bin\/ascend-docker-runtime +\(the runtime wrapper link: kept/)
      assert.strictEqual(inHost(["cat", "/etc/containerd/config.toml"]), adminConfig(gen, dir), "the settings go")
      // The shim calls the runtime it was started with (kill, delete): kept, it stops and removes the pod.
      await call("StopPodSandbox", { pod_sandbox_id })
      await call("RemovePodSandbox", { pod_sandbox_id })
      assert.isFalse(fs.existsSync(path.dirname(bundle)), "the container deleted, its bundle gone")
    } finally {
      inHost(["rm", "-f", tasks])
    }
    assert.match(
      inHost([BINARY, "uninstall", "--runtime", "containerd"]),
      /remove +\/usr\/local\/bin\/ascend-docker-hook/
    )
  })
}

for (const gen of GENERATIONS)
  describe.runIf(missingFor(gen).length === 0)(
    `containerd on ${gen.label} through CRI, as the kubelet does (runtime handler ascend)`,
    suite(gen)
  )
