import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Ajv } from "ajv"
import * as Effect from "effect/Effect"
import { buildCdiSpec, listCdiDevices, minimumCdiVersion, runCdi } from "../src/commands/Cdi.ts"
import { specDrift } from "../src/commands/CdiDrift.ts"
import { hostFiles } from "../src/commands/HostFiles.ts"
import * as MemoryFileSystem from "../src/platform/MemoryFileSystem.ts"
import { BINARY, cleanup, ROOT, scratch } from "./support/fixtures.ts"

// `cdi generate` and `cdi list`, run as the built binary on temp host trees with stand-in character
// devices (mknod, the numbers of /dev/null). Every generated spec is validated against the CDI JSON
// schema in ../shared/cdi with a real validator. A real consumer (Podman) is in e2e.podman.test.ts.

const SHARED = path.join(ROOT, "../shared/cdi")
const ajv = new Ajv({ allErrors: true, strict: false })
ajv.addSchema(JSON.parse(fs.readFileSync(path.join(SHARED, "defs.json"), "utf8")), "defs.json")
const validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(SHARED, "schema.json"), "utf8")))
const assertValid = (spec: unknown) => assert.isTrue(validate(spec), JSON.stringify(validate.errors))

const trees: Array<string> = []
afterAll(() => {
  for (const t of trees) cleanup(t)
})

/** A host: dev/ with NPUs 0..n-1 and the given control devices, conf/base.list naming driver paths. */
const cdiHost = (npus: number, control: ReadonlyArray<string> = ["davinci_manager", "devmm_svm", "hisi_hdc"]) => {
  const dir = scratch()
  trees.push(dir)
  for (const d of ["dev", "conf", "driver/lib64"]) fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 })
  for (let i = 0; i < npus; i++) execFileSync("mknod", [path.join(dir, "dev", `davinci${i}`), "c", "1", "3"])
  for (const c of control) execFileSync("mknod", [path.join(dir, "dev", c), "c", "1", "3"])
  fs.writeFileSync(path.join(dir, "dev", "davinci_not_a_device"), "")
  fs.writeFileSync(path.join(dir, "driver/version.info"), "1.0\n")
  fs.writeFileSync(path.join(dir, "conf/base.list"), `${dir}/driver/lib64\n${dir}/driver/version.info\n/nonexistent\n`)
  return dir
}

const cdi = (...args: Array<string>) => spawnSync(BINARY, ["cdi", ...args], { encoding: "utf8", env: {} })
/** `cdi generate` for a host made by cdiHost, with extra flags. */
const generateFor = (dir: string, ...extra: Array<string>) =>
  cdi("generate", "--dev-root", `${dir}/dev`, "--config-dir", `${dir}/conf`, ...extra)

