import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { appendRunLog, writeWholeLine } from "../src/platform/RunLog.ts"
import {
  differences,
  type Fixture,
  type Outcome,
  type Point,
  type Scenario,
  snapshot,
  sweep
} from "./support/faults.ts"
import { BINARY, cleanup, HOOK, inCI, NODE, recordingCli, scratch } from "./support/fixtures.ts"

// The writers under faults, from outside: the built binary run under strace's fault injection (EIO and
// SIGKILL at each write-type call of its own process), full and read-only file systems (tmpfs mounts in a
// private mount namespace), and two installs at once. In `npm test` every point of docker's install and
// uninstall, of the wrapper's create in cdi mode and of the hook with --log is swept, and every fifth
// point of containerd, crio and the wrapper's hook mode; FAULTS_FULL=1 (npm run faults) sweeps them all.

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
const missing = ["strace", "unshare", "mount"].filter((c) => !which(c))
const isRoot = process.getuid?.() === 0
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))
if (BUSYBOX === undefined) missing.push("busybox")
const canRun = missing.length === 0 && isRoot
if (!canRun) {
  const why = isRoot ? `missing ${missing.join(", ")}` : "not root"
  if (inCI) throw new Error(`fault injection tests cannot run in CI: ${why} (.ci/run installs strace busybox-static)`)
  console.warn(`SKIPPING fault injection tests outside CI: ${why}`)
}
const FULL = process.env.FAULTS_FULL === "1"
const WRAPPER = path.join(path.dirname(BINARY), "ascend-docker-runtime")

// Install's trees live on /dev/shm (tmpfs: syncing the 112 MB binary there costs nothing); the hook's
// and the wrapper's need the trusted base (their file-trust checks), on disk.
// (A container's /dev/shm is often 64 MB: then the disk, slower.)
const roomy = (dir: string) => {
  try {
    const s = fs.statfsSync(dir)
    return s.type === 0x01021994 && s.bavail * s.bsize > 2 ** 31
  } catch {
    return false
  }
}
const shm = roomy("/dev/shm") ? "/dev/shm" : undefined
let work = ""
const made: Array<string> = []
beforeAll(() => {
  if (!canRun) return
  work = scratch()
  made.push(work)
})
afterAll(() => {
  for (const d of made) cleanup(d)
})
const tempRoot = (onDisk = false) => {
  const dir = fs.mkdtempSync(path.join(onDisk || shm === undefined ? work : shm, "adh-fault-"))
  fs.chmodSync(dir, 0o755)
  if (!onDisk) made.push(dir)
  return dir
}
const rm = (f: Fixture) => fs.rmSync(f.root, { recursive: true, force: true })

const DAEMON_JSON = '{\n  "log-driver": "json-file",\n  "registry-mirrors": ["https://mirror.example"]\n}\n'
const CONFIG_TOML =
  'version = 2\nroot = "/var/lib/containerd"\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause"\n'
const CRIO_CONF = '[crio.runtime]\ndefault_runtime = "runc"\n'

/** A host root with each engine's config (owners and modes of an admin's), as install finds it. */
const engineRoot = (): string => {
  const root = tempRoot()
  const put = (p: string, text: string, mode: number) => {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true, mode: 0o755 })
    fs.writeFileSync(path.join(root, p), text, { mode })
    fs.chmodSync(path.join(root, p), mode)
  }
  put("/etc/docker/daemon.json", DAEMON_JSON, 0o600)
  fs.chownSync(path.join(root, "etc/docker/daemon.json"), 0, 4)
  put("/etc/containerd/config.toml", CONFIG_TOML, 0o640)
  put("/etc/crio/crio.conf", CRIO_CONF, 0o644)
  return root
}

type Engine = "docker" | "containerd" | "crio"
const installArgs = (engine: Engine, root: string) => [
  BINARY,
  "install",
  "--runtime",
  engine,
  "--cli-protocol",
  "2021",
  "--root",
  root
]

const installScenario = (engine: Engine): Scenario => ({
  name: `install ${engine}`,
  make: () => {
    const root = engineRoot()
    return { root, argv: installArgs(engine, root), env: {} }
  },
  clean: rm
})

