import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { runCdi } from "../src/commands/Cdi.ts"
import { CHECKS, diagnose } from "../src/commands/Doctor.ts"
import { cdi } from "../src/commands/doctor/Cdi.ts"
import { type DoctorCheck, doctorContext } from "../src/commands/doctor/Check.ts"
import { containerdRuntime } from "../src/commands/doctor/Containerd.ts"
import { npus, sharedDevices } from "../src/commands/doctor/Devices.ts"
import { dockerRuntime } from "../src/commands/doctor/Docker.ts"
import { driverLibrary, leftoverVnpu } from "../src/commands/doctor/Driver.ts"
import { engineGenerations } from "../src/commands/doctor/Engines.ts"
import { podmanHooksd } from "../src/commands/doctor/Hooksd.ts"
import { devCharLinks, refreshUnitState, staleSpecs } from "../src/commands/doctor/Host.ts"
import { hostFiles } from "../src/commands/HostFiles.ts"
import { hooksdJson } from "../src/commands/Install.ts"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { daemonPath, GENERATIONS, missingPrograms, versionLine } from "./support/engines.ts"
import { BINARY, cleanup, inCI, recordingCli, scratch } from "./support/fixtures.ts"

// `doctor` on temp host trees (--root), one check at a time: a healthy host, then each thing broken.

const trees: Array<string> = []
afterAll(() => {
  for (const t of trees) cleanup(t)
})

/** A healthy host: config dir and base.list, a driver path, the CLI, NPUs and control devices. */
const healthy = () => {
  const root = scratch()
  trees.push(root)
  for (const d of ["etc/ascend-docker-runtime.d", "dev", "usr/local/Ascend/driver/lib64", "usr/local/bin"]) {
    fs.mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 })
  }
  fs.writeFileSync(
    path.join(root, "etc/ascend-docker-runtime.d/base.list"),
    "# driver\n/usr/local/Ascend/driver/lib64\n"
  )
  fs.copyFileSync(recordingCli(), path.join(root, "usr/local/bin/ascend-docker-cli"))
  fs.chmodSync(path.join(root, "usr/local/bin/ascend-docker-cli"), 0o755)
  for (const n of ["davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"]) {
    execFileSync("mknod", [path.join(root, "dev", n), "c", "1", "3"])
  }
  return root
}

interface Report {
  readonly ok: boolean
  readonly checks: ReadonlyArray<{ id: string; status: string; message: string; fix?: string }>
}
const doctor = (root: string): Report & { status: number | null; text: string } => {
  const args = ["doctor", "--root", root, "--cli", "/usr/local/bin/ascend-docker-cli"]
  const json = spawnSync(BINARY, [...args, "--json"], { encoding: "utf8", env: {} })
  const text = spawnSync(BINARY, args, { encoding: "utf8", env: {} })
  assert.strictEqual(json.status, text.status)
  return { ...(JSON.parse(json.stdout) as Report), status: json.status, text: text.stdout }
}
const check = (r: Report, id: string) => {
  const c = r.checks.find((x) => x.id === id)
  assert.isDefined(c, `check ${id} in ${JSON.stringify(r.checks.map((x) => x.id))}`)
  return c!
}

