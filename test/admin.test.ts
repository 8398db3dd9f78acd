import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { formatRunRecord } from "../src/platform/RunLog.ts"
import { BINARY, cleanup, HOOK, type Host, type HostSpec, makeHost, NODE, ROOT, runHook } from "./support/fixtures.ts"

// What an admin sees: `explain` for one bundle, and the optional run log.

const hosts: Array<Host> = []
const host = (spec: HostSpec) => {
  const h = makeHost(spec)
  hosts.push(h)
  return h
}
afterAll(() => {
  for (const h of hosts) cleanup(h.dir)
})

const explain = (h: Host, ...extra: Array<string>) =>
  spawnSync(BINARY, ["explain", "--bundle", h.bundle, "--config-dir", h.configDir, "--cli", h.cli, ...extra], {
    encoding: "utf8",
    env: {}
  })

describe("explain", () => {
  it("says what the hook would do and why, line by line, and runs nothing", () => {
    const h = host({
      env: ["ASCEND_VISIBLE_DEVICES=1,0", "ASCEND_RUNTIME_OPTIONS=NODRV"],
      lists: { base: "# driver\n/usr/lib\n/does/not/exist\n/dev/null\n/usr/lib/\n/etc/hostname\n" }
    })
    const r = explain(h)
    assert.strictEqual(r.status, 0, r.stderr)
    const lines = r.stdout.split("\n")
    assert.include(lines, `bundle ${h.bundle}`)
    assert.include(lines, '  ASCEND_VISIBLE_DEVICES="1,0"')
    assert.include(lines, "  ASCEND_RUNTIME_MOUNTS=(unset)")
    assert.include(lines, "asks for NPUs 0,1; mount lists base; options NODRV")
    assert.include(lines, "  base.list:2 /usr/lib  taken: --mount-dir")
    assert.include(lines, "  base.list:3 /does/not/exist  skipped: does not exist or cannot be inspected")
    assert.include(lines, "  base.list:4 /dev/null  skipped: is a CharacterDevice")
    assert.include(lines, "  base.list:5 /usr/lib  skipped: already taken from an earlier line")
    assert.include(lines, "  base.list:6 /etc/hostname  taken: --mount-file")
    assert.include(
      lines,
      `  ${h.cli} --devices 0,1 --pid <container pid> --rootfs ${h.bundle}/rootfs --mount-file /etc/hostname --mount-dir /usr/lib --options NODRV`
    )
    assert.isFalse(fs.existsSync(h.record), "the CLI was not run")
  })

  it("names conflicting duplicates of an ASCEND_ variable and which one is used (the first), as the run log does", () => {
    const h = host({
      env: [
        "ASCEND_VISIBLE_DEVICES=1",
        "ASCEND_RUNTIME_OPTIONS=NODRV",
        "ASCEND_VISIBLE_DEVICES=0-7",
        "ASCEND_RUNTIME_OPTIONS=NODRV"
      ]
    })
    const r = explain(h)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(
      r.stdout.split("\n"),
      '  note: ASCEND_VISIBLE_DEVICES is set 2 times with different values; the first, "1", is used (as the container\'s own getenv sees it), not "0-7"'
    )
    assert.notInclude(r.stdout, "note: ASCEND_RUNTIME_OPTIONS", "the same value twice is no conflict")
    assert.include(r.stdout, "asks for NPUs 1;")
    const log = path.join(h.dir, "run.log")
    const run = runHook(h, { args: ["--log", log] })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.match(fs.readFileSync(log, "utf8"), / devices=1 .* duplicates=ASCEND_VISIBLE_DEVICES\(first used\) /)
  })

  it("the plain bundle loads the admin commands from their own file and gives the same answer", () => {
    const h = host({ env: ["ASCEND_VISIBLE_DEVICES=3"], lists: { base: "/usr/lib\n" } })
    const args = ["explain", "--bundle", h.bundle, "--config-dir", h.configDir, "--cli", h.cli]
    const viaBundle = spawnSync(NODE, [HOOK, ...args], { encoding: "utf8", env: {} })
    assert.strictEqual(viaBundle.status, 0, viaBundle.stderr)
    assert.strictEqual(viaBundle.stdout, explain(h).stdout)
    assert.match(viaBundle.stdout, /--devices 3 --pid <container pid>/)
  })

  it("a container without NPUs, and one the hook would refuse", () => {
    const none = host({ env: ["PATH=/bin"] })
    const r = explain(none)
    assert.strictEqual(r.status, 0)
    assert.match(r.stdout, /not an NPU container: the hook exits 0 at once/)
    const bad = host({ env: ["ASCEND_VISIBLE_DEVICES=0"], lists: { base: "relative/path\n" } })
    fs.chmodSync(bad.configDir, 0o755)
    const refused = explain(bad)
    assert.strictEqual(refused.status, 1)
    assert.match(
      refused.stdout,
      /the hook would refuse this container: mount list .*base.list:1: "relative\/path" is not an absolute path/
    )
    const usage = spawnSync(BINARY, ["explain"], { encoding: "utf8" })
    assert.strictEqual(usage.status, 1)
    assert.match(usage.stderr, /--bundle DIR is required/)
  })
})