/** Uninstall runs on a copy of a root install was run on once. */
const uninstallScenario = (engine: Engine): Scenario => {
  let template: string | undefined
  return {
    name: `uninstall ${engine}`,
    make: () => {
      if (template === undefined) {
        template = engineRoot()
        execFileSync(BINARY, installArgs(engine, template).slice(1))
      }
      const root = tempRoot()
      fs.rmdirSync(root)
      execFileSync("cp", ["-a", template, root])
      return { root, argv: [BINARY, "uninstall", "--runtime", engine, "--root", root], env: {} }
    },
    clean: rm
  }
}

/** Device nodes, mount lists, a bundle: what the wrapper's create and the hook read. */
const npuHost = (name: string) => {
  // At the same path every time: the hook's path and arguments in config.json carry it.
  const dir = path.join(work, name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { mode: 0o755 })
  const dev = path.join(dir, "dev")
  fs.mkdirSync(dev, { mode: 0o755 })
  for (const [name, major, minor] of [
    ["davinci0", 240, 0],
    ["davinci_manager", 241, 0],
    ["devmm_svm", 242, 0],
    ["hisi_hdc", 243, 0]
  ] as const)
    execFileSync("mknod", ["-m", "0660", path.join(dev, name), "c", String(major), String(minor)])
  const conf = path.join(dir, "conf")
  fs.mkdirSync(conf, { mode: 0o755 })
  fs.writeFileSync(path.join(conf, "base.list"), "/usr/lib\n/etc/hostname\n", { mode: 0o644 })
  const bundle = path.join(dir, "bundle")
  fs.mkdirSync(path.join(bundle, "rootfs"), { recursive: true, mode: 0o755 })
  const config = {
    ociVersion: "1.0.2",
    process: { env: ["PATH=/usr/bin", "ASCEND_VISIBLE_DEVICES=0"], args: ["sh"] },
    root: { path: "rootfs" },
    mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
    linux: { namespaces: [{ type: "mount" }] }
  }
  fs.writeFileSync(path.join(bundle, "config.json"), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o640 })
  // runc, for the wrapper to exec after its edit: busybox's true (static, so no loader calls of its own).
  fs.symlinkSync(BUSYBOX!, path.join(dir, "true"))
  return { dir, dev, conf, bundle }
}

const createScenario = (mode: "hook" | "cdi"): Scenario => ({
  name: `wrapper create, ${mode} mode`,
  make: () => {
    const h = npuHost(`create-${mode}`)
    return {
      root: h.bundle,
      argv: [WRAPPER, "create", "--bundle", h.bundle, "c1"],
      env: {
        ASCEND_DOCKER_RUNTIME_RUNC: path.join(h.dir, "true"),
        ASCEND_DOCKER_RUNTIME_MODE: mode,
        ASCEND_DOCKER_RUNTIME_DEV_ROOT: h.dev,
        ASCEND_DOCKER_RUNTIME_CONFIG_DIR: h.conf,
        ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL: "2021"
      }
    }
  },
  clean: (f) => fs.rmSync(path.dirname(f.root), { recursive: true, force: true })
})

/** A run-log line as formatRunRecord makes it, whole. */
const WHOLE_LINE =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z id=\S+ devices=\S+ mounts=\d+ options=\S+ outcome=\S+( duplicates=\S+)? duration_ms=\d+\.\d$/
/** Why the log is not whole lines, or undefined. */
const logProblem = (log: string, atLeast: number): string | undefined => {
  if (!fs.existsSync(log)) return atLeast === 0 ? undefined : "no run log"
  const text = fs.readFileSync(log, "utf8")
  if (text !== "" && !text.endsWith("\n")) return `the log ends in a part line: ${JSON.stringify(text.slice(-120))}`
  const lines = text.split("\n").slice(0, -1)
  const bad = lines.find((l) => !WHOLE_LINE.test(l))
  if (bad !== undefined) return `a torn or glued line: ${JSON.stringify(bad)}`
  return lines.length < atLeast ? `${lines.length} lines, expected at least ${atLeast}` : undefined
}

const hookScenario = (): Scenario => ({
  name: "hook --log",
  make: () => {
    const h = npuHost("hook-log")
    const logs = path.join(h.dir, "logs")
    fs.mkdirSync(logs, { mode: 0o750 })
    const log = path.join(logs, "hook.log")
    fs.writeFileSync(
      log,
      "2026-01-01T00:00:00.000Z id=c0 devices=0 mounts=2 options=- outcome=exec duration_ms=9.0\n",
      {
        mode: 0o640
      }
    )
    const state = JSON.stringify({ ociVersion: "1.0.2", id: "c1", status: "creating", pid: 4242, bundle: h.bundle })
    return {
      root: logs,
      argv: [BINARY, "--config-dir", h.conf, "--cli", recordingCli(), "--log", log],
      env: { ADH_RECORD: "/dev/null", PATH: "/usr/bin:/bin" },
      input: state,
      cwd: h.bundle,
      ignore: (rel) => rel === "hook.log",
      check: () => logProblem(log, 1)
    }
  },
  clean: (f) => fs.rmSync(path.dirname(f.root), { recursive: true, force: true })
})