describe("doctor", () => {
  it("a healthy host: every check ok, exit 0, 'all is well'", () => {
    const root = healthy()
    const r = doctor(root)
    assert.strictEqual(r.status, 0, r.text)
    assert.isTrue(r.ok)
    for (const id of [
      "config-dir",
      "list:base.list",
      "path:base.list:2",
      "cli",
      "npus",
      "device:davinci_manager",
      "device:devmm_svm",
      "device:hisi_hdc"
    ]) {
      assert.strictEqual(check(r, id).status, "ok", id)
    }
    assert.match(check(r, "npus").message, /2 NPU device nodes/)
    assert.strictEqual(check(r, "cdi").status, "warn")
    assert.match(r.text, /all is well\n$/)
  })

  const broken: ReadonlyArray<[string, (root: string) => void, string, "fail" | "warn" | "ok", RegExp, RegExp?]> = [
    [
      "the config dir is writable by others",
      (r) => fs.chmodSync(path.join(r, "etc/ascend-docker-runtime.d"), 0o777),
      "config-dir",
      "fail",
      /is writable by group or others/,
      /chmod go-w/
    ],
    [
      "the config dir is missing",
      (r) => fs.rmSync(path.join(r, "etc/ascend-docker-runtime.d"), { recursive: true }),
      "config-dir",
      "fail",
      /does not exist/
    ],
    [
      "a parent of the config dir is writable",
      (r) => fs.chmodSync(path.join(r, "etc"), 0o775),
      "config-dir",
      "fail",
      /parent of config dir .*\/etc: is writable/,
      /chmod go-w .*\/etc/
    ],
    [
      "base.list is missing",
      (r) => fs.rmSync(path.join(r, "etc/ascend-docker-runtime.d/base.list")),
      "base-list",
      "fail",
      /base.list is missing/
    ],
    [
      "a list is owned by another user",
      (r) => fs.chownSync(path.join(r, "etc/ascend-docker-runtime.d/base.list"), 1000, 1000),
      "list:base.list",
      "fail",
      /owned by uid 1000/,
      /chown root:root/
    ],
    [
      "a list is a symlink",
      (r) => {
        const p = path.join(r, "etc/ascend-docker-runtime.d/extra.list")
        fs.writeFileSync(path.join(r, "x.list"), "")
        fs.symlinkSync(path.join(r, "x.list"), p)
      },
      "list:extra.list",
      "fail",
      /is a symbolic link/
    ],
    [
      "a list has a bad line",
      (r) => fs.appendFileSync(path.join(r, "etc/ascend-docker-runtime.d/base.list"), "relative\n"),
      "lines:base.list",
      "fail",
      /base.list:3: "relative" is not an absolute path/
    ],
    [
      "a listed path is missing",
      (r) => fs.appendFileSync(path.join(r, "etc/ascend-docker-runtime.d/base.list"), "/usr/local/dcmi\n"),
      "path:base.list:3",
      "warn",
      /does not exist; the hook skips it/
    ],
    [
      "a listed path is group-writable",
      (r) => fs.chmodSync(path.join(r, "usr/local/Ascend/driver/lib64"), 0o775),
      "path:base.list:2",
      "fail",
      /lib64: it is writable by group or others \(mode 0775, owner uid 0\), which the CLI refuses/,
      /chmod go-w .*lib64$/
    ],
    [
      "a listed path sits under a writable dir",
      (r) => fs.chmodSync(path.join(r, "usr/local/Ascend"), 0o777),
      "path:base.list:2",
      "fail",
      /Ascend is writable by group or others/
    ],
    [
      "a listed path is a symlink",
      (r) => {
        fs.symlinkSync(path.join(r, "usr/local/Ascend/driver/lib64"), path.join(r, "usr/local/lib64-link"))
        fs.appendFileSync(path.join(r, "etc/ascend-docker-runtime.d/base.list"), "/usr/local/lib64-link\n")
      },
      "path:base.list:3",
      "ok",
      /lib64-link: mountable/
    ],
    [
      "a listed path is a symlink, with today's CLI",
      (r) => {
        fs.copyFileSync(recordingCli("2023"), path.join(r, "usr/local/bin/ascend-docker-cli"))
        fs.symlinkSync(path.join(r, "usr/local/Ascend/driver/lib64"), path.join(r, "usr/local/lib64-link"))
        fs.appendFileSync(path.join(r, "etc/ascend-docker-runtime.d/base.list"), "/usr/local/lib64-link\n")
      },
      "path:base.list:3",
      "warn",
      /is a symbolic link; today's CLI refuses it unless the container sets ASCEND_ALLOW_LINK=True/
    ],
    [
      "a listed path's parent is a symlink, with today's CLI",
      (r) => {
        fs.copyFileSync(recordingCli("2023"), path.join(r, "usr/local/bin/ascend-docker-cli"))
        fs.symlinkSync(path.join(r, "usr/local/Ascend/driver"), path.join(r, "usr/local/driver-link"))
        fs.appendFileSync(path.join(r, "etc/ascend-docker-runtime.d/base.list"), "/usr/local/driver-link/lib64\n")
      },
      "path:base.list:3",
      "fail",
      /driver-link \(a parent\) is a symbolic link, which today's CLI refuses/
    ],
    [
      "a file inside a listed dir has a name the CLI refuses",
      (r) => fs.writeFileSync(path.join(r, "usr/local/Ascend/driver/lib64/libx (copy).so"), ""),
      "path:base.list:2",
      "fail",
      /inside it, .*libx \(copy\).so has characters the CLI refuses/
    ],
    [
      "a link inside a listed dir is not root's, with today's CLI",
      (r) => {
        fs.copyFileSync(recordingCli("2023"), path.join(r, "usr/local/bin/ascend-docker-cli"))
        fs.mkdirSync(path.join(r, "usr/local/Ascend/driver/lib64/sub"))
        fs.symlinkSync("/etc/hostname", path.join(r, "usr/local/Ascend/driver/lib64/sub/libevil.so"))
        fs.lchownSync(path.join(r, "usr/local/Ascend/driver/lib64/sub/libevil.so"), 1000, 1000)
      },
      "path:base.list:2",
      "fail",
      /inside it, .*sub\/libevil.so is a symbolic link \(owner uid 1000\)/
    ],
    [
      "the CLI is missing",
      (r) => fs.rmSync(path.join(r, "usr/local/bin/ascend-docker-cli")),
      "cli",
      "fail",
      /untrusted CLI .*: does not exist/
    ],
    [
      "the CLI is not executable",
      (r) => fs.chmodSync(path.join(r, "usr/local/bin/ascend-docker-cli"), 0o644),
      "cli",
      "fail",
      /is not executable/,
      /chmod 755/
    ],
    [
      "no NPU device nodes",
      (r) => {
        fs.rmSync(path.join(r, "dev/davinci0"))
        fs.rmSync(path.join(r, "dev/davinci1"))
      },
      "npus",
      "fail",
      /no NPU device nodes/
    ],
    [
      "a control device is missing",
      (r) => fs.rmSync(path.join(r, "dev/devmm_svm")),
      "device:devmm_svm",
      "fail",
      /devmm_svm is missing/
    ],
    [
      "docker's ascend runtime points nowhere",
      (r) => {
        fs.mkdirSync(path.join(r, "etc/docker"), { recursive: true })
        fs.writeFileSync(
          path.join(r, "etc/docker/daemon.json"),
          JSON.stringify({ runtimes: { ascend: { path: "/usr/local/bin/ascend-docker-runtime" } } })
        )
      },
      "docker",
      "fail",
      /points at \/usr\/local\/bin\/ascend-docker-runtime, which does not exist/,
      /install --runtime docker/
    ],
    [
      "docker without the runtime or CDI",
      (r) => {
        fs.mkdirSync(path.join(r, "etc/docker"), { recursive: true })
        fs.writeFileSync(path.join(r, "etc/docker/daemon.json"), "{}")
      },
      "docker",
      "warn",
      /docker: no ascend runtime/
    ],
    [
      "docker's daemon.json is broken",
      (r) => {
        fs.mkdirSync(path.join(r, "etc/docker"), { recursive: true })
        fs.writeFileSync(path.join(r, "etc/docker/daemon.json"), "{")
      },
      "docker",
      "fail",
      /not valid JSON/
    ],
    [
      "containerd without the runtime or CDI",
      (r) => {
        fs.mkdirSync(path.join(r, "etc/containerd"), { recursive: true })
        fs.writeFileSync(path.join(r, "etc/containerd/config.toml"), "version = 2\n")
      },
      "containerd",
      "warn",
      /neither an ascend runtime nor enable_cdi/
    ],
    [
      "podman's hooks.d entry names a missing hook",
      (r) => {
        fs.mkdirSync(path.join(r, "etc/containers/oci/hooks.d"), { recursive: true })
        fs.writeFileSync(
          path.join(r, "etc/containers/oci/hooks.d/ascend-docker-hook.json"),
          JSON.stringify({ hook: { path: "/usr/local/bin/ascend-docker-hook" } })
        )
      },
      "podman",
      "fail",
      /names a hook that does not exist/
    ]
  ]
  for (const [name, breakIt, id, status, message, fix] of broken) {
    it(name, () => {
      const root = healthy()
      breakIt(root)
      const r = doctor(root)
      const c = check(r, id)
      assert.strictEqual(c.status, status, c.message)
      assert.match(c.message, message)
      if (fix !== undefined) assert.match(c.fix ?? "", fix)
      assert.strictEqual(r.status, status === "fail" ? 1 : 0)
      assert.strictEqual(r.ok, status !== "fail")
      if (status === "fail") assert.match(r.text, /problem\(s\) found\n$/)
    })
  }

  it("sees what install and cdi generate set up", () => {
    const root = healthy()
    fs.mkdirSync(path.join(root, "etc/containerd"), { recursive: true })
    fs.writeFileSync(path.join(root, "etc/containerd/config.toml"), "version = 2\n")
    const install = spawnSync(
      BINARY,
      ["install", "--root", root, "--runtime", "docker", "--runtime", "containerd", "--runtime", "podman"],
      { encoding: "utf8" }
    )
    assert.strictEqual(install.status, 0, install.stderr)
    const gen = spawnSync(
      BINARY,
      [
        "cdi",
        "generate",
        "--dev-root",
        path.join(root, "dev"),
        "--config-dir",
        path.join(root, "etc/ascend-docker-runtime.d"),
        "--output",
        path.join(root, "etc/cdi/ascend.com-npu.json")
      ],
      { encoding: "utf8" }
    )
    assert.strictEqual(gen.status, 0, gen.stderr)
    const r = doctor(root)
    assert.strictEqual(r.status, 0, r.text)
    for (const id of ["docker", "containerd", "podman", "cdi"]) assert.strictEqual(check(r, id).status, "ok", id)
    assert.match(check(r, "cdi").message, /3 NPU devices offered/)
  })

  it("says which protocol the CLI speaks, and FAILs a hooks.d hook that cannot work with it", () => {
    const root = healthy()
    const old = doctor(root)
    assert.match(check(old, "cli-protocol").message, /the CLI speaks the 2021 protocol/)
    // Today's CLI: install refuses the hooks.d route for it; an old registration is then a FAIL.
    fs.copyFileSync(recordingCli("2023"), path.join(root, "usr/local/bin/ascend-docker-cli"))
    const install = spawnSync(BINARY, ["install", "--root", root, "--runtime", "podman"], { encoding: "utf8" })
    assert.strictEqual(install.status, 1)
    assert.match(
      install.stderr,
      /podman: the CLI speaks the 2023 protocol, so Podman's route is CDI.*run ascend-docker-hook cdi generate there/
    )
    assert.isFalse(
      fs.existsSync(path.join(root, "etc/containers/oci/hooks.d/ascend-docker-hook.json")),
      "nothing set up"
    )
    fs.mkdirSync(path.join(root, "etc/containers/oci/hooks.d"), { recursive: true })
    fs.writeFileSync(
      path.join(root, "etc/containers/oci/hooks.d/ascend-docker-hook.json"),
      JSON.stringify({
        version: "1.0.0",
        hook: { path: "/usr/local/bin/ascend-docker-cli", args: ["ascend-docker-hook"] }
      })
    )
    const r = doctor(root)
    assert.match(check(r, "cli-protocol").message, /the CLI speaks the 2023 protocol/)
    const mismatch = check(r, "podman-protocol")
    assert.strictEqual(mismatch.status, "fail")
    assert.match(mismatch.message, /speaks the 2021 protocol, the CLI the 2023: every NPU container will fail/)
    assert.strictEqual(r.status, 1)
  })
})