describe("the run log", () => {
  it("one line per run: id, devices, mounts, options, outcome, duration; mode 0640", () => {
    const h = host({
      env: ["ASCEND_VISIBLE_DEVICES=0-1", "ASCEND_RUNTIME_OPTIONS=VIRTUAL"],
      lists: { base: "/usr/lib\n/etc/hostname\n" }
    })
    const log = path.join(h.dir, "log", "hook-run.log")
    for (const build of ["bundle", "binary"] as const) {
      assert.strictEqual(runHook(h, { build, args: ["--log", log] }).status, 0)
    }
    const none = host({ env: [] })
    runHook(none, { args: ["--log", log] })
    const bad = host({ env: ["ASCEND_VISIBLE_DEVICES=x"] })
    assert.strictEqual(runHook(bad, { args: ["--log", log] }).status, 1)
    const lines = fs.readFileSync(log, "utf8").trimEnd().split("\n")
    assert.strictEqual(lines.length, 4)
    for (const line of lines.slice(0, 2)) {
      assert.match(
        line,
        /^\d{4}-\d\d-\d\dT\S+Z id=c1 devices=0,1 mounts=2 options=VIRTUAL outcome=exec duration_ms=\d+\.\d$/
      )
    }
    assert.match(lines[2]!, / id=c1 devices=- mounts=0 options=- outcome=not-npu /)
    assert.match(lines[3]!, / id=c1 devices=- mounts=0 options=- outcome=error:EnvError:BadItem /)
    assert.strictEqual(fs.statSync(log).mode & 0o777, 0o640)
    assert.strictEqual(fs.statSync(path.dirname(log)).mode & 0o777, 0o750)
  })

  it("rotates at 2 MiB, keeping two old logs", () => {
    const h = host({ env: [] })
    const log = path.join(h.dir, "hook-run.log")
    fs.writeFileSync(log, "x".repeat(2 * 1024 * 1024 - 10))
    fs.writeFileSync(`${log}.1`, "one\n")
    fs.writeFileSync(`${log}.2`, "two\n")
    runHook(h, { args: ["--log", log] })
    assert.match(fs.readFileSync(log, "utf8"), /^\S+ id=c1 .*outcome=not-npu/)
    assert.strictEqual(fs.statSync(`${log}.1`).size, 2 * 1024 * 1024 - 10)
    assert.strictEqual(fs.readFileSync(`${log}.2`, "utf8"), "one\n")
  })

  it("hooks appending at once: one rotation, no line lost or torn, .2 kept, a stale lock cleared", async () => {
    // 24 processes wait on one barrier, then each appends 20 lines to a log 200 bytes short of a (small,
    // for the test) limit: exactly one rotation is due. Were two to rotate, the old .1 would be pushed over
    // .2 and lost; were a line split, a line would not match.
    const h = host({ env: [] })
    const log = path.join(h.dir, "race.log")
    const MAX = 64 * 1024
    fs.writeFileSync(log, `${"x".repeat(MAX - 200 - 1)}\n`)
    fs.writeFileSync(`${log}.1`, "OLD-ONE\n")
    fs.writeFileSync(`${log}.2`, "OLD-TWO\n")
    const barrier = path.join(h.dir, "go")
    const worker = (n: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(
          NODE,
          [
            "--input-type=module",
            "-e",
            `const { appendRunLog } = await import(${JSON.stringify(path.join(ROOT, "src/platform/RunLog.ts"))});
             while (!process.getBuiltinModule("node:fs").existsSync(${JSON.stringify(barrier)})) {}
             for (let i = 0; i < 20; i++) { const e = appendRunLog(${JSON.stringify(log)}, "line-${n}-" + i + "-" + "y".repeat(40), ${MAX}); if (e) throw new Error(e) }`
          ],
          { stdio: "inherit" }
        )
        child.on("exit", resolve)
      })
    const done = Array.from({ length: 24 }, (_, n) => worker(n))
    await new Promise((r) => setTimeout(r, 1500))
    fs.writeFileSync(barrier, "")
    assert.deepStrictEqual(await Promise.all(done), Array(24).fill(0))
    const all = [log, `${log}.1`, `${log}.2`].flatMap((f) =>
      fs
        .readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => l !== "")
    )
    const lines = all.filter((l) => l.startsWith("line-"))
    for (const l of lines) assert.match(l, /^line-\d+-\d+-y{40}$/, "no torn line")
    assert.strictEqual(new Set(lines).size, 24 * 20, "every line once")
    assert.strictEqual(lines.length, 24 * 20)
    assert.strictEqual(fs.readFileSync(`${log}.2`, "utf8"), "OLD-ONE\n", "one rotation: the old .1 is now .2")
    assert.isFalse(fs.existsSync(`${log}.lock`))

    // A lock a killed run left behind: the next append past the limit clears it, the one after rotates.
    fs.writeFileSync(`${log}.lock`, "")
    const old = new Date(Date.now() - 60_000)
    fs.utimesSync(`${log}.lock`, old, old)
    fs.writeFileSync(log, `${"x".repeat(2 * 1024 * 1024 - 10)}\n`)
    runHook(h, { args: ["--log", log] })
    assert.isFalse(fs.existsSync(`${log}.lock`), "the stale lock is gone")
    assert.match(
      fs.readFileSync(log, "utf8"),
      /x\n\S+ id=c1 .*outcome=not-npu/,
      "that run's line is kept, in the log it found"
    )
    runHook(h, { args: ["--log", log] })
    assert.match(fs.readFileSync(log, "utf8"), /^\S+ id=c1 .*outcome=not-npu/, "the next run rotates")
  }, 60_000)

  it("a log that cannot be written never fails the container", () => {
    const h = host({ env: ["ASCEND_VISIBLE_DEVICES=0"] })
    const run = runHook(h, { args: ["--log", "/proc/no/such/log"] })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.isDefined(run.cli)
  })

  it("values from the runtime are quoted, so one run is one line", () => {
    const line = formatRunRecord({ id: "evil\nid=x", outcome: "exec", durationMs: 1 }, new Date(0))
    assert.strictEqual(
      line,
      '1970-01-01T00:00:00.000Z id="evil\\nid=x" devices=- mounts=0 options=- outcome=exec duration_ms=1.0'
    )
  })
})