const report = (o: Outcome) => {
  console.log(`faults: ${o.scenario}: ${o.injected} points injected, ${o.held} held`)
  assert.deepStrictEqual(o.failures, [], o.scenario)
  assert.isAbove(o.injected, 0, "points were injected")
}
/** FAULTS_ONLY=rename,fsync: only those syscalls' points (to look at one kind of fault). */
const ONLY = process.env.FAULTS_ONLY?.split(",")
const every = (p: Point) => ONLY === undefined || ONLY.includes(p.syscall)
/** Every fifth point, for the scenarios CI samples. */
const sample = (p: Point, i: number) => every(p) && (FULL || ONLY !== undefined || i % 5 === 0)

describe.runIf(canRun)("under injected faults (strace)", () => {
  const SLOW = 1_800_000
  for (const engine of ["docker", "containerd", "crio"] as const) {
    const which = engine === "docker" || FULL ? "every point" : "every fifth point"
    it(`install ${engine}: ${which}, EIO and SIGKILL`, { timeout: SLOW }, () => {
      report(sweep(installScenario(engine), work, engine === "docker" ? every : sample))
    })
    it(`uninstall ${engine}: ${which}, EIO and SIGKILL`, { timeout: SLOW }, () => {
      report(sweep(uninstallScenario(engine), work, engine === "docker" ? every : sample))
    })
  }
  for (const mode of ["cdi", "hook"] as const) {
    it(`wrapper create, ${mode} mode`, { timeout: SLOW }, () => {
      report(sweep(createScenario(mode), work, mode === "cdi" ? every : sample))
    })
  }
  it("the hook with --log", { timeout: SLOW }, () => {
    report(sweep(hookScenario(), work, every))
  })
})