describe("doctor on a MemoryFileSystem tree", () => {
  it("reads the host only through FileSystem: a tree in memory, with modes and owners, is diagnosed", () => {
    const tree = {
      "/etc/ascend-docker-runtime.d/base.list": MemoryFileSystem.file("/usr/local/Ascend/driver/lib64\n"),
      "/usr/local/Ascend/driver/lib64/libascend.so": MemoryFileSystem.file(""),
      "/usr/local/Ascend/driver/lib64/lib x.so": MemoryFileSystem.file(""),
      "/usr/local/bin/ascend-docker-cli": MemoryFileSystem.file("\x7fELF allow-link", { mode: 0o755 }),
      "/dev/davinci0": MemoryFileSystem.charDevice(240, 0),
      "/etc/ascend-docker-runtime.d/runtime.conf": MemoryFileSystem.file(
        "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=refuse\n",
        {
          mode: 0o666
        }
      )
    }
    const checks = diagnose(
      {
        root: "/",
        configDir: "/etc/ascend-docker-runtime.d",
        cliPath: "/usr/local/bin/ascend-docker-cli",
        devRoot: "/dev"
      },
      hostFiles(MemoryFileSystem.make(tree))
    )
    const by = (id: string) => checks.find((c) => c.id === id)
    assert.strictEqual(
      by("cli-protocol")?.message,
      "the CLI speaks the 2023 protocol (no --devices): device nodes must come from the wrapper or CDI"
    )
    assert.strictEqual(by("path:base.list:1")?.status, "fail")
    assert.match(by("path:base.list:1")!.message, /inside it, .*lib x.so has characters the CLI refuses/)
    assert.strictEqual(by("runtime-conf")?.status, "fail", "a runtime.conf others may write")
    assert.match(by("runtime-conf")!.message, /writable by group or others \(mode 0666\)/)
  })
})

