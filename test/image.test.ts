import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { criClient } from "./support/cri.ts"
import { BINARY, cleanup, inCI, NODE, QEMU_ARM64, ROOT, recordingCli, scratch } from "./support/fixtures.ts"
import { BUSYBOX, ociArchive, rootfsTar } from "./support/images.ts"
import {
  buildImage,
  childrenNamed,
  IMAGE_ARCHIVE,
  IMAGE_NAME,
  pidsWith,
  podmanIn,
  readArchive,
  snapshot,
  supervise,
  waitFor,
  which
} from "./support/installerImage.ts"
import { canMakePrivateHost, privateHost } from "./support/privateHost.ts"

// The installer image (npm run image: scripts/image.mjs) as a DaemonSet runs it: loaded into Podman and run
// with hostPID and the host's /etc, /usr/local and /run under /host, against a private view of the host
// (test/support/privateHost.ts) in which a real containerd, restarted by a supervisor loop as systemd
// would, or a real dockerd serves. node-setup installs onto the view, makes the engine take it, reports
// ready through the probe; a CRI pod with handler ascend (or docker run --runtime ascend) then runs the
// hook node-setup copied out of the image; SIGTERM to the installer puts the view's files back byte for
// byte. The arm64 image runs its help under qemu-user from its own libraries.

const missing = [
  ...["podman", "runc", "containerd", "ctr", "containerd-shim-runc-v2", "dockerd", "readelf", "tar"].filter(
    (c) => !which(c)
  ),
  ...["skopeo", "docker-registry"].filter((c) => !which(c)),
  ...(fs.existsSync(QEMU_ARM64[0]) ? [] : [QEMU_ARM64[0]]),
  ...(fs.existsSync("/usr/aarch64-linux-gnu/lib/libc.so.6") ? [] : ["libc6-arm64-cross"]),
  ...(BUSYBOX === undefined ? ["busybox"] : []),
  ...(canMakePrivateHost() === undefined ? [] : [canMakePrivateHost()!])
]
if (missing.length > 0) {
  const why = `missing: ${missing.join(", ")}`
  if (inCI) throw new Error(`the installer image tests cannot run in CI: ${why} (.ci/run installs them)`)
  console.warn(`skipping the installer image tests (${why})`)
}
const canRun = missing.length === 0

beforeAll(() => {
  if (canRun) buildImage()
}, 300_000)

interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string; os: string }
  annotations?: Record<string, string>
}

