import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { hooksdJson } from "../src/commands/Install.ts"
import { REFRESH_ENV, REFRESH_SERVICE, refreshUnits } from "../src/commands/SystemdUnits.ts"
import { BINARY, cleanup, inCI, recordingCli, scratch } from "./support/fixtures.ts"
import { canMakePrivateHost, type PrivateHost, privateHost } from "./support/privateHost.ts"

// A real CDI consumer: Podman 4.3 (runc, a local busybox rootfs, no image pull; flags from
// ../shared/cdi/PODMAN.md) starts containers with --device ascend.com/npu=0 and =all from a spec that
// `cdi generate` wrote for a dev-root of stand-in character devices. Podman reads specs only from
// /etc/cdi and /var/run/cdi, so Podman and `cdi generate` run in a private view of the host
// (test/support/privateHost.ts: /etc, /usr/local and /run are overlays there): the spec goes to the real
// /etc/cdi path of that view, Podman's runroot to its /run, and the host's own never change.

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))
const missing = [...["podman", "runc", "mknod"].filter((c) => !which(c)), ...(BUSYBOX ? [] : ["busybox"])]
const noPrivateHost = canMakePrivateHost()
const canRun = missing.length === 0 && noPrivateHost === undefined
if (!canRun) {
  const why = noPrivateHost ?? `missing ${missing.join(", ")}`
  if (inCI) throw new Error(`the Podman CDI test cannot run in CI: ${why} (.ci/run installs podman)`)
  console.warn(`SKIPPING the Podman CDI test outside CI: ${why}`)
}

let dir = ""
let host: PrivateHost | undefined
/** In the private view: the host's /etc/cdi and /run are never written. */
const specFile = "/etc/cdi/ascend.com-npu.json"
/** Podman wants a runroot of at most 50 characters. */
const runroot = `/run/adh-podman-${process.pid}`

beforeAll(async () => {
  if (!canRun) return
  dir = scratch()
  host = await privateHost(dir)
  for (const d of ["dev", "conf", "driver/lib64", "rootfs/bin", "podman/root", "podman/tmp", "podman/net"]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 })
  }
  for (const n of ["davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"]) {
    execFileSync("mknod", [path.join(dir, "dev", n), "c", "1", "3"])
  }
  fs.writeFileSync(path.join(dir, "driver/version.info"), "Version=24.1.0\n")
  fs.writeFileSync(path.join(dir, "driver/lib64/libascend.so"), "")
  fs.writeFileSync(path.join(dir, "conf/base.list"), `${dir}/driver/lib64\n${dir}/driver/version.info\n`)
  fs.copyFileSync(BUSYBOX!, path.join(dir, "rootfs/bin/busybox"))
  fs.chmodSync(path.join(dir, "rootfs/bin/busybox"), 0o755)
  fs.symlinkSync("busybox", path.join(dir, "rootfs/bin/sh"))
  // A tmpfs: Podman's overlay rootfs puts its upper dir here, and an overlay's upper cannot be on the
  // overlay that this view's /run is.
  host.run(["sh", "-c", `mkdir -p -m 0700 ${runroot} && mount -t tmpfs -o mode=0700 tmpfs ${runroot}`])
  const gen = host.run([
    BINARY,
    "cdi",
    "generate",
    "--dev-root",
    `${dir}/dev`,
    "--config-dir",
    `${dir}/conf`,
    "--output",
    specFile
  ])
  if (gen.status !== 0) throw new Error(`cdi generate failed: ${gen.stderr}`)
}, 60_000)

afterAll(() => {
  if (!canRun) return
  host?.run(["umount", "-R", runroot])
  host?.stop()
  cleanup(dir)
})

/** `podman run` with this sandbox's flags (PODMAN.md); `global` goes before `run`, `args` after the rootfs flags. */
const podmanRun = (args: ReadonlyArray<string>, global: ReadonlyArray<string> = []) =>
  host!.run(
    [
      "podman",
      ...["--root", `${dir}/podman/root`, "--runroot", runroot, "--tmpdir", `${dir}/podman/tmp`],
      ...["--network-config-dir", `${dir}/podman/net`, "--runtime", "runc", ...global],
      ...["run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"],
      ...args
    ],
    { encoding: "utf8", timeout: 120_000 }
  ) as { status: number | null; stdout: string; stderr: string }

const podman = (device: string, script: string) =>
  podmanRun(["--device", device, "--rootfs", `${dir}/rootfs:O`, "/bin/sh", "-c", script])