/** Where a check run alone looks: a MemoryFileSystem tree rooted at / with the default paths. */
const OPTIONS = {
  root: "/",
  configDir: "/etc/ascend-docker-runtime.d",
  cliPath: "/usr/local/bin/ascend-docker-cli",
  devRoot: "/dev"
}

// Each check is a value that runs alone against a tree (issue 26): the context it is given is the only host.
describe("one check at a time, on a MemoryFileSystem tree", () => {
  const run = (check: DoctorCheck, tree: Record<string, MemoryFileSystem.MemoryNode>) =>
    check.run(doctorContext(OPTIONS, hostFiles(MemoryFileSystem.make(tree))))

  it("docker: an ascend runtime naming a program that is not there fails, with the install that fixes it", () => {
    const daemon = MemoryFileSystem.file('{"runtimes":{"ascend":{"path":"/usr/local/bin/ascend-docker-runtime"}}}')
    assert.deepStrictEqual(run(dockerRuntime, { "/etc/docker/daemon.json": daemon }), [
      {
        id: "docker",
        status: "fail",
        message: "docker: runtime ascend points at /usr/local/bin/ascend-docker-runtime, which does not exist",
        fix: "ascend-docker-hook install --runtime docker"
      }
    ])
    const there = run(dockerRuntime, {
      "/etc/docker/daemon.json": daemon,
      "/usr/local/bin/ascend-docker-runtime": MemoryFileSystem.symlink("ascend-docker-hook"),
      "/usr/local/bin/ascend-docker-hook": MemoryFileSystem.file("", { mode: 0o755 })
    })
    assert.deepStrictEqual(
      there.map((c) => [c.status, c.message]),
      [["ok", "docker: runtime ascend -> /usr/local/bin/ascend-docker-runtime"]]
    )
    assert.deepStrictEqual(run(dockerRuntime, {}), [], "no daemon.json: nothing to say")
  })

  it("devices: the manager node may come as davinci_manager_docker; a missing devmm_svm fails", () => {
    const lines = run(sharedDevices, {
      "/dev/davinci_manager_docker": MemoryFileSystem.charDevice(235, 0),
      "/dev/hisi_hdc": MemoryFileSystem.charDevice(236, 0),
      "/dev/devmm_svm": MemoryFileSystem.file("")
    })
    assert.deepStrictEqual(
      lines.map((c) => `${c.id} ${c.status}`),
      ["device:davinci_manager ok", "device:devmm_svm fail", "device:hisi_hdc ok"]
    )
    assert.deepStrictEqual(
      run(npus, {
        "/dev/davinci1": MemoryFileSystem.charDevice(240, 1),
        "/dev/davinci0": MemoryFileSystem.charDevice(240, 0)
      }).map((c) => c.message),
      ["2 NPU device nodes under /dev (davinci0, davinci1)"]
    )
  })

  it("containerd: a config.toml edited since install, hidden by the drop-in's copy of the CRI section, warns", () => {
    const config = (image: string) =>
      `version = 2\nimports = ["/etc/containerd/conf.d/99-ascend.toml"]\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "${image}"\n`
    const dropIn = MemoryFileSystem.file(
      '# Written by ascend-docker-hook install\nversion = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "p:1"\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ascend]\n  runtime_type = "io.containerd.runc.v2"\n'
    )
    const ids = (image: string) =>
      run(containerdRuntime, {
        "/etc/containerd/config.toml": MemoryFileSystem.file(config(image)),
        "/etc/containerd/conf.d/99-ascend.toml": dropIn
      }).map((c) => `${c.id} ${c.status}`)
    assert.deepStrictEqual(ids("p:1"), ["containerd ok"])
    assert.deepStrictEqual(ids("p:2"), ["containerd ok", "containerd-drop-in warn"])
  })

  it("hooks.d: a Podman hook speaking the 2021 protocol beside a 2023 CLI fails, and says to use CDI", () => {
    const lines = run(podmanHooksd, {
      "/usr/local/bin/ascend-docker-cli": MemoryFileSystem.file("\x7fELF allow-link", { mode: 0o755 }),
      "/usr/local/bin/ascend-docker-hook": MemoryFileSystem.file("", { mode: 0o755 }),
      "/etc/containers/oci/hooks.d/ascend-docker-hook.json": MemoryFileSystem.file(
        hooksdJson("/usr/local/bin/ascend-docker-hook")
      )
    })
    assert.deepStrictEqual(
      lines.map((c) => `${c.id} ${c.status}`),
      ["podman-protocol fail", "podman ok"]
    )
  })

  it("diagnose runs the list it is given, in order; the full list is every check doctor has", () => {
    const tree = { "/dev/davinci0": MemoryFileSystem.charDevice(240, 0) }
    const host = hostFiles(MemoryFileSystem.make(tree))
    assert.deepStrictEqual(
      diagnose(OPTIONS, host, [npus, cdi]).map((c) => c.id),
      ["npus", "cdi"]
    )
    assert.includeMembers([...CHECKS], [npus, cdi, dockerRuntime, containerdRuntime, podmanHooksd, sharedDevices])
    assert.strictEqual(new Set(CHECKS.map((c) => c.name)).size, CHECKS.length, "each check named once")
  })
})

