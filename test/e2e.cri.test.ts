import { type ChildProcess, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { BINARY, cleanup, inCI, ROOT, recordingCli, scratch } from "./support/fixtures.ts"
import { BUSYBOX, ociArchive } from "./support/images.ts"
import { canMakePrivateHost, type PrivateHost, privateHost } from "./support/privateHost.ts"

// containerd driven as the kubelet drives it: CRI v1 over gRPC to a containerd (Debian's 1.6) whose
// config is what `ascend-docker-hook install --runtime containerd` made of an admin's config.toml, all in
// a private view of the host (test/support/privateHost.ts: /etc and /usr/local are overlays, so the
// installer runs with the real paths and the host's own files never change). containerd runs on a
// private root, state dir and socket; the sandbox image is a local busybox imported into k8s.io. The
// CLI is the recording stand-in at /usr/local/bin/ascend-docker-cli (2021 protocol): what it records is
// what the hook asked for.

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const missing = [
  ...["containerd", "ctr", "containerd-shim-runc-v2", "runc"].filter((c) => !which(c)),
  ...(BUSYBOX === undefined ? ["busybox"] : []),
  ...(canMakePrivateHost() === undefined ? [] : [canMakePrivateHost()!])
]
if (missing.length > 0) {
  const why = `missing: ${missing.join(", ")}`
  if (inCI)
    throw new Error(`CRI end-to-end tests cannot run in CI: ${why} (.ci/run installs containerd runc busybox-static)`)
  console.warn(`skipping the CRI end-to-end tests (${why})`)
}

const SANDBOX_IMAGE = "docker.io/local/pause:1"
/**
 * The node's own containerd config, as an admin wrote it (kept byte for byte by install). runc's state
 * root is the test's own (the shim's default is the host's /run/containerd/runc), and OOM scores are not
 * lowered (this machine's root lacks CAP_SYS_RESOURCE, which a sandbox's -998 needs).
 */
const adminConfig = (dir: string) => `version = 2
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

// biome-ignore lint/suspicious/noExplicitAny: the gRPC client is made from the .proto at run time
type Client = any

describe.runIf(missing.length === 0)("containerd through CRI, as the kubelet does (runtime handler ascend)", () => {
  let dir = ""
  let host: PrivateHost
  let containerd: ChildProcess | undefined
  let client: Client
  const sock = () => path.join(dir, "containerd.sock")
  const pods: Array<string> = []

  const inHost = (argv: ReadonlyArray<string>, input?: string) => {
    const r = host.run(argv, { input, encoding: "utf8" })
    assert.strictEqual(r.status, 0, `${argv.join(" ")}: ${r.stderr}`)
    return String(r.stdout)
  }
  const call = <A>(method: string, request: object): Promise<A> =>
    new Promise((resolve, reject) =>
      client[method](request, { deadline: Date.now() + 60_000 }, (e: Error | null, r: A) =>
        e ? reject(e) : resolve(r)
      )
    )
  const record = () => {
    const r = host.run(["cat", "/usr/local/bin/record.json"], { encoding: "utf8" })
    return r.status === 0 ? (JSON.parse(String(r.stdout)) as { argv: Array<string> }) : undefined
  }

  beforeAll(async () => {
    dir = scratch()
    host = await privateHost(dir)
    // The admin's config, the CLI stand-in and a driver tree, all inside the private view.
    inHost(["sh", "-c", "mkdir -p /etc/containerd && cat > /etc/containerd/config.toml"], adminConfig(dir))
    inHost(["install", "-m", "0755", recordingCli("2021"), "/usr/local/bin/ascend-docker-cli"])
    inHost(["sh", "-c", "mkdir -p /usr/local/Ascend/driver/lib64 && echo 23.0 > /usr/local/Ascend/driver/version.info"])
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

    containerd = host.daemon(
      [
        "containerd",
        "--config",
        "/etc/containerd/config.toml",
        "--address",
        sock(),
        "--root",
        path.join(dir, "root"),
        "--state",
        path.join(dir, "state")
      ],
      path.join(dir, "containerd.log")
    )
    for (let i = 0; i < 200 && !fs.existsSync(sock()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.isTrue(
      fs.existsSync(sock()),
      `containerd did not start: ${fs.readFileSync(path.join(dir, "containerd.log"), "utf8").slice(-2000)}`
    )

    const archive = ociArchive(path.join(dir, "image"), SANDBOX_IMAGE, ["/bin/sleep", "100000"])
    const imported = spawnSync("ctr", ["-a", sock(), "-n", "k8s.io", "images", "import", archive], { encoding: "utf8" })
    assert.strictEqual(imported.status, 0, imported.stderr)

    const definition = protoLoader.loadSync(path.join(ROOT, "test/support/cri.proto"), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true
    })
    const runtime = (grpc.loadPackageDefinition(definition) as Client).runtime.v1
    client = new runtime.RuntimeService(`unix://${sock()}`, grpc.credentials.createInsecure())
  }, 120_000)

  afterAll(async () => {
    for (const id of pods) {
      await call("StopPodSandbox", { pod_sandbox_id: id }).catch(() => {})
      await call("RemovePodSandbox", { pod_sandbox_id: id }).catch(() => {})
    }
    client?.close()
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
  const podWith = async (handler: string, env: Record<string, string>, annotations: Record<string, string> = {}) => {
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

  it("containerd's own config dump shows runtimes.ascend merged, and the admin's CRI settings kept", () => {
    const dump = inHost(["containerd", "--config", "/etc/containerd/config.toml", "config", "dump"])
    assert.match(dump, /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.ascend\]/)
    assert.match(dump, /BinaryName = "\/usr\/local\/bin\/ascend-docker-runtime"/)
    assert.match(dump, /sandbox_image = "docker\.io\/local\/pause:1"/, "the admin's sandbox_image survives the import")
    assert.match(dump, /snapshotter = "native"/)
    assert.match(dump, /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\]/)
    assert.strictEqual(dump.split(`Root = "${dir}/runc"`).length, 3, "ascend has the default runtime's options too")
    const config = inHost(["cat", "/etc/containerd/config.toml"])
    assert.strictEqual(
      config,
      adminConfig(dir).replace("version = 2\n", 'version = 2\nimports = ["/etc/containerd/conf.d/99-ascend.toml"]\n')
    )
    assert.isFalse(fs.readFileSync("/etc/containerd/config.toml", "utf8").includes("99-ascend"), "the host's own file")
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
      assert.deepStrictEqual(record()?.argv.slice(1, 3), ["--devices", "1"], "the annotation's device, not the env's")
    } finally {
      inHost([BINARY, "install", "--runtime", "containerd", "--unprivileged-env", "accept"])
    }
  })
})