/** Runs `script` (sh) in a mount namespace of its own, where its tmpfs mounts are seen by nothing else. */
const privately = (script: string, env: Record<string, string>) => {
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], {
    encoding: "utf8",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
    timeout: 120_000
  })
  assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`)
  return r.stdout
}

describe.runIf(canRun)("full and read-only file systems (tmpfs in a private mount namespace)", () => {
  /** install (or uninstall) of docker on a copy of a fresh root inside a tmpfs made by `prepare`. */
  const onTmpfs = (mode: "install" | "uninstall", prepare: string, size = "512m") => {
    const fixture = engineRoot()
    if (mode === "uninstall") execFileSync(BINARY, installArgs("docker", fixture).slice(1))
    const before = snapshot(fixture)
    const out = tempRoot(true)
    const mnt = path.join(out, "mnt")
    fs.mkdirSync(mnt)
    fs.mkdirSync(path.join(out, "tree"))
    const args =
      mode === "install" ? installArgs("docker", mnt).slice(1).join(" ") : `uninstall --runtime docker --root ${mnt}`
    privately(
      `set -e; mount -t tmpfs -o size=${size},mode=0755 tmpfs "$MNT"; cp -a "$FIXTURE/." "$MNT/"; ${prepare}
       set +e; "$BINARY" ${args} >"$OUT/stdout" 2>"$OUT/stderr"; echo $? >"$OUT/status"; set -e
       cp -a "$MNT/." "$OUT/tree/"`,
      { MNT: mnt, FIXTURE: fixture, OUT: out, BINARY }
    )
    const stderr = fs.readFileSync(path.join(out, "stderr"), "utf8")
    return {
      status: Number(fs.readFileSync(path.join(out, "status"), "utf8")),
      stderr,
      lines: stderr.split("\n").filter((l) => l !== ""),
      // The tree as it was before, byte for byte with modes and owners: nothing written, nothing made, nothing left.
      changed: differences(snapshot(path.join(out, "tree")), before),
      mnt
    }
  }

  it("no space left (install: the 112 MB binary does not fit): one line naming ENOSPC and the path; nothing changed or left", () => {
    const r = onTmpfs("install", "", "16m")
    assert.strictEqual(r.status, 1, r.stderr)
    assert.strictEqual(r.lines.length, 1, r.stderr)
    assert.match(r.stderr, /no space left on device \(ENOSPC\)/)
    assert.include(r.stderr, `${r.mnt}/usr/local/bin/`)
    assert.deepStrictEqual(r.changed, [])
  })

  it("a read-only root: install and uninstall say EROFS and the path in one line; nothing changed", () => {
    for (const mode of ["install", "uninstall"] as const) {
      const r = onTmpfs(mode, 'mount -o remount,ro "$MNT"')
      assert.strictEqual(r.status, 1, r.stderr)
      assert.strictEqual(r.lines.length, 1, r.stderr)
      assert.match(r.stderr, /read-only file system \(EROFS\)/)
      assert.include(r.stderr, r.mnt)
      assert.deepStrictEqual(r.changed, [])
    }
  })

  it("a read-only /etc/docker: the directories install made for the binary are gone again, the line names EROFS", () => {
    const r = onTmpfs(
      "install",
      'mount --bind "$MNT/etc/docker" "$MNT/etc/docker"; mount -o remount,bind,ro "$MNT/etc/docker"'
    )
    assert.strictEqual(r.status, 1, r.stderr)
    assert.strictEqual(r.lines.length, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`${r.mnt}/etc/docker/.*read-only file system \\(EROFS\\)`))
    assert.deepStrictEqual(r.changed, [])
  })

  it("the run log on a nearly full disk: no torn or glued line, and the container still starts", () => {
    const h = npuHost("full-log")
    const mnt = path.join(h.dir, "logs")
    fs.mkdirSync(mnt, { mode: 0o750 })
    const record = path.join(h.dir, "record.json")
    // Whole lines filling a page but for 40 bytes: the hook's line (~110 bytes) fits only in part.
    const line = "2026-01-01T00:00:00.000Z id=c0 devices=0 mounts=2 options=- outcome=exec duration_ms=9.0\n"
    const whole = line.repeat(Math.floor((4096 - 40) / line.length) - 1)
    const padding = 4096 - 40 - whole.length - line.length
    const prefill = `${whole}${line.replace("id=c0", `id=c${"0".repeat(padding + 1)}`)}`
    assert.strictEqual(prefill.length, 4096 - 40)
    fs.writeFileSync(path.join(h.dir, "prefill"), prefill)
    const state = JSON.stringify({ ociVersion: "1.0.2", id: "c1", status: "creating", pid: 4242, bundle: h.bundle })
    fs.writeFileSync(path.join(h.dir, "state.json"), state)
    const hook = `cd "$BUNDLE" && ADH_RECORD="$RECORD" "$BINARY" --config-dir "$CONF" --cli "$CLI" --log "$MNT/hook.log" <"$DIR/state.json"`
    const out = privately(
      `set -e; mount -t tmpfs -o size=64k,mode=0750 tmpfs "$MNT"; cp "$DIR/prefill" "$MNT/hook.log"
       dd if=/dev/zero of="$MNT/filler" bs=4096 2>/dev/null || true
       for i in 1 2; do rm -f "$RECORD"; set +e; ${hook}; echo "status $? $(test -s "$RECORD" && echo started)"; set -e; done
       cp "$MNT/hook.log" "$DIR/full.log"; rm "$MNT/filler"
       ${hook}; echo "status $? $(test -s "$RECORD" && echo started)"; cp "$MNT/hook.log" "$DIR/freed.log"`,
      { MNT: mnt, DIR: h.dir, BUNDLE: h.bundle, RECORD: record, BINARY, CONF: h.conf, CLI: recordingCli() }
    )
    assert.deepStrictEqual(out.trim().split("\n"), ["status 0 started", "status 0 started", "status 0 started"])
    assert.strictEqual(fs.readFileSync(path.join(h.dir, "full.log"), "utf8"), prefill, "the part line was cut back off")
    const freed = fs.readFileSync(path.join(h.dir, "freed.log"), "utf8")
    assert.isTrue(freed.startsWith(prefill))
    assert.match(
      freed.slice(prefill.length),
      /^\S+Z id=c1 devices=0 mounts=\d+ options=- outcome=exec duration_ms=[\d.]+\n$/
    )
  })
})

describe.runIf(canRun)("two installs at once", () => {
  it("20 rounds: each ends installed, both succeed (the second waits for the first), once's bytes", {
    timeout: 600_000
  }, async () => {
    const reference = engineRoot()
    execFileSync(BINARY, installArgs("docker", reference).slice(1))
    const want = snapshot(reference)
    const outcomes: Array<string> = []
    for (let round = 0; round < 20; round++) {
      const root = engineRoot()
      const one = () =>
        new Promise<string>((resolve) => {
          const child = spawn(BINARY, installArgs("docker", root).slice(1), { stdio: ["ignore", "ignore", "pipe"] })
          let err = ""
          child.stderr.on("data", (d) => {
            err += d
          })
          child.on("close", (code) => resolve(`${code}${err === "" ? "" : ` ${err.trim()}`}`))
        })
      const [a, b] = await Promise.all([one(), one()])
      outcomes.push(`${a} / ${b}`)
      assert.deepStrictEqual([a, b], ["0", "0"], `round ${round}`)
      assert.deepStrictEqual(differences(snapshot(root), want), [], `round ${round}`)
      fs.rmSync(root, { recursive: true, force: true })
    }
    console.log(
      `faults: two installs at once: ${outcomes.length} rounds, ${outcomes.filter((o) => o === "0 / 0").length} both installed`
    )
  })
})

describe.runIf(canRun)("the lock without flock (the Node bundle: a pid file)", () => {
  const bundleInstall = (root: string) => [NODE, HOOK, ...installArgs("docker", root).slice(1)]

  it("a lock file its dead holder left is taken over at once; the bundle and the binary at once both install", {
    timeout: 300_000
  }, async () => {
    const reference = engineRoot()
    execFileSync(BINARY, installArgs("docker", reference).slice(1))
    const want = snapshot(reference)
    // A pid-file lock whose holder is gone (pid 2^22 is above pid_max's default): no wait of LOCK_WAIT_MS.
    const stale = engineRoot()
    fs.writeFileSync(path.join(stale, ".ascend-docker-hook.lock"), "pidfile 4194304 -\n", { mode: 0o600 })
    const [node, ...args] = bundleInstall(stale)
    const started = Date.now()
    const r = spawnSync(node!, args, { encoding: "utf8" })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.isBelow(Date.now() - started, 20_000, "did not wait out the lock")
    assert.deepStrictEqual(differences(snapshot(stale), want), [])
    for (let round = 0; round < 5; round++) {
      const root = engineRoot()
      const one = (argv: ReadonlyArray<string>) =>
        new Promise<string>((resolve) => {
          const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] })
          let err = ""
          child.stderr.on("data", (d) => {
            err += d
          })
          child.on("close", (code) => resolve(`${code}${err === "" ? "" : ` ${err.trim()}`}`))
        })
      const both = await Promise.all([one(bundleInstall(root)), one([BINARY, ...installArgs("docker", root).slice(1)])])
      assert.deepStrictEqual(both, ["0", "0"], `round ${round}`)
      assert.deepStrictEqual(differences(snapshot(root), want), [], `round ${round}`)
    }
  })
})

describe("the run log's whole lines (in process)", () => {
  const dir = () => {
    const d = fs.mkdtempSync(path.join(work === "" ? "/tmp" : work, "runlog-"))
    made.push(d)
    return d
  }

  it("a log that ends in a part line (a run killed mid-write): the next line starts on a line of its own", () => {
    const log = path.join(dir(), "hook.log")
    fs.writeFileSync(log, "whole\npart", { mode: 0o640 })
    assert.isUndefined(appendRunLog(log, "next"))
    assert.strictEqual(fs.readFileSync(log, "utf8"), "whole\npart\nnext\n")
  })

  it("a short write then ENOSPC: the part written is cut back off, the log as it was", () => {
    const log = path.join(dir(), "hook.log")
    fs.writeFileSync(log, "whole\n")
    const fd = fs.openSync(log, "r+")
    let calls = 0
    const full = new Proxy(fs, {
      get: (target, key) =>
        key === "writeSync"
          ? (f: number, b: Buffer, off: number, len: number) => {
              if (++calls > 1)
                throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
              return fs.writeSync(f, b, off, Math.min(len, 3), fs.fstatSync(f).size)
            }
          : Reflect.get(target, key)
    })
    assert.throws(() => writeWholeLine(full, fd, "a line that does not fit"), /ENOSPC/)
    fs.closeSync(fd)
    assert.strictEqual(fs.readFileSync(log, "utf8"), "whole\n")
  })
})