// A host that changes under its containers (issue 24): each check alone on a MemoryFileSystem tree.
describe("doctor: stale CDI specs, the refresh units, /dev/char links", () => {
  const { file, charDevice, symlink } = MemoryFileSystem
  const SYSTEMD_CONTAINERD = file(
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\nSystemdCgroup = true\n'
  )

  it("links missing under the systemd cgroup driver: a warning naming each node, with the fix", () => {
    const tree = {
      "/dev/davinci0": charDevice(240, 0),
      "/dev/devmm_svm": charDevice(242, 0),
      "/dev/char/242:0": symlink("../devmm_svm"),
      "/etc/containerd/config.toml": SYSTEMD_CONTAINERD
    }
    const [line] = devCharLinks.run(doctorContext(OPTIONS, hostFiles(MemoryFileSystem.make(tree))))
    assert.strictEqual(line?.status, "warn")
    assert.strictEqual(
      line?.message,
      "containerd uses the systemd cgroup driver (/etc/containerd/config.toml: SystemdCgroup = true), and these NPU " +
        "nodes have no /dev/char link: a systemctl daemon-reload cuts running containers off them: davinci0 (/dev/char/240:0)"
    )
    assert.match(line?.fix ?? "", /^ascend-docker-hook dev-links/)
    const noSystemd = { ...tree, "/etc/containerd/config.toml": file("version = 2\n") }
    assert.strictEqual(
      devCharLinks.run(doctorContext(OPTIONS, hostFiles(MemoryFileSystem.make(noSystemd))))[0]?.status,
      "ok"
    )
    const linked = { ...tree, "/dev/char/240:0": symlink("../davinci0") }
    assert.deepStrictEqual(devCharLinks.run(doctorContext(OPTIONS, hostFiles(MemoryFileSystem.make(linked)))), [
      { id: "dev-char-links", status: "ok", message: "/dev/char links: all 2 NPU nodes have one" }
    ])
  })

  it("a refresh unit systemd reports failed is a failure; where systemd cannot be asked, only that it is installed", () => {
    const tree = { "/etc/systemd/system/ascend-docker-hook-cdi-refresh.service": file("# Written by ...\n") }
    const host = () => hostFiles(MemoryFileSystem.make(tree))
    const [failed] = refreshUnitState.run(doctorContext(OPTIONS, host(), () => "failed"))
    assert.strictEqual(failed?.status, "fail")
    assert.strictEqual(
      failed?.fix,
      "journalctl -u ascend-docker-hook-cdi-refresh.service; then systemctl restart ascend-docker-hook-cdi-refresh.service"
    )
    assert.deepStrictEqual(refreshUnitState.run(doctorContext(OPTIONS, host())), [
      {
        id: "unit:ascend-docker-hook-cdi-refresh.service",
        status: "ok",
        message: "ascend-docker-hook-cdi-refresh.service: installed, its state unknown (systemd does not run here)"
      }
    ])
  })

  it("a spec cdi generate wrote, after an NPU went away: one warning per difference; current, one ok line", () => {
    const fsm = MemoryFileSystem.make({
      "/dev/davinci0": charDevice(240, 0),
      "/dev/davinci1": charDevice(240, 1),
      "/etc/ascend-docker-runtime.d/base.list": file("")
    })
    const host = hostFiles(fsm)
    assert.strictEqual(runCdi(["generate", "--output", "/var/run/cdi/ascend.com-npu.json"], host), 0)
    assert.deepStrictEqual(
      staleSpecs.run(doctorContext(OPTIONS, host)).map((c) => `${c.status} ${c.message}`),
      ["ok /var/run/cdi/ascend.com-npu.json: what cdi generate writes on this host now"]
    )
    Effect.runSync(fsm.remove("/dev/davinci1"))
    const stale = staleSpecs.run(doctorContext(OPTIONS, host))
    assert.deepStrictEqual(
      stale.map((c) => `${c.status} ${c.message}`),
      ["warn /var/run/cdi/ascend.com-npu.json is stale: device ascend.com/npu=1: in the spec, no longer on the host"],
      "one line per difference (all's list follows the devices, so it is not counted again)"
    )
    assert.match(
      stale[0]?.fix ?? "",
      /^ascend-docker-hook cdi generate --refresh --output \/var\/run\/cdi\/ascend.com-npu.json/
    )
  })
})