describe.runIf(canRun)("Podman starts containers from the generated CDI spec", () => {
  it("the spec is for Podman 4.3: cdiVersion 0.5.0 at most", () => {
    assert.strictEqual(JSON.parse(String(host!.run(["cat", specFile]).stdout)).cdiVersion, "0.5.0")
    assert.isFalse(fs.existsSync(specFile), "the host's own /etc/cdi is untouched")
  })

  it("--device ascend.com/npu=0: that NPU, the control devices and the driver paths, read-only", () => {
    const r = podman(
      "ascend.com/npu=0",
      `/bin/busybox ls /dev/davinci0 /dev/davinci_manager /dev/devmm_svm /dev/hisi_hdc && ` +
        `/bin/busybox cat ${dir}/driver/version.info && /bin/busybox ls ${dir}/driver/lib64 && ` +
        `{ /bin/busybox test -e /dev/davinci1 && echo HAS-1 || echo NO-1; } && ` +
        `{ /bin/busybox touch ${dir}/driver/lib64/x 2>/dev/null && echo WRITABLE || echo READ-ONLY; }`
    )
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout, "Version=24.1.0")
    assert.include(r.stdout, "libascend.so")
    assert.include(r.stdout, "NO-1")
    assert.include(r.stdout, "READ-ONLY")
  })

  it("--device ascend.com/npu=all: every NPU", () => {
    const r = podman("ascend.com/npu=all", "/bin/busybox ls /dev/davinci0 /dev/davinci1 && echo BOTH")
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout, "BOTH")
  })

  it("an unknown device is refused by Podman", () => {
    const r = podman("ascend.com/npu=7", "true")
    assert.strictEqual(r.status, 126, r.stderr)
    assert.match(r.stderr, /unresolvable CDI devices/)
  })
})

describe.runIf(canRun)("Podman runs the hook from the hooks.d file that install writes", () => {
  it("an NPU container gets the CLI run with its pid and rootfs; others are left alone", () => {
    // The file install writes for podman/CRI-O (src/commands/Install.ts), pointing at a copy of the binary
    // with the recording CLI next to it, and --config-dir added so the host's /etc stays untouched.
    const hooksDir = path.join(dir, "hooks.d")
    const bin = path.join(dir, "hookbin")
    fs.mkdirSync(hooksDir, { mode: 0o755 })
    fs.mkdirSync(bin, { mode: 0o755 })
    fs.copyFileSync(BINARY, path.join(bin, "ascend-docker-hook"))
    fs.copyFileSync(recordingCli(), path.join(bin, "ascend-docker-cli"))
    fs.chmodSync(path.join(bin, "ascend-docker-hook"), 0o755)
    fs.chmodSync(path.join(bin, "ascend-docker-cli"), 0o755)
    const entry = JSON.parse(hooksdJson(path.join(bin, "ascend-docker-hook")))
    entry.hook.args.push("--config-dir", `${dir}/conf`)
    fs.writeFileSync(path.join(hooksDir, "ascend-docker-hook.json"), JSON.stringify(entry))
    const record = path.join(bin, "record.json")

    fs.rmSync(record, { force: true })
    const withEnv = podmanRun(
      ["-e", "ASCEND_VISIBLE_DEVICES=1,0", "--rootfs", `${dir}/rootfs:O`, "/bin/sh", "-c", "echo MARKER"],
      ["--hooks-dir", hooksDir]
    )
    assert.strictEqual(withEnv.status, 0, withEnv.stderr)
    assert.include(withEnv.stdout, "MARKER")
    const argv = JSON.parse(fs.readFileSync(record, "utf8")).argv as Array<string>
    assert.deepStrictEqual(argv.slice(0, 3), [path.join(bin, "ascend-docker-cli"), "--devices", "0,1"])
    assert.match(argv[4]!, /^[1-9][0-9]*$/)
    assert.strictEqual(argv[5], "--rootfs")
    assert.deepStrictEqual(argv.slice(7), [
      "--mount-file",
      `${dir}/driver/version.info`,
      "--mount-dir",
      `${dir}/driver/lib64`
    ])

    fs.rmSync(record, { force: true })
    const plain = podmanRun(["--rootfs", `${dir}/rootfs:O`, "/bin/sh", "-c", "echo PLAIN"], ["--hooks-dir", hooksDir])
    assert.strictEqual(plain.status, 0, plain.stderr)
    assert.include(plain.stdout, "PLAIN")
    assert.isFalse(fs.existsSync(record), "no NPU asked for: the CLI never ran")
  })
})