describe.runIf(canRun)("the image archive: one multi-arch index, FROM-scratch layers", () => {
  let dir = ""
  let archive: ReturnType<typeof readArchive>
  beforeAll(() => {
    dir = scratch()
    archive = readArchive(path.join(dir, "layout"))
  })
  afterAll(() => cleanup(dir))

  /** The files of one arch's only layer, as `tar -tvzf` lists them. */
  const layerOf = (arch: string) => {
    const [top] = archive.index.manifests as Array<Descriptor>
    const index = archive.json<{ manifests: Array<Descriptor> }>(top!.digest)
    const manifest = index.manifests.find((m) => m.platform?.architecture === arch)!
    const m = archive.json<{ config: Descriptor; layers: Array<Descriptor> }>(manifest.digest)
    assert.strictEqual(m.layers.length, 1)
    const file = path.join(dir, `${arch}.tar.gz`)
    fs.writeFileSync(file, archive.blob(m.layers[0]!.digest))
    return { config: archive.json<Record<string, unknown>>(m.config.digest), file }
  }

  it("index.json names ascend-docker-hook:VERSION and holds an index of linux/amd64 and linux/arm64", () => {
    const manifests = archive.index.manifests as Array<Descriptor>
    assert.strictEqual(manifests.length, 1)
    assert.strictEqual(manifests[0]!.mediaType, "application/vnd.oci.image.index.v1+json")
    assert.strictEqual(manifests[0]!.annotations?.["org.opencontainers.image.ref.name"], IMAGE_NAME.split("/").pop())
    const inner = archive.json<{ manifests: Array<Descriptor> }>(manifests[0]!.digest)
    assert.deepStrictEqual(
      inner.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`),
      ["linux/amd64", "linux/arm64"]
    )
  })

  it("each arch: the binary, its interpreter and libraries, /run/ascend-node-setup, nothing else; node-setup the entry", () => {
    for (const [arch, interp, triplet] of [
      ["amd64", "lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu"],
      ["arm64", "lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu"]
    ] as const) {
      const { config, file } = layerOf(arch)
      const listed = execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n").sort()
      const files = listed.filter((n) => !n.endsWith("/"))
      assert.deepStrictEqual(
        files,
        [
          interp,
          ...["libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0"].map((l) => `lib/${triplet}/${l}`),
          "usr/bin/ascend-docker-hook"
        ].sort(),
        arch
      )
      assert.include(listed, "run/ascend-node-setup/")
      assert.strictEqual(config.architecture, arch)
      assert.deepStrictEqual((config.config as { Entrypoint: Array<string> }).Entrypoint, [
        "/usr/bin/ascend-docker-hook",
        "node-setup"
      ])
    }
  })

  it("is made the same byte for byte twice from the same binaries", () => {
    const before = fs.readFileSync(IMAGE_ARCHIVE)
    buildImage()
    assert.isTrue(before.equals(fs.readFileSync(IMAGE_ARCHIVE)))
  }, 300_000)

  it("pushes to a registry as one multi-arch index (skopeo copy --all, as the README says; a private registry)", async () => {
    fs.writeFileSync(
      path.join(dir, "registry.yml"),
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:0\n`
    )
    const registry = spawn("docker-registry", ["serve", path.join(dir, "registry.yml")], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let log = ""
    registry.stderr!.on("data", (d) => {
      log += d
    })
    registry.stdout!.on("data", (d) => {
      log += d
    })
    try {
      assert.isTrue(await waitFor(20_000, () => /listening on 127\.0\.0\.1:\d+/.test(log)), log)
      const port = log.match(/listening on 127\.0\.0\.1:(\d+)/)![1]
      const ref = `docker://127.0.0.1:${port}/ascend/ascend-docker-hook:test`
      const copy = spawnSync(
        "skopeo",
        ["copy", "--all", "--dest-tls-verify=false", `oci-archive:${IMAGE_ARCHIVE}`, ref],
        { encoding: "utf8", timeout: 300_000 }
      )
      assert.strictEqual(copy.status, 0, copy.stderr)
      const raw = spawnSync("skopeo", ["inspect", "--raw", "--tls-verify=false", ref], { encoding: "utf8" })
      assert.strictEqual(raw.status, 0, raw.stderr)
      const [top] = archive.index.manifests as Array<Descriptor>
      const local = archive.json<{ manifests: Array<Descriptor> }>(top!.digest).manifests
      const pushed = (JSON.parse(raw.stdout) as { manifests: Array<Descriptor> }).manifests
      assert.deepStrictEqual(
        pushed.map((m) => [m.platform?.architecture, m.digest]),
        local.map((m) => [m.platform?.architecture, m.digest]),
        "the same per-arch manifests, byte for byte"
      )
    } finally {
      registry.kill("SIGKILL")
    }
  }, 300_000)

  it("the arm64 image starts and prints node-setup's help under qemu-user, from its own libraries", () => {
    const { file } = layerOf("arm64")
    const rootfs = path.join(dir, "arm64-rootfs")
    fs.mkdirSync(rootfs)
    execFileSync("tar", ["-C", rootfs, "-xzf", file])
    // -L: the image's own tree is where the arm64 interpreter and libraries come from (not the cross package).
    const r = spawnSync(
      QEMU_ARM64[0],
      ["-L", rootfs, path.join(rootfs, "usr/bin/ascend-docker-hook"), "node-setup", "--help"],
      {
        encoding: "utf8",
        timeout: 120_000
      }
    )
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /^usage: ascend-docker-hook node-setup --runtime NAME/)
    const v = spawnSync(QEMU_ARM64[0], ["-L", rootfs, path.join(rootfs, "usr/bin/ascend-docker-hook"), "--version"], {
      encoding: "utf8",
      timeout: 120_000
    })
    assert.match(v.stdout, /^ascend-docker-hook \d/)
  }, 180_000)

  it("the arm64 image's node-setup finds a daemon by its socket (SO_PEERCRED through bun:ffi) under qemu-user", async () => {
    const rootfs = path.join(dir, "arm64-rootfs")
    const host = path.join(dir, "arm64-host")
    fs.mkdirSync(path.join(host, "etc/containerd"), { recursive: true })
    fs.mkdirSync(path.join(host, "run/containerd"), { recursive: true })
    fs.writeFileSync(path.join(host, "etc/containerd/config.toml"), "version = 2\n")
    const sock = path.join(host, "run/containerd/containerd.sock")
    // A stand-in daemon on containerd's socket that nobody restarts: the line must name its pid.
    const daemon = spawn(NODE, [
      "-e",
      `require("node:net").createServer((c) => c.end()).listen(${JSON.stringify(sock)})`
    ])
    const setup = spawn(
      QEMU_ARM64[0],
      [
        ...["-L", rootfs, path.join(rootfs, "usr/bin/ascend-docker-hook"), "node-setup", "--host-root", host],
        ...["--runtime", "containerd", "--mark-dir", path.join(dir, "arm64-mark"), "--restart-timeout", "2"]
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    setup.stdout!.on("data", (d) => {
      output += d
    })
    setup.stderr!.on("data", (d) => {
      output += d
    })
    try {
      assert.isTrue(await waitFor(20_000, () => fs.existsSync(sock)))
      assert.isTrue(await waitFor(120_000, () => output.includes("did not come back")), output)
      assert.include(output, `containerd did not come back within 2 s of SIGTERM to pid ${daemon.pid} `)
      const exited = new Promise((r) => setup.once("exit", r))
      setup.kill("SIGTERM")
      assert.strictEqual(await exited, 0, output)
      assert.strictEqual(fs.readFileSync(path.join(host, "etc/containerd/config.toml"), "utf8"), "version = 2\n")
    } finally {
      if (setup.exitCode === null) setup.kill("SIGKILL")
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL")
    }
  }, 240_000)
})

/** A view of a host with the CLI stand-in and a driver tree in it, and Podman with the image loaded. */
const node = async (dir: string) => {
  const host = await privateHost(dir)
  const inHost = (argv: ReadonlyArray<string>, input?: string) => {
    const r = host.run(argv, { input, encoding: "utf8" })
    assert.strictEqual(r.status, 0, `${argv.join(" ")}: ${r.stderr}`)
    return String(r.stdout)
  }
  inHost(["install", "-m", "0755", recordingCli("2021"), "/usr/local/bin/ascend-docker-cli"])
  inHost(["sh", "-c", "mkdir -p /usr/local/Ascend/driver/lib64 && echo 23.0 > /usr/local/Ascend/driver/version.info"])
  const pm = podmanIn(host, dir)
  const loaded = pm.podman(["load", "-i", IMAGE_ARCHIVE])
  assert.strictEqual(loaded.status, 0, loaded.stderr)
  assert.include(loaded.stdout, IMAGE_NAME)
  /** What the view has changed of the host's /etc and /usr/local (the overlays' upper dirs). */
  const files = () => ({
    etc: snapshot(path.join(dir, "etc.upper")),
    usrLocal: snapshot(path.join(dir, "usr-local.upper"))
  })
  /** What the CLI stand-in recorded; the record is removed once read (it is the test's, not the installer's). */
  const record = () => {
    const r = host.run(["sh", "-c", "cat /usr/local/bin/record.json && rm /usr/local/bin/record.json"], {
      encoding: "utf8"
    })
    return r.status === 0 ? (JSON.parse(String(r.stdout)) as { argv: Array<string> }) : undefined
  }
  const logs = (name: string) => {
    const r = pm.podman(["logs", name])
    return `${r.stdout}${r.stderr}`
  }
  const ready = (name: string) =>
    waitFor(
      90_000,
      () => pm.podman(["exec", name, "/usr/bin/ascend-docker-hook", "node-setup", "--probe"]).status === 0
    )
  /** SIGTERM to the installer (what the kubelet sends a terminating pod), waiting for it to exit. */
  const terminate = (name: string) => {
    const r = pm.podman(["stop", "-t", "90", name], 180_000)
    assert.strictEqual(r.status, 0, r.stderr)
    return pm.podman(["inspect", "--format", "{{.State.ExitCode}}", name]).stdout.trim()
  }
  return { host, inHost, pm, files, record, logs, ready, terminate }
}

const SANDBOX_IMAGE = "docker.io/local/pause:1"

describe.runIf(canRun)(
  "the image on a containerd node: installs, restarts containerd, a CRI pod gets its NPU, SIGTERM undoes",
  () => {
    let dir = ""
    let n: Awaited<ReturnType<typeof node>>
    let supervisor: ChildProcess | undefined
    let cri: ReturnType<typeof criClient> | undefined
    let proxy: ChildProcess | undefined
    let before: ReturnType<typeof n.files>
    const pods: Array<string> = []
    const containerdPid = () => childrenNamed(supervisor!.pid!, "containerd")[0]
    let firstPid: number | undefined
    let secondPid: number | undefined
    const call = <A>(method: string, request: object): Promise<A> => cri!.call<A>(method, request)

    beforeAll(async () => {
      dir = scratch()
      n = await node(dir)
      // The admin's containerd config; runc's state root is the test's own and OOM scores are not lowered
      // (see e2e.cri.test.ts).
      n.inHost(
        ["sh", "-c", "mkdir -p /etc/containerd && cat > /etc/containerd/config.toml"],
        `version = 2
# The node's own containerd config.
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${SANDBOX_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${dir}/runc"
`
      )
      before = n.files()
      // containerd on its default socket in the view, restarted by a loop whenever it exits (systemd's part).
      supervisor = supervise(
        n.host,
        ["containerd", "--config", "/etc/containerd/config.toml", "--root", `${dir}/root`, "--state", `${dir}/state`],
        path.join(dir, "containerd.log")
      )
      const up = await waitFor(30_000, () => n.host.run(["ctr", "version"]).status === 0)
      assert.isTrue(
        up,
        `containerd did not start: ${fs.readFileSync(path.join(dir, "containerd.log"), "utf8").slice(-2000)}`
      )
      firstPid = containerdPid()
      const archive = ociArchive(path.join(dir, "image"), SANDBOX_IMAGE, ["/bin/sleep", "100000"])
      n.inHost(["ctr", "-n", "k8s.io", "images", "import", archive])
    }, 300_000)

    afterAll(async () => {
      for (const id of pods) {
        await call("StopPodSandbox", { pod_sandbox_id: id }).catch(() => {})
        await call("RemovePodSandbox", { pod_sandbox_id: id }).catch(() => {})
      }
      cri?.close()
      if (proxy?.pid !== undefined) process.kill(proxy.pid, "SIGKILL")
      n?.pm.podman(["rm", "-f", "-t", "0", "adh-node-setup"])
      if (supervisor?.pid !== undefined) {
        const daemon = containerdPid()
        process.kill(supervisor.pid, "SIGKILL")
        if (daemon !== undefined) process.kill(daemon, "SIGTERM")
      }
      await new Promise((r) => setTimeout(r, 1000))
      for (const pid of pidsWith("containerd-shim", `${dir}/`)) process.kill(pid, "SIGKILL")
      n?.pm.close()
      n?.host.stop()
      if (dir !== "" && process.env.ADH_KEEP === undefined) cleanup(dir)
    }, 120_000)

    it("runs as the DaemonSet's pod: installs onto the host, containerd restarted (new pid), then ready", async () => {
      assert.isDefined(firstPid)
      const started = n.pm.runInstaller("adh-node-setup", ["--host-root", "/host", "--runtime", "containerd"])
      assert.strictEqual(started.status, 0, started.stderr)
      assert.isTrue(await n.ready("adh-node-setup"), `never ready:\n${n.logs("adh-node-setup")}`)
      secondPid = containerdPid()
      assert.isDefined(secondPid)
      assert.notStrictEqual(secondPid, firstPid, "containerd was restarted")
      const logs = n.logs("adh-node-setup")
      assert.include(logs, `containerd: containerd restarted (pid ${firstPid} -> ${secondPid})`)
      assert.include(logs, "node-setup: done; the host passes doctor for it")
      // The binary on the host is the image's, copied out of it.
      assert.include(logs, "(the hook binary, from /usr/bin/ascend-docker-hook)")
      const copied = n.inHost(["sha256sum", "/usr/local/bin/ascend-docker-hook"]).split(" ")[0]
      assert.strictEqual(
        copied,
        execFileSync("sha256sum", [fs.realpathSync(BINARY)], { encoding: "utf8" }).split(" ")[0]
      )
      assert.match(n.inHost(["readlink", "/usr/local/bin/ascend-docker-runtime"]), /ascend-docker-hook/)
    }, 240_000)

    it("a CRI pod with handler ascend gets its NPU through that containerd (the CLI stand-in ran for it)", async () => {
      // containerd's socket is in the view's /run, which the test (outside the view) cannot connect to: a
      // small relay in the view forwards a socket in the scratch dir to it.
      proxy = n.host.daemon(
        [
          NODE,
          "-e",
          `const net = require("node:net"); net.createServer((c) => { const u = net.connect("/run/containerd/containerd.sock"); c.pipe(u).pipe(c); u.on("error", () => c.destroy()); c.on("error", () => u.destroy()) }).listen(${JSON.stringify(`${dir}/cri.sock`)})`
        ],
        path.join(dir, "relay.log")
      )
      assert.isTrue(await waitFor(10_000, () => fs.existsSync(`${dir}/cri.sock`)))
      cri = criClient(`${dir}/cri.sock`)
      const sandbox = {
        metadata: { name: "npu-pod", uid: `uid-${process.pid}`, namespace: "default", attempt: 0 },
        hostname: "",
        log_directory: path.join(dir, "logs"),
        linux: { security_context: { namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" } } }
      }
      fs.mkdirSync(sandbox.log_directory, { recursive: true })
      const { pod_sandbox_id } = await call<{ pod_sandbox_id: string }>("RunPodSandbox", {
        config: sandbox,
        runtime_handler: "ascend"
      })
      pods.push(pod_sandbox_id)
      const { container_id } = await call<{ container_id: string }>("CreateContainer", {
        pod_sandbox_id,
        config: {
          metadata: { name: "work", attempt: 0 },
          image: { image: SANDBOX_IMAGE },
          command: ["/bin/sleep", "100000"],
          envs: [{ key: "ASCEND_VISIBLE_DEVICES", value: "0" }],
          log_path: "work.log"
        },
        sandbox_config: sandbox
      })
      await call("StartContainer", { container_id })
      const rec = n.record()
      assert.isDefined(rec, "the CLI stand-in ran")
      assert.deepStrictEqual(rec!.argv.slice(0, 3), ["/usr/local/bin/ascend-docker-cli", "--devices", "0"])
      assert.include(rec!.argv[rec!.argv.indexOf("--rootfs") + 1]!, container_id)
      // Done with the pod before the runtime goes: its shim runs the ascend wrapper for kill and delete.
      await call("StopPodSandbox", { pod_sandbox_id })
      await call("RemovePodSandbox", { pod_sandbox_id })
      pods.pop()
    }, 180_000)

    it("SIGTERM: the host's files are back byte for byte, containerd restarted again (new pid)", () => {
      assert.strictEqual(n.terminate("adh-node-setup"), "0", n.logs("adh-node-setup"))
      const logs = n.logs("adh-node-setup")
      assert.include(logs, "node-setup: SIGTERM: undoing the install")
      const third = containerdPid()
      assert.isDefined(third)
      assert.notStrictEqual(third, secondPid)
      assert.include(logs, `containerd: containerd restarted (pid ${secondPid} -> ${third})`)
      assert.deepStrictEqual(n.files(), before)
    }, 240_000)
  }
)

describe.runIf(canRun)("the image on a Docker node: installs, dockerd reloads (same pid), SIGTERM undoes", () => {
  let dir = ""
  let n: Awaited<ReturnType<typeof node>>
  let dockerd: ChildProcess | undefined
  let before: ReturnType<typeof n.files>
  let pid = 0
  const docker = (...args: Array<string>) =>
    n.host.run(["/usr/bin/docker", "-H", "unix:///run/docker.sock", ...args], { encoding: "utf8", timeout: 120_000 })
  const runtimes = () => String(docker("info", "--format", "{{json .Runtimes}}").stdout)

  beforeAll(async () => {
    dir = scratch()
    n = await node(dir)
    n.inHost([
      "sh",
      "-c",
      'mkdir -p /etc/docker && printf \'{\\n  "log-level": "warn"\\n}\\n\' > /etc/docker/daemon.json'
    ])
    dockerd = n.host.daemon(
      [
        "/usr/sbin/dockerd",
        ...["--config-file", "/etc/docker/daemon.json", "-H", "unix:///run/docker.sock"],
        ...["--data-root", `${dir}/data`, "--exec-root", `${dir}/exec`, "--pidfile", `${dir}/docker.pid`],
        ...["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"]
      ],
      path.join(dir, "dockerd.log"),
      { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
    )
    const up = await waitFor(60_000, () => docker("version").status === 0)
    assert.isTrue(up, `dockerd did not start: ${fs.readFileSync(path.join(dir, "dockerd.log"), "utf8").slice(-2000)}`)
    pid = dockerd.pid!
    // What the host has before the installer runs (dockerd's own key.json included).
    before = n.files()
    const imported = docker("import", rootfsTar(path.join(dir, "image")), "local/busybox:1")
    assert.strictEqual(imported.status, 0, String(imported.stderr))
  }, 300_000)

  afterAll(async () => {
    n?.pm.podman(["rm", "-f", "-t", "0", "adh-node-setup"])
    if (dockerd?.pid !== undefined && dockerd.exitCode === null) {
      const exited = new Promise((r) => dockerd!.once("exit", r))
      process.kill(dockerd.pid, "SIGTERM")
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))])
      if (dockerd.exitCode === null) process.kill(dockerd.pid, "SIGKILL")
    }
    for (const p of pidsWith("containerd-shim", `${dir}/`)) process.kill(p, "SIGKILL")
    n?.pm.close()
    n?.host.stop()
    if (dir !== "" && process.env.ADH_KEEP === undefined) cleanup(dir)
  }, 120_000)

  it("installs, dockerd reloads its runtimes on SIGHUP (same pid), docker run --runtime ascend gets its NPU", async () => {
    assert.notInclude(runtimes(), "ascend")
    const started = n.pm.runInstaller("adh-node-setup", ["--host-root", "/host", "--runtime", "docker"])
    assert.strictEqual(started.status, 0, started.stderr)
    assert.isTrue(await n.ready("adh-node-setup"), `never ready:\n${n.logs("adh-node-setup")}`)
    assert.include(n.logs("adh-node-setup"), `docker: dockerd (pid ${pid}) reloaded its runtimes (SIGHUP)`)
    assert.strictEqual(dockerd!.exitCode, null, "dockerd was not restarted")
    assert.match(runtimes(), /"ascend":\{"path":"\/usr\/local\/bin\/ascend-docker-runtime"\}/)
    n.host.run(["rm", "-f", "/usr/local/bin/record.json"])
    const r = docker(
      "run",
      "--rm",
      "--network",
      "none",
      "--runtime",
      "ascend",
      "-e",
      "ASCEND_VISIBLE_DEVICES=1",
      "local/busybox:1",
      "sh",
      "-c",
      "echo RAN"
    )
    assert.strictEqual(r.status, 0, String(r.stderr))
    assert.deepStrictEqual(n.record()?.argv.slice(0, 3), ["/usr/local/bin/ascend-docker-cli", "--devices", "1"])
  }, 240_000)

  it("SIGTERM: daemon.json and the rest back byte for byte, dockerd reloaded again (same pid)", () => {
    assert.strictEqual(n.terminate("adh-node-setup"), "0", n.logs("adh-node-setup"))
    const logs = n.logs("adh-node-setup")
    assert.include(logs, "node-setup: SIGTERM: undoing the install")
    // The admin's daemon.json names no runtimes: dockerd's reload keeps what it had (it applies only the keys
    // the file sets), and node-setup says so instead of waiting for what will not happen.
    assert.include(
      logs,
      `docker: dockerd (pid ${pid}) reloaded its runtimes (SIGHUP); daemon.json names no runtimes now`
    )
    assert.strictEqual(dockerd!.exitCode, null, "dockerd was not restarted")
    assert.deepStrictEqual(n.files(), before)
    const r = docker("run", "--rm", "--network", "none", "--runtime", "ascend", "local/busybox:1", "true")
    assert.notStrictEqual(r.status, 0, "the wrapper is gone: nothing runs through the stale runtime name")
  }, 240_000)
})

describe.runIf(fs.existsSync(BINARY))(
  "node-setup, process-level: rolling updates, the lock, an engine that does not come back",
  () => {
    let dir = ""
    let root = ""
    const running: Array<ChildProcess> = []
    beforeAll(() => {
      dir = scratch()
      root = path.join(dir, "host")
      fs.mkdirSync(path.join(root, "etc/containerd"), { recursive: true })
      fs.mkdirSync(path.join(root, "usr/local"), { recursive: true })
      fs.mkdirSync(path.join(root, "run"), { recursive: true })
      fs.writeFileSync(path.join(root, "etc/containerd/config.toml"), "version = 2\n# the admin's\n")
    })
    afterAll(() => {
      for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
      cleanup(dir)
    })

    /** A node-setup (the binary) against the private root; its output collected. */
    const start = (name: string, extra: ReadonlyArray<string> = ["--restart-mode", "none"]) => {
      const child = spawn(
        BINARY,
        ["node-setup", "--host-root", root, "--runtime", "containerd", "--mark-dir", path.join(dir, name), ...extra],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
      running.push(child)
      let output = ""
      child.stdout!.on("data", (d) => {
        output += d
      })
      child.stderr!.on("data", (d) => {
        output += d
      })
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
      return {
        child,
        output: () => output,
        exited,
        stop: async () => {
          child.kill("SIGTERM")
          return exited
        }
      }
    }
    const owner = () => {
      try {
        return JSON.parse(fs.readFileSync(path.join(root, "run/ascend-node-setup/owner.json"), "utf8")) as {
          instance: string
          generation: number
          pid: number
        }
      } catch {
        return undefined
      }
    }
    const installed = () => fs.existsSync(path.join(root, "etc/containerd/conf.d/99-ascend.toml"))
    const hostFiles = () => {
      const all = snapshot(root)
      return Object.fromEntries(Object.entries(all).filter(([p]) => !p.startsWith("run/")))
    }

    it("a rolling update: the old pod, terminated after the new one installed, leaves the install to the new one", async () => {
      const before = hostFiles()
      const a = start("a")
      assert.isTrue(await waitFor(20_000, () => owner()?.pid === a.child.pid), a.output())
      assert.strictEqual(owner()!.generation, 1)
      assert.isTrue(installed())
      const b = start("b")
      assert.isTrue(await waitFor(20_000, () => owner()?.pid === b.child.pid), b.output())
      assert.strictEqual(owner()!.generation, 2)
      assert.strictEqual(await a.stop(), 0, a.output())
      assert.match(a.output(), /node-setup: SIGTERM: \S+ \(generation 2\) owns the install now; left in place/)
      assert.isTrue(installed(), "the new pod's install is still there")
      assert.strictEqual(owner()?.pid, b.child.pid)
      assert.strictEqual(await b.stop(), 0, b.output())
      assert.include(b.output(), "node-setup: SIGTERM: undoing the install")
      assert.isUndefined(owner())
      assert.deepStrictEqual(hostFiles(), before, "back byte for byte")
    }, 60_000)

    it("the old pod terminated first uninstalls; the new one installs afresh after it", async () => {
      const before = hostFiles()
      const a = start("a")
      assert.isTrue(await waitFor(20_000, () => owner()?.pid === a.child.pid), a.output())
      assert.strictEqual(await a.stop(), 0, a.output())
      assert.isFalse(installed())
      assert.deepStrictEqual(hostFiles(), before)
      const b = start("b")
      assert.isTrue(await waitFor(20_000, () => owner()?.pid === b.child.pid), b.output())
      assert.isTrue(installed())
      assert.strictEqual(await b.stop(), 0)
      assert.deepStrictEqual(hostFiles(), before)
    }, 60_000)

    it("a live lock holder is waited for; once it is gone its lock is taken over", async () => {
      fs.mkdirSync(path.join(root, "run/ascend-node-setup"), { recursive: true })
      const holder = spawn("sleep", ["1000"])
      running.push(holder)
      fs.writeFileSync(path.join(root, "run/ascend-node-setup/lock"), String(holder.pid))
      const c = start("c")
      await new Promise((r) => setTimeout(r, 1500))
      assert.isFalse(installed(), "nothing installed while another holds the lock")
      holder.kill("SIGKILL")
      assert.isTrue(await waitFor(20_000, () => owner()?.pid === c.child.pid), c.output())
      assert.isTrue(installed())
      assert.strictEqual(await c.stop(), 0, c.output())
      assert.isFalse(installed())
    }, 60_000)

    it("--probe: not ready before setup, ready after it (doctor passes), not ready once stopped", async () => {
      const probe = () =>
        spawnSync(BINARY, ["node-setup", "--probe", "--mark-dir", path.join(dir, "p")], { encoding: "utf8" })
      const missingMark = probe()
      assert.strictEqual(missingMark.status, 1)
      assert.match(missingMark.stderr, /^ascend-docker-hook node-setup: not ready: no .*ready\.json/)
      const p = start("p")
      assert.isTrue(await waitFor(20_000, () => owner()?.pid === p.child.pid), p.output())
      assert.isTrue(await waitFor(5000, () => fs.existsSync(path.join(dir, "p/ready.json"))))
      // Doctor judges the trust of the config dir's parents: this scratch tree is root-owned, not group-writable.
      const ready = probe()
      assert.strictEqual(ready.status, 1, "no CLI on this host yet")
      assert.match(ready.stderr, /not ready: untrusted CLI .*ascend-docker-cli: does not exist/)
      fs.copyFileSync(recordingCli("2021"), path.join(root, "usr/local/bin/ascend-docker-cli"))
      fs.chmodSync(path.join(root, "usr/local/bin/ascend-docker-cli"), 0o755)
      const now = probe()
      assert.strictEqual(now.status, 0, now.stderr)
      assert.match(now.stdout, /^ready: containerd set up on /)
      fs.rmSync(path.join(root, "usr/local/bin/ascend-docker-cli"))
      assert.strictEqual(await p.stop(), 0, p.output())
      assert.strictEqual(probe().status, 1)
    }, 60_000)

    it("an engine that does not come back after SIGTERM: one clear line, not ready; SIGTERM still undoes", async () => {
      const before = hostFiles()
      const sock = path.join(root, "run/containerd/containerd.sock")
      fs.mkdirSync(path.dirname(sock), { recursive: true })
      // A stand-in daemon on containerd's socket that nobody restarts once it exits.
      const daemon = spawn(NODE, [
        "-e",
        `require("node:net").createServer((c) => c.end()).listen(${JSON.stringify(sock)})`
      ])
      running.push(daemon)
      assert.isTrue(await waitFor(10_000, () => fs.existsSync(sock)))
      const s = start("s", ["--restart-timeout", "2"])
      assert.isTrue(await waitFor(20_000, () => s.output().includes("did not come back")), s.output())
      assert.include(
        s.output(),
        `ascend-docker-hook node-setup: containerd: containerd did not come back within 2 s of SIGTERM to pid ${daemon.pid} (nothing new answers on /run/containerd/containerd.sock); is it a systemd service with Restart=? see journalctl -u containerd`
      )
      assert.isFalse(fs.existsSync(path.join(dir, "s/ready.json")), "not ready")
      assert.strictEqual(await s.stop(), 0, s.output())
      assert.include(s.output(), "containerd: nothing answers on")
      assert.deepStrictEqual(hostFiles(), before)
    }, 60_000)

    it("--restart-mode systemd: containerd restarted by systemd over the host's system bus (a real dbus-daemon, a stand-in Manager); an error systemd names is one line", async () => {
      const missing = ["/usr/bin/dbus-daemon", "/usr/bin/python3"].filter((p) => !fs.existsSync(p))
      const bindings = spawnSync("/usr/bin/python3", ["-c", "import dbus.service, dbus.mainloop.glib, gi"]).status
      if (missing.length > 0 || bindings !== 0) {
        const why = `needs ${[...missing, ...(bindings === 0 ? [] : ["python3-dbus, python3-gi"])].join(", ")}`
        if (inCI) throw new Error(`the systemd restart test ${why} (.ci/run installs them)`)
        return console.warn(`SKIPPING the systemd restart test outside CI: ${why}`)
      }
      const before = hostFiles()
      const busSock = path.join(root, "run/dbus/system_bus_socket")
      fs.mkdirSync(path.dirname(busSock), { recursive: true })
      const conf = path.join(dir, "system-bus.conf")
      fs.writeFileSync(
        conf,
        `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${busSock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
</busconfig>\n`
      )
      const bus = spawn("/usr/bin/dbus-daemon", ["--config-file", conf, "--nofork", "--nopidfile"])
      running.push(bus)
      assert.isTrue(await waitFor(10_000, () => fs.existsSync(busSock)), "the private system bus is up")
      const record = path.join(dir, "systemd-calls")
      const fail = path.join(dir, "systemd-fails")
      const sock = path.join(root, "run/containerd/containerd.sock")
      const fake = spawn(
        "/usr/bin/python3",
        [path.join(ROOT, "test/support/fake-systemd.py"), `unix:path=${busSock}`, record, fail, NODE, sock],
        { stdio: ["ignore", "pipe", "inherit"] }
      )
      running.push(fake)
      let said = ""
      fake.stdout!.on("data", (d) => {
        said += d
      })
      try {
        assert.isTrue(await waitFor(15_000, () => said.startsWith("ready")), "the stand-in Manager owns its name")
        const first = said.split(/\s+/)[1]
        const s = start("sd", ["--restart-mode", "systemd", "--restart-timeout", "10"])
        assert.isTrue(await waitFor(30_000, () => /containerd: containerd restarted/.test(s.output())), s.output())
        const restarted = /containerd: containerd restarted \(pid (\d+) -> (\d+)\)/.exec(s.output())
        assert.strictEqual(restarted?.[1], first, "the pid behind the socket before the restart")
        assert.strictEqual(fs.readFileSync(record, "utf8"), "RestartUnit containerd.service replace\n")
        assert.isTrue(await waitFor(20_000, () => fs.existsSync(path.join(dir, "sd/ready.json"))), s.output())
        // systemd refusing the restart after the uninstall: one line naming systemd's error.
        fs.writeFileSync(fail, "")
        await s.stop()
        assert.include(
          s.output(),
          "containerd: systemd: RestartUnit containerd.service: org.freedesktop.systemd1.NoSuchUnit: Unit containerd.service not found."
        )
        assert.strictEqual(fs.readFileSync(record, "utf8").split("\n").length, 3, "two calls, install and uninstall")
        assert.deepStrictEqual(hostFiles(), before, "back byte for byte")
      } finally {
        try {
          process.kill(Number(fs.readFileSync(`${record}.pid`, "utf8")), "SIGKILL")
        } catch {}
      }
    }, 90_000)

    it("bad flags: one line, exit 1, nothing written", () => {
      for (const [args, line] of [
        [["--runtime", "podman"], "--runtime takes one of docker, containerd, crio"],
        [[], "name at least one engine: --runtime docker|containerd|crio"],
        [["--runtime", "docker", "--restart-mode", "reload"], "--restart-mode takes one of signal, systemd, none"],
        [
          ["--runtime", "docker", "--restart-timeout", "0"],
          '--restart-timeout takes whole seconds from 1 to 9999, not "0"'
        ],
        [["--runtime", "docker", "--host-root", path.join(dir, "nowhere")], `--host-root ${dir}/nowhere: no etc/ there`]
      ] as const) {
        const r = spawnSync(BINARY, ["node-setup", ...args], { encoding: "utf8" })
        assert.strictEqual(r.status, 1, String(args))
        assert.strictEqual(r.stdout, "")
        assert.isTrue(r.stderr.startsWith(`ascend-docker-hook node-setup: ${line}`), r.stderr)
        assert.strictEqual(r.stderr.split("\n").length, 2, r.stderr)
      }
    })
  }
)