describe("doctor: engine generations, CDI and the route for each", () => {
  const lines = (tree: Record<string, string>, versions: Partial<Record<"containerd" | "dockerd", string>>) =>
    engineGenerations
      .run(
        doctorContext(
          OPTIONS,
          hostFiles(
            MemoryFileSystem.make(
              Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, MemoryFileSystem.file(v)]))
            )
          ),
          () => undefined,
          (p) => versions[p]
        )
      )
      .map((c) => c.message)

  it("containerd: 1.6 has no CDI, 1.7 with enable_cdi, 2.x unless turned off; spec dirs from the config", () => {
    const v3 = "version = 3\n"
    assert.match(
      lines(
        { "/etc/containerd/config.toml": v3 },
        { containerd: "containerd github.com/containerd/containerd/v2 2.1.9+unknown" }
      )[0]!,
      /^containerd 2\.1\.9, config version 3: CDI on \(specs from \/etc\/cdi, \/var\/run\/cdi\)/
    )
    assert.match(
      lines(
        { "/etc/containerd/config.toml": "version = 2\n" },
        { containerd: "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1" }
      )[0]!,
      /^containerd 1\.6\.20, config version 2: CDI off/
    )
    const on17 = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nenable_cdi = true\ncdi_spec_dirs = ["/srv/cdi"]\n'
    assert.match(
      lines(
        { "/etc/containerd/config.toml": on17 },
        { containerd: "containerd github.com/containerd/containerd 1.7.24" }
      )[0]!,
      /^containerd 1\.7\.24, config version 2: CDI on \(specs from \/srv\/cdi\)/
    )
    const off2 = "version = 3\n[plugins.'io.containerd.cri.v1.runtime']\nenable_cdi = false\n"
    assert.match(
      lines(
        { "/etc/containerd/config.toml": off2 },
        { containerd: "containerd github.com/containerd/containerd/v2 2.0.0" }
      )[0]!,
      /CDI off: handler ascend/
    )
  })

  it("docker: none before 25, features.cdi from 25, on by default since 28.2; nothing said of an engine that is not there", () => {
    assert.match(
      lines({}, { dockerd: "Docker version 28.5.2+dfsg4, build 4fbc8cc" })[0]!,
      /^dockerd 28\.5\.2: CDI on .*cdi generate, then docker run --device ascend.com\/npu=N/
    )
    assert.match(
      lines({}, { dockerd: "Docker version 20.10.24+dfsg1, build 297e128" })[0]!,
      /^dockerd 20\.10\.24: no CDI in this version: the wrapper/
    )
    assert.match(
      lines({ "/etc/docker/daemon.json": '{"features": {"cdi": true}}' }, { dockerd: "Docker version 27.3.1" })[0]!,
      /^dockerd 27\.3\.1: CDI on/
    )
    assert.match(lines({}, { dockerd: "Docker version 27.3.1" })[0]!, /^dockerd 27\.3\.1: CDI off/)
    assert.deepStrictEqual(lines({}, {}), [])
  })

  // The real programs: doctor (the built binary, root /) asks containerd and dockerd of each generation for
  // their version, with that generation first on PATH. The host's configs are only read.
  for (const gen of GENERATIONS) {
    const missing = missingPrograms(gen, ["containerd", "dockerd"])
    if (missing.length > 0 && inCI) throw new Error(`doctor's engine test needs ${missing.join(", ")}: ${gen.howToGet}`)
    it.runIf(missing.length === 0)(`the binary reads ${gen.label} from the programs themselves`, () => {
      const dir = scratch()
      trees.push(dir)
      const r = spawnSync(BINARY, ["doctor", "--json", "--dev-root", `${dir}/dev`, "--config-dir", `${dir}/conf`], {
        encoding: "utf8",
        env: { PATH: daemonPath(gen) }
      })
      const checks = JSON.parse(r.stdout).checks as Array<{ id: string; message: string }>
      const containerd = checks.find((c) => c.id === "engine:containerd")?.message ?? ""
      const dockerd = checks.find((c) => c.id === "engine:docker")?.message ?? ""
      const want = versionLine(execFileSync(gen.containerd, ["--version"], { encoding: "utf8" }))
      const version = /(\d+\.\d+\.\d+)/.exec(want.replace(/^containerd github\.com\/\S+/, ""))?.[1]
      assert.isDefined(version, want)
      assert.include(containerd, `containerd ${version}, `, "the version the program itself gives")
      assert.match(containerd, gen.cdi ? /^containerd 2\.\d+\.\d+, .*CDI on/ : /^containerd 1\.6\.\d+, .*CDI off/)
      assert.match(dockerd, gen.cdi ? /^dockerd 28\.\d+\.\d+: CDI on/ : /^dockerd 20\.10\.\d+: no CDI/)
    })
  }
})