describe("cdi generate", () => {
  it("one device per NPU plus all, control devices and read-only driver mounts; valid against the CDI schema", () => {
    const dir = cdiHost(3)
    const out = path.join(dir, "cdi/ascend.com-npu.json")
    const r = generateFor(dir, "--output", out)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /cdiVersion 0.5.0, ascend.com\/npu=0,1,2,all, 3 shared devices, 2 mounts/)
    const spec = JSON.parse(fs.readFileSync(out, "utf8"))
    assertValid(spec)
    assert.strictEqual(
      spec.cdiVersion,
      "0.5.0",
      "names starting with a digit and hostPath need 0.5.0; Podman 4.3 reads up to it"
    )
    assert.strictEqual(spec.kind, "ascend.com/npu")
    assert.deepStrictEqual(
      spec.devices.map((d: { name: string }) => d.name),
      ["0", "1", "2", "all"]
    )
    assert.deepStrictEqual(spec.devices[1].containerEdits.deviceNodes, [
      { path: "/dev/davinci1", hostPath: `${dir}/dev/davinci1` }
    ])
    assert.strictEqual(spec.devices[3].containerEdits.deviceNodes.length, 3)
    assert.deepStrictEqual(
      spec.containerEdits.deviceNodes.map((n: { path: string }) => n.path),
      ["/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"]
    )
    assert.deepStrictEqual(spec.containerEdits.mounts, [
      {
        hostPath: `${dir}/driver/version.info`,
        containerPath: `${dir}/driver/version.info`,
        options: ["rbind", "rprivate", "ro", "nosuid", "nodev"]
      },
      {
        hostPath: `${dir}/driver/lib64`,
        containerPath: `${dir}/driver/lib64`,
        options: ["rbind", "rprivate", "ro", "nosuid", "nodev"]
      }
    ])
    assert.strictEqual(fs.statSync(out).mode & 0o777, 0o644)
    assert.deepStrictEqual(
      fs.readdirSync(path.dirname(out)).sort(),
      [".ascend.com-npu.json.ascend-generated", "ascend.com-npu.json"],
      "no temp file left; the digest of what was written beside it, under a name no engine loads"
    )
    const sha = execFileSync("sha256sum", [out], { encoding: "utf8" }).split(" ")[0]
    assert.strictEqual(
      fs.readFileSync(`${path.dirname(out)}/.ascend.com-npu.json.ascend-generated`, "utf8"),
      `${sha}\n`
    )
  })

  it("only the control devices that exist; --kind; --dry-run prints and writes nothing", () => {
    const dir = cdiHost(1, ["hisi_hdc"])
    const r = generateFor(dir, "--kind", "example.com/accel", "--dry-run", "--output", `${dir}/out.json`)
    assert.strictEqual(r.status, 0, r.stderr)
    const spec = JSON.parse(r.stdout)
    assertValid(spec)
    assert.strictEqual(spec.kind, "example.com/accel")
    assert.deepStrictEqual(spec.containerEdits.deviceNodes, [
      { path: "/dev/hisi_hdc", hostPath: `${dir}/dev/hisi_hdc` }
    ])
    assert.isFalse(fs.existsSync(`${dir}/out.json`))
  })

  it("reads the mount lists exactly as the hook does: same names, same checks", () => {
    const dir = cdiHost(1)
    fs.writeFileSync(path.join(dir, "conf/extra.list"), "/usr/lib\n")
    const both = generateFor(dir, "--mounts", "base,EXTRA", "--dry-run")
    assert.strictEqual(both.status, 0, both.stderr)
    assert.include(
      JSON.parse(both.stdout).containerEdits.mounts.map((m: { hostPath: string }) => m.hostPath),
      "/usr/lib"
    )
    const evil = generateFor(dir, "--mounts", "../x", "--dry-run")
    assert.strictEqual(evil.status, 1)
    assert.match(evil.stderr, /is not a mount-list name/)
    fs.chmodSync(path.join(dir, "conf/base.list"), 0o666)
    const untrusted = generateFor(dir, "--dry-run")
    assert.strictEqual(untrusted.status, 1)
    assert.match(untrusted.stderr, /untrusted mount list .*base.list: is writable by group or others/)
  })

  it("refuses a host without NPUs and a bad kind", () => {
    const dir = cdiHost(0)
    const none = generateFor(dir, "--dry-run")
    assert.strictEqual(none.status, 1)
    assert.match(none.stderr, /no NPU device nodes \(davinciN\)/)
    const kind = cdi("generate", "--kind", "npu", "--dry-run")
    assert.strictEqual(kind.status, 1)
    assert.match(kind.stderr, /--kind "npu" is not VENDOR\/CLASS/)
  })

  it("the lowest cdiVersion the fields need, by the CDI library's rules", () => {
    const none = { files: [], dirs: [] }
    const node = (name: string, hostPath = `/dev/${name}`) =>
      ({ path: `/dev/${name}`, hostPath, type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }) as const
    const prod = buildCdiSpec({
      kind: "huawei.com/npu",
      npus: [node("davinci0")],
      shared: [node("hisi_hdc"), node("davinci_manager", "/dev/davinci_manager_docker")],
      mounts: none,
      libDirs: ["/usr/local/Ascend/driver/lib64/driver"]
    })
    assert.deepStrictEqual(prod.containerEdits.deviceNodes, [
      { path: "/dev/hisi_hdc" },
      { path: "/dev/davinci_manager", hostPath: "/dev/davinci_manager_docker" }
    ])
    assert.deepStrictEqual(prod.containerEdits.env, ["LD_LIBRARY_PATH=/usr/local/Ascend/driver/lib64/driver"])
    assert.deepStrictEqual(
      prod.devices[0]!.containerEdits.deviceNodes,
      [{ path: "/dev/davinci0" }],
      "no hostPath for the real /dev"
    )
    assert.strictEqual(prod.cdiVersion, "0.5.0", "device name 0 starts with a digit")
    assertValid(prod)
    const base = { kind: "huawei.com/npu", containerEdits: {} }
    assert.strictEqual(minimumCdiVersion({ ...base, devices: [{ name: "all", containerEdits: {} }] }), "0.3.0")
    assert.strictEqual(
      minimumCdiVersion({
        ...base,
        devices: [
          {
            name: "a",
            containerEdits: { mounts: [{ hostPath: "/a", containerPath: "/a", options: [], type: "bind" } as never] }
          }
        ]
      }),
      "0.4.0"
    )
    assert.strictEqual(
      minimumCdiVersion({
        ...base,
        devices: [{ name: "a", containerEdits: { deviceNodes: [{ path: "/dev/x", hostPath: "/h" }] } }]
      }),
      "0.5.0"
    )
    assert.strictEqual(minimumCdiVersion({ ...base, kind: "huawei.com/npu.v2", devices: [] }), "0.6.0")
  })
})

