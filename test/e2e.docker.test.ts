import { type ChildProcess, execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { STAND_IN_NODES } from "./support/cri.ts"
import { daemonPath, type EngineGeneration, GENERATIONS, missingPrograms, versionLine } from "./support/engines.ts"
import { BINARY, cleanup, inCI, recordingCli, scratch } from "./support/fixtures.ts"
import { BUSYBOX, rootfsTar } from "./support/images.ts"
import { canMakePrivateHost, type PrivateHost, privateHost } from "./support/privateHost.ts"

// Docker as users drive it, on each engine generation (test/support/engines.ts): Debian 12's dockerd 20.10
// (which starts its own containerd 1.6 from PATH) and sid's dockerd 28 (CDI on by default), given a
// containerd 2 this test starts itself (`--containerd`), as docker-ce's separate containerd.service is. Its
// daemon.json is written by `ascend-docker-hook install --runtime docker`, and it is started by this test
// in a private view of the host (test/support/privateHost.ts: /etc, /usr/local and /run are overlays
// there, so the installer and dockerd use their real paths and the host's own files never change), on its
// own socket, data root, exec root and pidfile, with no network. The image is a local busybox made with
// `docker import`. The CLI is the recording stand-in at /usr/local/bin/ascend-docker-cli. Runc is
// Debian 12's for both generations.

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const missingFor = (gen: EngineGeneration) => [
  ...missingPrograms(gen, gen.ownContainerd ? ["dockerd", "docker", "containerd", "shim"] : ["dockerd", "docker"]),
  ...(gen.ownContainerd || which("containerd") ? [] : ["containerd"]),
  ...(which("runc") ? [] : ["runc"]),
  ...(BUSYBOX === undefined ? ["busybox"] : []),
  ...(canMakePrivateHost() === undefined ? [] : [canMakePrivateHost()!])
]
for (const gen of GENERATIONS) {
  const missing = missingFor(gen)
  if (missing.length === 0) continue
  const why = `missing: ${missing.join(", ")}`
  if (inCI) throw new Error(`Docker end-to-end tests (${gen.label}) cannot run in CI: ${why} (${gen.howToGet})`)
  console.warn(`skipping the Docker end-to-end tests on ${gen.label} (${why})`)
}

const IMAGE = "local/busybox:1"

const suite = (gen: EngineGeneration) => () => {
  let dir = ""
  let host: PrivateHost
  let dockerd: ChildProcess | undefined
  let containerd: ChildProcess | undefined
  const sock = () => path.join(dir, "docker.sock")
  const containerdSock = () => path.join(dir, "containerd.sock")
  const PATH = daemonPath(gen)

  const inHost = (argv: ReadonlyArray<string>, input?: string) => {
    const r = host.run(argv, { input, encoding: "utf8" })
    assert.strictEqual(r.status, 0, `${argv.join(" ")}: ${r.stderr}`)
    return String(r.stdout)
  }
  const docker = (...args: Array<string>) =>
    spawnSync(gen.docker, ["-H", `unix://${sock()}`, ...args], { encoding: "utf8", timeout: 120_000 })
  const record = () => {
    const r = host.run(["cat", "/usr/local/bin/record.json"], { encoding: "utf8" })
    return r.status === 0 ? (JSON.parse(String(r.stdout)) as { argv: Array<string>; pidAlive?: boolean }) : undefined
  }

  /**
   * The containerd dockerd 28 is given (`--containerd`): sid's, on the test's own socket, root and state,
   * with no config file of the host's. The wrapper runs under its shims, so the wrapper's settings in the
   * env (`env`) are containerd's here, not dockerd's: as with docker-ce, where containerd is its own service.
   */
  const startContainerd = async (env: Record<string, string>) => {
    const config = path.join(dir, "containerd-for-docker.toml")
    fs.writeFileSync(config, 'version = 3\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
    containerd = host.daemon(
      [
        gen.containerd,
        "--config",
        config,
        "--address",
        containerdSock(),
        "--root",
        path.join(dir, "containerd-root"),
        "--state",
        path.join(dir, "containerd-state")
      ],
      path.join(dir, "containerd.log"),
      { PATH, ASCEND_DOCKER_RUNTIME_DEV_ROOT: path.join(dir, "dev"), ...env }
    )
    for (let i = 0; i < 200 && !fs.existsSync(containerdSock()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.isTrue(
      fs.existsSync(containerdSock()),
      `containerd did not start: ${fs.readFileSync(path.join(dir, "containerd.log"), "utf8").slice(-2000)}`
    )
  }

  /** Starts dockerd in the private host with what /etc/docker/daemon.json says now (and `env`). */
  const start = async (env: Record<string, string> = {}) => {
    if (gen.ownContainerd) await startContainerd(env)
    dockerd = host.daemon(
      [
        gen.dockerd,
        "--config-file",
        "/etc/docker/daemon.json",
        "-H",
        `unix://${sock()}`,
        "--data-root",
        path.join(dir, "data"),
        "--exec-root",
        path.join(dir, "exec"),
        "--pidfile",
        path.join(dir, "docker.pid"),
        ...(gen.ownContainerd ? ["--containerd", containerdSock()] : []),
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs"
      ],
      path.join(dir, "dockerd.log"),
      { PATH, ASCEND_DOCKER_RUNTIME_DEV_ROOT: path.join(dir, "dev"), ...env }
    )
    for (let i = 0; i < 300; i++) {
      if (fs.existsSync(sock()) && docker("version").status === 0) return
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.fail(`dockerd did not start: ${fs.readFileSync(path.join(dir, "dockerd.log"), "utf8").slice(-3000)}`)
  }
  const stopProcess = async (child: ChildProcess | undefined) => {
    if (child?.pid === undefined || child.exitCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    process.kill(child.pid, "SIGTERM")
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))])
    if (child.exitCode === null) process.kill(child.pid, "SIGKILL")
  }
  const stop = async () => {
    await stopProcess(dockerd)
    await stopProcess(containerd)
    // Shims outlive their daemon by design; ours are the ones under our exec root or socket.
    spawnSync("pkill", ["-KILL", "-f", `containerd-shim-runc-v2 .*${dir}`])
  }
  const restart = async (env: Record<string, string> = {}) => {
    await stop()
    await start(env)
  }

  let counter = 0
  /** `docker run` of a short container; its full id comes back with the result. */
  const run = (args: ReadonlyArray<string>, cmd = "echo RAN") => {
    host.run(["rm", "-f", "/usr/local/bin/record.json"])
    const name = `adh-${process.pid}-${++counter}`
    const r = docker("run", "--name", name, "--network", "none", ...args, IMAGE, "sh", "-c", cmd)
    const id = docker("inspect", "--format", "{{.Id}}", name).stdout.trim()
    // The vfs driver's dir for this container's layer, named by the mount id Docker keeps for it.
    const mountId = path.join(dir, "data/image/vfs/layerdb/mounts", id, "mount-id")
    const rootfs = fs.existsSync(mountId)
      ? path.join(dir, "data/vfs/dir", fs.readFileSync(mountId, "utf8").trim())
      : undefined
    docker("rm", "-f", name)
    return { ...r, id, rootfs }
  }

  /** Stand-in device nodes (the NPUs' majors and minors) under the scratch dir; its path. */
  const standInNodes = () => {
    const dev = path.join(dir, "dev")
    fs.mkdirSync(dev, { recursive: true })
    for (const [name, major, minor] of STAND_IN_NODES)
      if (!fs.existsSync(path.join(dev, name)))
        execFileSync("mknod", ["-m", "0660", path.join(dev, name), "c", String(major), String(minor)])
    return dev
  }
  /** The LD_LIBRARY_PATH the CDI edits give (the driver's lib dirs that exist), as LOOK prints it. */
  const LD = "LD=/usr/local/Ascend/driver/lib64/common:/usr/local/Ascend/driver/lib64/driver"
  /** What a container shows of its NPU setup: /dev, the driver's version, whether the driver is writable, the env. */
  const LOOK =
    "ls /dev; cat /usr/local/Ascend/driver/version.info; touch /usr/local/Ascend/driver/lib64/x 2>/dev/null && echo WRITABLE || echo READ-ONLY; echo LD=$LD_LIBRARY_PATH; echo MOUNTS=$(busybox grep -c ' /usr/local/Ascend/driver/lib64 ' /proc/mounts)"

  beforeAll(async () => {
    dir = scratch()
    host = await privateHost(dir)
    inHost(["install", "-m", "0755", recordingCli("2021"), "/usr/local/bin/ascend-docker-cli"])
    inHost([
      "sh",
      "-c",
      "mkdir -p /usr/local/Ascend/driver/lib64/common /usr/local/Ascend/driver/lib64/driver && echo 23.0 > /usr/local/Ascend/driver/version.info"
    ])
    inHost([
      "sh",
      "-c",
      'mkdir -p /etc/docker && printf \'{\\n  "log-level": "warn"\\n}\\n\' > /etc/docker/daemon.json'
    ])
    const out = inHost([BINARY, "install", "--runtime", "docker"])
    assert.match(out, /update +\/etc\/docker\/daemon.json/)
    // Stand-in NPUs (the wrapper finds them through ASCEND_DOCKER_RUNTIME_DEV_ROOT in the daemons' env) and
    // the static CDI spec for them in /etc/cdi, as an admin makes it.
    inHost([BINARY, "cdi", "generate", "--dev-root", standInNodes()])
    await start()
    const imported = docker("import", rootfsTar(path.join(dir, "image")), IMAGE)
    assert.strictEqual(imported.status, 0, imported.stderr)
  }, 180_000)

  afterAll(async () => {
    await stop()
    host?.stop()
    if (dir !== "" && process.env.ADH_KEEP === undefined) cleanup(dir)
  }, 60_000)

  it(`runs ${gen.label}`, () => {
    const v = docker(
      "version",
      "--format",
      "{{.Server.Version}} {{range .Server.Components}}{{.Name}}={{.Version}} {{end}}"
    )
    assert.strictEqual(v.status, 0, v.stderr)
    console.log(`Docker suite on ${gen.name}: ${versionLine(v.stdout)}`)
    assert.match(v.stdout, gen.dockerVersion)
    assert.match(v.stdout.split("containerd=")[1] ?? "", gen.containerdVersion)
  })

  it("the daemon.json install wrote is the one dockerd runs with, and the host's is untouched", () => {
    const info = docker("info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}")
    assert.strictEqual(info.status, 0, info.stderr)
    const runtimes = JSON.parse(info.stdout.slice(0, info.stdout.lastIndexOf(" "))) as Record<string, { path?: string }>
    assert.strictEqual(runtimes.ascend?.path, "/usr/local/bin/ascend-docker-runtime", info.stdout)
    assert.match(info.stdout, / runc\n$/, "not the default unless asked")
    assert.strictEqual(
      inHost(["cat", "/etc/docker/daemon.json"]),
      '{\n  "log-level": "warn",\n  "runtimes": {\n    "ascend": {\n      "path": "/usr/local/bin/ascend-docker-runtime"\n    }\n  }\n}\n'
    )
    assert.isFalse(
      fs.existsSync("/etc/docker/daemon.json") && fs.readFileSync("/etc/docker/daemon.json", "utf8").includes("ascend")
    )
  })

  it("docker run --runtime ascend -e ASCEND_VISIBLE_DEVICES=1,0 runs the CLI for that container", () => {
    const r = run(["--runtime", "ascend", "-e", "ASCEND_VISIBLE_DEVICES=1,0"])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stdout, "RAN\n")
    const rec = record()
    assert.isDefined(rec, "the CLI stand-in ran")
    const argv = rec!.argv
    assert.deepStrictEqual(argv.slice(0, 3), ["/usr/local/bin/ascend-docker-cli", "--devices", "0,1"])
    assert.isTrue(rec!.pidAlive, "--pid named the container's live init")
    assert.isDefined(r.rootfs)
    assert.strictEqual(
      argv[argv.indexOf("--rootfs") + 1],
      r.rootfs,
      "the rootfs of this container (vfs: its layer dir)"
    )
    assert.include(argv, "/usr/local/Ascend/driver/lib64")
  })

  it("a container without the variable runs untouched", () => {
    const r = run(["--runtime", "ascend"])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.isUndefined(record())
  })

  it("a bad value fails docker run with the wrapper's line in Docker's error, nothing run", () => {
    const r = run(["--runtime", "ascend", "-e", "ASCEND_VISIBLE_DEVICES=0,zz"])
    assert.notStrictEqual(r.status, 0)
    assert.match(r.stderr, /ascend-docker-runtime: .*ASCEND_VISIBLE_DEVICES/, r.stderr)
    assert.isUndefined(record())
  })

  it("--default-runtime makes the same happen without --runtime; uninstall leaves a daemon that runs runc", async () => {
    inHost([BINARY, "install", "--runtime", "docker", "--default-runtime"])
    await restart()
    const r = run(["-e", "ASCEND_VISIBLE_DEVICES=0"])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepStrictEqual(record()?.argv.slice(1, 3), ["--devices", "0"])

    const out = inHost([BINARY, "uninstall", "--runtime", "docker"])
    assert.match(out, /update +\/etc\/docker\/daemon.json/)
    assert.strictEqual(inHost(["cat", "/etc/docker/daemon.json"]), '{\n  "log-level": "warn"\n}\n', "as it was")
    await restart()
    assert.match(docker("info", "--format", "{{.DefaultRuntime}}").stdout, /^runc$/m)
    const after = run(["-e", "ASCEND_VISIBLE_DEVICES=0"])
    assert.strictEqual(after.status, 0, after.stderr)
    assert.isUndefined(record(), "no hook once uninstalled")
    inHost([BINARY, "install", "--runtime", "docker"])
    await restart()
  }, 120_000)

  it("the wrapper in cdi mode: the container gets its device nodes and read-only driver paths, no hook", async () => {
    await restart({ ASCEND_DOCKER_RUNTIME_MODE: "cdi" })
    const r = run(["--runtime", "ascend", "-e", "ASCEND_VISIBLE_DEVICES=1"], LOOK)
    await restart()
    assert.strictEqual(r.status, 0, r.stderr)
    const seen = r.stdout.split("\n")
    assert.include(seen, "davinci1")
    assert.notInclude(seen, "davinci0", "only the device asked for")
    for (const shared of ["davinci_manager", "devmm_svm", "hisi_hdc"]) assert.include(seen, shared)
    assert.include(seen, "23.0")
    assert.include(seen, "READ-ONLY")
    assert.include(seen, LD, r.stdout)
    assert.isUndefined(record(), "no hook, no CLI")
  }, 120_000)

  it("install --runtime docker --mode cdi (runtime.conf, no daemon restart): the wrapper's CDI edits for the env, no hook", () => {
    inHost([BINARY, "install", "--runtime", "docker", "--mode", "cdi"])
    try {
      const r = run(["--runtime", "ascend", "-e", "ASCEND_VISIBLE_DEVICES=1"], LOOK)
      assert.strictEqual(r.status, 0, r.stderr)
      const seen = r.stdout.split("\n")
      assert.include(seen, "davinci1")
      assert.notInclude(seen, "davinci0")
      for (const shared of ["davinci_manager", "devmm_svm", "hisi_hdc"]) assert.include(seen, shared)
      assert.include(seen, "READ-ONLY")
      assert.include(seen, LD, r.stdout)
      assert.include(seen, "MOUNTS=1", r.stdout)
      assert.isUndefined(record(), "no hook, no CLI")
      if (gen.cdi) {
        const engine = run(["--device", "ascend.com/npu=1"], LOOK)
        assert.strictEqual(engine.stdout, r.stdout, "Docker 28's own CDI route gives the same container")
      }
    } finally {
      inHost([BINARY, "install", "--runtime", "docker", "--mode", "hook"])
    }
  }, 120_000)

  if (gen.cdi) {
    it("Docker's own CDI: --device ascend.com/npu=1 and =all from cdi generate's spec, no runtime of ours", () => {
      const info = docker("info", "--format", "{{json .CDISpecDirs}}")
      assert.strictEqual(info.stdout.trim(), '["/etc/cdi","/var/run/cdi"]', "CDI on by default, in its default dirs")
      const one = run(["--device", "ascend.com/npu=1"], LOOK)
      assert.strictEqual(one.status, 0, one.stderr)
      const seen = one.stdout.split("\n")
      assert.include(seen, "davinci1")
      assert.notInclude(seen, "davinci0", "only the device asked for")
      for (const shared of ["davinci_manager", "devmm_svm", "hisi_hdc"]) assert.include(seen, shared)
      assert.include(seen, "23.0")
      assert.include(seen, "READ-ONLY")
      assert.include(seen, LD, one.stdout)
      assert.isUndefined(record(), "no hook, no CLI")

      const all = run(["--device", "ascend.com/npu=all"], LOOK)
      assert.strictEqual(all.status, 0, all.stderr)
      for (const node of ["davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"])
        assert.include(all.stdout.split("\n"), node)

      const unknown = run(["--device", "ascend.com/npu=7"])
      assert.notStrictEqual(unknown.status, 0, "a device the spec does not have is refused by Docker")
      assert.match(unknown.stderr, /ascend\.com\/npu=7/)
    }, 120_000)

    it("CDI through the wrapper's runtime (--runtime ascend --device ascend.com/npu=1): Docker's edits once, no hook", () => {
      const r = run(["--runtime", "ascend", "--device", "ascend.com/npu=1"], LOOK)
      assert.strictEqual(r.status, 0, r.stderr)
      const seen = r.stdout.split("\n")
      assert.include(seen, "davinci1")
      assert.notInclude(seen, "davinci0")
      assert.include(seen, "READ-ONLY")
      assert.include(seen, LD, `LD_LIBRARY_PATH once: ${r.stdout}`)
      assert.include(seen, "MOUNTS=1", `the driver mounted once: ${r.stdout}`)
      assert.isUndefined(record(), "Docker puts no CDI annotation in the bundle: the wrapper adds nothing")
    }, 120_000)
  } else {
    it("dockerd 20.10 has no CDI: --device ascend.com/npu=1 is refused, the wrapper is the route there", () => {
      const r = run(["--device", "ascend.com/npu=1"])
      assert.notStrictEqual(r.status, 0, r.stdout)
      assert.match(r.stderr, /ascend\.com\/npu=1/)
    }, 120_000)
  }
}

for (const gen of GENERATIONS)
  describe.runIf(missingFor(gen).length === 0)(
    `Docker end to end on ${gen.label}: dockerd set up by install --runtime docker`,
    suite(gen)
  )