describe("doctor: the driver library and leftover vNPUs", () => {
  const { file } = MemoryFileSystem
  const ctxOf = (tree: Record<string, MemoryFileSystem.MemoryNode>) =>
    doctorContext(OPTIONS, hostFiles(MemoryFileSystem.make(tree)))

  it("vNPU records a killed wrapper left: one warning each, with what destroys it", () => {
    const lines = leftoverVnpu.run(
      ctxOf({
        "/run/ascend-docker-runtime/vnpu/c1.json": file('{"phy":1,"card":1,"device":0,"vdevId":116}\n'),
        "/run/ascend-docker-runtime/vnpu/c2.json": file('{"phy":2,"card":2,"device":0,"vdevId":null}\n'),
        "/run/ascend-docker-runtime/vnpu/junk.json": file("not a record")
      })
    )
    assert.deepStrictEqual(
      lines.map((l) => `${l.status} ${l.message} | ${l.fix}`),
      [
        "warn vNPU 116 on NPU 1 (card 1 device 0) was left by container c1 | ascend-docker-runtime delete c1 (destroys it)",
        "warn vNPU: the wrapper was killed while the driver made a vNPU on NPU 2 (card 2 device 0) for container c2; its id is unknown | npu-smi info -t info-vnpu -i 2 -c 0 lists it; destroy it with npu-smi, then ascend-docker-runtime delete c2"
      ]
    )
    assert.deepStrictEqual(leftoverVnpu.run(ctxOf({})), [], "none left: nothing said")
  })

  it("no libdcmi.so where the loader looks: /dev decides, and vNPU is refused", () => {
    assert.deepStrictEqual(
      driverLibrary.run(ctxOf({})).map((l) => l.message),
      [
        "driver: no trusted libdcmi.so where the loader looks: device sets from the nodes under /dev; vNPU requests are refused"
      ]
    )
  })
})