describe("cdi list", () => {
  it("the fully qualified names, a later dir winning, a warning per spec it cannot load", () => {
    const dir = scratch()
    trees.push(dir)
    const a = path.join(dir, "etc-cdi")
    const b = path.join(dir, "run-cdi")
    fs.mkdirSync(a)
    fs.mkdirSync(b)
    const spec = (kind: string, ...names: Array<string>) =>
      JSON.stringify({ cdiVersion: "0.5.0", kind, devices: names.map((name) => ({ name, containerEdits: {} })) })
    fs.writeFileSync(path.join(a, "npu.json"), spec("huawei.com/npu", "0", "1", "all"))
    fs.writeFileSync(path.join(b, "npu.json"), spec("huawei.com/npu", "1", "2"))
    fs.writeFileSync(path.join(a, "gpu.yaml"), spec("vendor.com/gpu", "g0"))
    fs.writeFileSync(path.join(a, "broken.json"), "{ nope")
    fs.writeFileSync(path.join(b, "nokind.json"), JSON.stringify({ devices: [] }))
    fs.writeFileSync(
      path.join(b, "real.yaml"),
      "cdiVersion: 0.5.0\nkind: x.com/y\ndevices:\n  - name: dev0\n    containerEdits: {}\n"
    )
    fs.writeFileSync(path.join(b, "broken.yml"), "kind: [unclosed\n")
    fs.writeFileSync(path.join(b, "ignored.txt"), "x")
    const r = cdi("list", "--cdi-dir", a, "--cdi-dir", b)
    assert.strictEqual(r.status, 0)
    assert.deepStrictEqual(r.stdout.trim().split("\n"), [
      "huawei.com/npu=0",
      "huawei.com/npu=1",
      "huawei.com/npu=2",
      "huawei.com/npu=all",
      "vendor.com/gpu=g0",
      "x.com/y=dev0"
    ])
    const warnings = r.stderr.trim().split("\n")
    assert.strictEqual(warnings.length, 3)
    assert.match(warnings[0]!, /^warning: cannot load CDI spec .*broken.json: invalid JSON/)
    assert.match(warnings[1]!, /broken.yml: invalid YAML/)
    assert.match(warnings[2]!, /nokind.json: no valid kind/)
  })
})

