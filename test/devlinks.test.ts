import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { devLinks, systemdCgroupUsers } from "../src/commands/DevLinks.ts"
import { hostFiles } from "../src/commands/HostFiles.ts"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { BINARY, cleanup, scratch } from "./support/fixtures.ts"

// `dev-links`: the /dev/char/<major>:<minor> links systemd resolves device rules through on a daemon-reload.
// Process-level on a scratch dev root of mknod'ed nodes (the built binary), and the reading of the engines'
// cgroup driver on MemoryFileSystem trees. No systemd runs here as PID 1: what a real daemon-reload does is
// in the README, from systemd's sources and docs.

const trees: Array<string> = []
afterAll(() => {
  for (const t of trees) cleanup(t)
})

/** A dev root with davinci0..n-1 (major 240, minor i), davinci_manager (241:0), devmm_svm (242:0). */
const devRoot = (n: number) => {
  const dir = scratch()
  trees.push(dir)
  const dev = path.join(dir, "dev")
  fs.mkdirSync(dev, { mode: 0o755 })
  for (let i = 0; i < n; i++) execFileSync("mknod", [path.join(dev, `davinci${i}`), "c", "240", String(i)])
  execFileSync("mknod", [path.join(dev, "davinci_manager"), "c", "241", "0"])
  execFileSync("mknod", [path.join(dev, "devmm_svm"), "c", "242", "0"])
  return dev
}
const devLinksRun = (dev: string, ...extra: Array<string>) =>
  spawnSync(BINARY, ["dev-links", "--dev-root", dev, ...extra], { encoding: "utf8", env: {} })

describe("dev-links", () => {
  it("links every NPU node and the shared ones, relative, as udev does; a second run changes nothing", () => {
    const dev = devRoot(2)
    const r = devLinksRun(dev)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /dev-links: 4 made, 0 already there, 0 left alone/)
    const links = fs.readdirSync(path.join(dev, "char")).sort()
    assert.deepStrictEqual(links, ["240:0", "240:1", "241:0", "242:0"])
    assert.strictEqual(fs.readlinkSync(path.join(dev, "char/240:1")), "../davinci1")
    assert.strictEqual(fs.readlinkSync(path.join(dev, "char/241:0")), "../davinci_manager")
    assert.isTrue(fs.statSync(path.join(dev, "char/240:1")).isCharacterDevice())
    const mtime = fs.lstatSync(path.join(dev, "char/240:0")).mtimeMs
    const again = devLinksRun(dev)
    assert.strictEqual(again.status, 0, again.stderr)
    assert.match(again.stdout, /^dev-links: 0 made, 4 already there, 0 left alone$/m)
    assert.strictEqual(fs.lstatSync(path.join(dev, "char/240:0")).mtimeMs, mtime, "left untouched")
  })

  it("never replaces a link or file it did not make; names it and exits 1; --dry-run makes nothing", () => {
    const dev = devRoot(2)
    fs.mkdirSync(path.join(dev, "char"))
    fs.symlinkSync("../somewhere-else", path.join(dev, "char/240:0"))
    fs.writeFileSync(path.join(dev, "char/240:1"), "an admin's file")
    const dry = devLinksRun(dev, "--dry-run")
    assert.strictEqual(dry.status, 1)
    assert.match(dry.stdout, /would link .*char\/241:0 -> \.\.\/davinci_manager/)
    assert.isFalse(fs.existsSync(path.join(dev, "char/241:0")), "dry run")
    const r = devLinksRun(dev)
    assert.strictEqual(r.status, 1)
    assert.match(r.stderr, /char\/240:0 is not a link to .*\/davinci0; left alone/)
    assert.match(r.stderr, /char\/240:1 is not a link to .*\/davinci1; left alone/)
    assert.strictEqual(fs.readlinkSync(path.join(dev, "char/240:0")), "../somewhere-else")
    assert.strictEqual(fs.readFileSync(path.join(dev, "char/240:1"), "utf8"), "an admin's file")
    assert.strictEqual(fs.readlinkSync(path.join(dev, "char/242:0")), "../devmm_svm", "the others made")
    assert.deepStrictEqual(
      fs.readdirSync(path.join(dev, "char")).filter((n) => n.startsWith(".")),
      [],
      "no temporary left"
    )
  })

  it("a link of its own form whose node was renumbered (driver reinstalled) is replaced", () => {
    const dev = devRoot(2)
    fs.mkdirSync(path.join(dev, "char"))
    // davinci1 was 240:0 before; now davinci0 is.
    fs.symlinkSync("../davinci1", path.join(dev, "char/240:0"))
    const r = devLinksRun(dev)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /linked .*char\/240:0 -> \.\.\/davinci0 \(replacing a stale one\)/)
    assert.strictEqual(fs.readlinkSync(path.join(dev, "char/240:0")), "../davinci0")
  })

  it("a host without NPU nodes is one line and exit 1", () => {
    const dir = scratch()
    trees.push(dir)
    const r = devLinksRun(dir)
    assert.strictEqual(r.status, 1)
    assert.strictEqual(r.stderr, `ascend-docker-hook dev-links: no NPU device nodes under ${dir}\n`)
  })

  it("reads the states through FileSystem (a MemoryFileSystem tree)", () => {
    const host = hostFiles(
      MemoryFileSystem.make({
        "/dev/davinci0": MemoryFileSystem.charDevice(240, 0),
        "/dev/davinci3": MemoryFileSystem.charDevice(240, 3),
        "/dev/hisi_hdc": MemoryFileSystem.charDevice(243, 0),
        "/dev/char/240:0": MemoryFileSystem.symlink("../davinci0"),
        "/dev/char/243:0": MemoryFileSystem.symlink("/elsewhere")
      })
    )
    assert.deepStrictEqual(
      devLinks(host, "/dev").map((l) => `${l.link} ${l.state}`),
      ["/dev/char/240:0 present", "/dev/char/240:3 missing", "/dev/char/243:0 foreign"]
    )
  })
})

describe("which engines put containers under the systemd cgroup driver", () => {
  const usersOf = (tree: Record<string, string>) =>
    systemdCgroupUsers(
      hostFiles(
        MemoryFileSystem.make(Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, MemoryFileSystem.file(v)])))
      ),
      "/"
    ).map((u) => `${u.engine}: ${u.where}`)

  it("containerd's SystemdCgroup in config.toml or an imported drop-in; Docker's exec-opts; CRI-O's cgroup_manager", () => {
    assert.deepStrictEqual(
      usersOf({
        "/etc/containerd/config.toml": 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n',
        "/etc/containerd/conf.d/10-k8s.toml":
          '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\nSystemdCgroup = true\n',
        "/etc/docker/daemon.json": '{"exec-opts": ["native.cgroupdriver=systemd"]}',
        "/etc/crio/crio.conf.d/01-cgroup.conf": '[crio.runtime]\ncgroup_manager = "cgroupfs"\n'
      }),
      [
        "containerd: /etc/containerd/conf.d/10-k8s.toml: SystemdCgroup = true",
        "docker: /etc/docker/daemon.json: exec-opts native.cgroupdriver=systemd"
      ]
    )
    assert.deepStrictEqual(
      usersOf({
        "/etc/containerd/config.toml": "version = 2\n# SystemdCgroup = true\n",
        "/etc/docker/daemon.json": '{"exec-opts": ["native.cgroupdriver=cgroupfs"]}',
        "/etc/crio/crio.conf": "[crio.runtime]\n"
      }),
      ["crio: CRI-O's default cgroup_manager (systemd)"]
    )
  })
})