describe.runIf(canRun)("install --runtime podman with a 2023 CLI sets up CDI", () => {
  it("the spec install generated lets Podman start --device ascend.com/npu=1, no hook involved", () => {
    // Today's CLI next to the hook, the driver where the default base.list looks: install's own paths.
    const inView = (argv: ReadonlyArray<string>) => {
      const r = host!.run(argv, { encoding: "utf8" })
      assert.strictEqual(r.status, 0, `${argv.join(" ")}: ${r.stderr}`)
      return String(r.stdout)
    }
    inView(["install", "-D", "-m", "0755", recordingCli("2023"), "/usr/local/bin/ascend-docker-cli"])
    inView([
      "sh",
      "-c",
      "mkdir -p /usr/local/Ascend/driver/lib64 && echo Version=25.0 > /usr/local/Ascend/driver/version.info"
    ])
    const out = inView([BINARY, "install", "--runtime", "podman", "--dev-root", `${dir}/dev`])
    assert.match(out, /wrote \/etc\/cdi\/ascend.com-npu.json: cdiVersion 0.5.0, ascend.com\/npu=0,1,all/)
    assert.notMatch(out, /hooks.d/, "no hooks.d hook with a 2023 CLI")
    const r = podman(
      "ascend.com/npu=1",
      "/bin/busybox ls /dev/davinci1 && /bin/busybox cat /usr/local/Ascend/driver/version.info && " +
        "{ /bin/busybox test -e /dev/davinci0 && echo HAS-0 || echo NO-0; }"
    )
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout, "Version=25.0")
    assert.include(r.stdout, "NO-0")

    // uninstall: an edited spec is left in place, byte for byte, saying so; the spec as made is removed.
    inView(["sh", "-c", `printf '\n' >> ${specFile}`])
    const edited = inView(["sha256sum", specFile])
    const kept = inView([BINARY, "uninstall", "--runtime", "podman", "--dev-root", `${dir}/dev`])
    assert.match(kept, /podman: \/etc\/cdi\/ascend.com-npu.json left in place: it is not what cdi generate makes/)
    assert.strictEqual(inView(["sha256sum", specFile]), edited)
    // install again: the edited spec is kept as a backup before the spec is made anew.
    const again = inView([BINARY, "install", "--runtime", "podman", "--dev-root", `${dir}/dev`])
    const backup =
      /kept the previous \/etc\/cdi\/ascend\.com-npu\.json, which differs, as (\/etc\/cdi\/ascend\.com-npu\.json\.ascend-backup-\S+)/.exec(
        again
      )?.[1]
    assert.isDefined(backup, again)
    assert.strictEqual(inView(["sha256sum", backup!]).split(" ")[0], edited.split(" ")[0])
    const removed = inView([BINARY, "uninstall", "--runtime", "podman", "--dev-root", `${dir}/dev`])
    assert.match(removed, /podman: removed \/etc\/cdi\/ascend.com-npu.json/)
    assert.strictEqual(host!.run(["test", "-e", specFile]).status, 1, "the spec is gone")
  })
})

describe.runIf(canRun)("the CDI refresh follows the host, and Podman sees the new set", () => {
  it("the refresh service's command, run by hand as systemd runs it, after an NPU goes away", () => {
    const inView = (argv: ReadonlyArray<string>) => {
      const r = host!.run(argv, { encoding: "utf8" })
      assert.strictEqual(r.status, 0, `${argv.join(" ")}: ${r.stderr}`)
      return String(r.stdout)
    }
    // Only this spec offers ascend.com/npu here (two specs of one kind with the same names conflict).
    inView(["rm", "-f", specFile])
    const rdev = path.join(dir, "rdev")
    fs.mkdirSync(rdev, { mode: 0o755 })
    for (const n of ["davinci0", "davinci1", "davinci2", "davinci_manager", "devmm_svm", "hisi_hdc"])
      execFileSync("mknod", [path.join(rdev, n), "c", "1", "3"])
    const spec = "/var/run/cdi/ascend.com-npu.json"
    const env = `ASCEND_CDI_REFRESH_FLAGS=--output ${spec} --dev-root ${rdev} --config-dir ${dir}/conf\n`
    inView(["sh", "-c", `mkdir -p ${path.dirname(REFRESH_ENV)} && printf '%s' '${env}' > ${REFRESH_ENV}`])
    // ExecStart of the unit install writes, with $ASCEND_CDI_REFRESH_FLAGS from its EnvironmentFile split on
    // white space, as systemd expands an unbraced $VAR.
    const unit = refreshUnits(BINARY).find((u) => u.name === REFRESH_SERVICE)!.content
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!
    const refresh = () => {
      const flags = /^ASCEND_CDI_REFRESH_FLAGS=(.*)$/m.exec(inView(["cat", REFRESH_ENV]))![1]!
      return inView(execStart.replace("$ASCEND_CDI_REFRESH_FLAGS", flags).split(/\s+/))
    }
    assert.match(refresh(), /^wrote \/var\/run\/cdi\/ascend.com-npu.json: cdiVersion 0.5.0, ascend.com\/npu=0,1,2,all/)
    const two = podman("ascend.com/npu=2", "/bin/busybox ls /dev/davinci2 && echo HAS-2")
    assert.strictEqual(two.status, 0, two.stderr)
    assert.include(two.stdout, "HAS-2")

    fs.rmSync(path.join(rdev, "davinci2"))
    assert.match(refresh(), /^wrote .*: cdiVersion 0.5.0, ascend.com\/npu=0,1,all/)
    const gone = podman("ascend.com/npu=2", "true")
    assert.strictEqual(gone.status, 126, gone.stderr)
    assert.match(gone.stderr, /unresolvable CDI devices/)
    const all = podman("ascend.com/npu=all", "/bin/busybox ls /dev/ | /bin/busybox grep -c '^davinci[0-9]'")
    assert.strictEqual(all.status, 0, all.stderr)
    assert.strictEqual(all.stdout.trim(), "2", "all is the two NPUs left")

    const before = inView(["stat", "-c", "%i %Y", spec])
    assert.match(refresh(), /^unchanged /)
    assert.strictEqual(inView(["stat", "-c", "%i %Y", spec]), before, "an unchanged host: the spec untouched")
    inView(["rm", "-f", spec, REFRESH_ENV])
  })
})