describe("cdi generate on a MemoryFileSystem tree", () => {
  it("reads the dev root and mount lists and writes the spec through FileSystem", () => {
    const fsm = MemoryFileSystem.make({
      "/dev/davinci0": MemoryFileSystem.charDevice(240, 0),
      "/dev/davinci3": MemoryFileSystem.charDevice(240, 3),
      "/dev/davinci_manager": MemoryFileSystem.charDevice(241, 0),
      "/etc/ascend-docker-runtime.d/base.list": MemoryFileSystem.file("/usr/local/Ascend/driver/lib64\n"),
      "/usr/local/Ascend/driver/lib64/libascend.so": MemoryFileSystem.file("")
    })
    const host = hostFiles(fsm)
    assert.strictEqual(runCdi(["generate", "--output", "/etc/cdi/ascend.com-npu.json"], host), 0)
    const spec = JSON.parse(host.readText("/etc/cdi/ascend.com-npu.json"))
    assert.strictEqual(host.stat("/etc/cdi/ascend.com-npu.json").mode & 0o777, 0o644)
    assert.deepStrictEqual(
      spec.devices.map((d: { name: string }) => d.name),
      ["0", "3", "all"]
    )
    assert.deepStrictEqual(
      spec.containerEdits.mounts.map((m: { hostPath: string }) => m.hostPath),
      ["/usr/local/Ascend/driver/lib64"]
    )
    assert.deepStrictEqual(runCdiList(host), ["ascend.com/npu=0", "ascend.com/npu=3", "ascend.com/npu=all"])
  })

  it("a spec already there that differs is kept as a backup (0600) first; the same one is just rewritten", () => {
    const fsm = MemoryFileSystem.make({
      "/dev/davinci0": MemoryFileSystem.charDevice(240, 0),
      "/etc/ascend-docker-runtime.d/base.list": MemoryFileSystem.file("")
    })
    const host = hostFiles(fsm)
    const spec = "/etc/cdi/ascend.com-npu.json"
    const backups = () => host.namesIn("/etc/cdi").filter((n) => n.includes(".ascend-backup-"))
    assert.strictEqual(runCdi(["generate"], host), 0)
    const made = host.readText(spec)
    assert.strictEqual(runCdi(["generate"], host), 0)
    assert.deepStrictEqual(backups(), [], "the same spec again: nothing to keep")
    const edited = made.replace('"containerEdits"', '"annotations": {"mine": "yes"}, "containerEdits"')
    fsm.writeFileString(spec, edited).pipe(Effect.runSync)
    assert.strictEqual(runCdi(["generate"], host), 0)
    assert.strictEqual(host.readText(spec), made)
    const [backup] = backups()
    assert.isDefined(backup)
    assert.strictEqual(host.readText(`/etc/cdi/${backup}`), edited, "the edited spec, byte for byte")
    assert.strictEqual(host.stat(`/etc/cdi/${backup}`).mode & 0o777, 0o600)
    assert.deepStrictEqual(runCdiList(host), ["ascend.com/npu=0", "ascend.com/npu=all"], "a backup is no spec")
  })
})

const runCdiList = (host: ReturnType<typeof hostFiles>) => listCdiDevices(["/etc/cdi"], host).names

describe("cdi generate --refresh (what the refresh unit runs)", () => {
  const specIn = (dir: string) => path.join(dir, "run-cdi/ascend.com-npu.json")
  const refresh = (dir: string) => generateFor(dir, "--output", specIn(dir), "--refresh")
  const backups = (dir: string) => fs.readdirSync(path.join(dir, "run-cdi")).filter((n) => n.includes("ascend-backup"))

  it("an unchanged host leaves the spec untouched: same inode, same mtime, one line saying so", () => {
    const dir = cdiHost(2)
    assert.strictEqual(refresh(dir).status, 0)
    const before = fs.statSync(specIn(dir))
    const r = refresh(dir)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /^unchanged .*ascend.com-npu.json: cdiVersion 0.5.0, ascend.com\/npu=0,1,all/)
    assert.strictEqual(r.stdout.trim().split("\n").length, 1, "one line per run")
    const after = fs.statSync(specIn(dir))
    assert.strictEqual(after.ino, before.ino)
    assert.strictEqual(after.mtimeMs, before.mtimeMs)
  })

  it("a removed NPU rewrites the spec this tool wrote, with no backup; an edited one is kept first", () => {
    const dir = cdiHost(3)
    assert.strictEqual(refresh(dir).status, 0)
    fs.rmSync(path.join(dir, "dev/davinci1"))
    const r = refresh(dir)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /^wrote .*: cdiVersion 0.5.0, ascend.com\/npu=0,2,all/)
    assert.deepStrictEqual(backups(dir), [], "a stale spec of ours is no admin's file")
    const edited = `${fs.readFileSync(specIn(dir), "utf8")} `
    fs.writeFileSync(specIn(dir), edited)
    fs.rmSync(path.join(dir, "dev/davinci2"))
    const again = refresh(dir)
    assert.match(again.stdout, /ascend.com\/npu=0,all,.*; kept the previous .*, which differs, as \S+ascend-backup-/)
    const [backup] = backups(dir)
    assert.strictEqual(fs.readFileSync(path.join(dir, "run-cdi", backup!), "utf8"), edited)
  })

  it("no NPU left: the spec this tool wrote is removed (an edited one stays); without --refresh it is an error", () => {
    const dir = cdiHost(1)
    assert.strictEqual(refresh(dir).status, 0)
    fs.rmSync(path.join(dir, "dev/davinci0"))
    assert.strictEqual(
      generateFor(dir, "--output", specIn(dir)).status,
      1,
      "plain generate refuses a host without NPUs"
    )
    assert.isTrue(fs.existsSync(specIn(dir)))
    const dry = generateFor(dir, "--output", specIn(dir), "--refresh", "--dry-run")
    assert.match(dry.stdout, /; would remove .*ascend.com-npu.json/)
    assert.isTrue(fs.existsSync(specIn(dir)), "a dry run removes nothing")
    const r = refresh(dir)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /no NPU device nodes .*; removed .*ascend.com-npu.json/)
    assert.deepStrictEqual(fs.readdirSync(path.join(dir, "run-cdi")), [], "spec and digest gone")

    const other = cdiHost(1)
    assert.strictEqual(refresh(other).status, 0)
    fs.appendFileSync(specIn(other), " ")
    fs.rmSync(path.join(other, "dev/davinci0"))
    assert.match(refresh(other).stdout, /kept .*, edited since it was written/)
    assert.isTrue(fs.existsSync(specIn(other)))
  })
})

describe("a CDI spec gone stale: how it differs from what generate writes now", () => {
  it("one line per device, node, mount and env entry that differs, naming which way; none when current", () => {
    const dir = cdiHost(3)
    const out = path.join(dir, "cdi/ascend.com-npu.json")
    assert.strictEqual(generateFor(dir, "--output", out).status, 0)
    const onDisk = JSON.parse(fs.readFileSync(out, "utf8"))
    const now = () => JSON.parse(generateFor(dir, "--dry-run").stdout)
    assert.deepStrictEqual(specDrift(onDisk, now()), [], "a current spec")
    assert.deepStrictEqual(
      specDrift(JSON.parse(JSON.stringify(onDisk, null, 7)), now()),
      [],
      "formatting is no difference"
    )
    fs.rmSync(path.join(dir, "dev/davinci2"))
    fs.rmSync(path.join(dir, "dev/hisi_hdc"))
    execFileSync("mknod", [path.join(dir, "dev/davinci5"), "c", "1", "3"])
    fs.writeFileSync(path.join(dir, "conf/base.list"), `${dir}/driver/lib64\n`)
    assert.deepStrictEqual(specDrift(onDisk, now()), [
      "device ascend.com/npu=2: in the spec, no longer on the host",
      "device ascend.com/npu=5: on the host, not in the spec",
      `shared device /dev/hisi_hdc (host ${dir}/dev/hisi_hdc): in the spec, no longer on the host`,
      `driver mount ${dir}/driver/version.info: in the spec, no longer on the host`
    ])
  })
})
