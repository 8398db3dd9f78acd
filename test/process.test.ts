import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import {
  BINARY,
  cleanup,
  type Host,
  type HostSpec,
  inCI,
  makeHost,
  NODE,
  processBuilds,
  ROOT,
  recordingCli,
  relocatedBuild,
  runHook as runAny
} from "./support/fixtures.ts"
import { canMakePrivateHost, privateHost } from "./support/privateHost.ts"

// The built bundle, run as a process with the state on stdin and a compiled CLI stand-in that records
// its exact argv. Each SPEC.md "Where we differ" row is named in its test.

const hosts: Array<Host> = []
const host = (spec: HostSpec = {}) => {
  const h = makeHost(spec)
  hosts.push(h)
  return h
}
afterAll(() => {
  for (const h of hosts) cleanup(h.dir)
})

const npu = (...env: Array<string>) => ["PATH=/usr/bin", ...env]

for (const build of processBuilds()) {
  const runHook: typeof runAny = (h, options = {}) => runAny(h, { build, ...options })

  /** Runs and expects the CLI to have been exec'd; returns its argv without argv[0]. */
  const argvOf = (h: Host, options: Parameters<typeof runHook>[1] = {}) => {
    const run = runHook(h, options)
    assert.strictEqual(run.stderr, "")
    assert.strictEqual(run.status, 0)
    assert.isDefined(run.cli, "the CLI ran")
    assert.strictEqual(run.cli!.argv[0], h.cli)
    return run.cli!.argv.slice(1)
  }

  /** Runs and expects one error line, exit 1, and no CLI. */
  const refused = (h: Host, pattern: RegExp, options: Parameters<typeof runHook>[1] = {}) => {
    const run = runHook(h, options)
    assert.strictEqual(run.status, 1, run.stderr)
    assert.isUndefined(run.cli, "the CLI must not run")
    assert.strictEqual(run.stdout, "")
    assert.match(run.stderr, /^ascend-docker-hook: [^\n]+\n$/)
    assert.match(run.stderr, pattern)
    assert.isAtMost(Buffer.byteLength(run.stderr), 1024)
    return run.stderr
  }

  describe(`the hook as a process (${build})`, () => {
    it("execs the CLI with the seed's argv, byte for byte", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0,1,3"), lists: { base: "/usr/lib\n/etc/hostname\n" } })
      assert.deepStrictEqual(argvOf(h), [
        "--devices",
        "0,1,3",
        "--pid",
        "4242",
        "--rootfs",
        `${h.bundle}/rootfs`,
        "--mount-file",
        "/etc/hostname",
        "--mount-dir",
        "/usr/lib"
      ])
    })

    it("SPEC row 3,1,2: sorts the devices", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=3,1,2") })
      assert.deepStrictEqual(argvOf(h).slice(0, 2), ["--devices", "1,2,3"])
    })

    it("SPEC row 1,2,1: drops every duplicate, not only adjacent ones", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=1,2,1") })
      assert.deepStrictEqual(argvOf(h).slice(0, 2), ["--devices", "1,2"])
    })

    it("takes ranges, spaces and device names", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES= 4 - 6 ,Ascend910-0, npu-9,Ascend310P-2") })
      assert.deepStrictEqual(argvOf(h).slice(0, 2), ["--devices", "0,2,4,5,6,9"])
    })

    for (const [value, why] of [
      ["+1", /"\+1" is not a device id/],
      ["9223372036854775807", /out of range 0-1023/],
      ["0-50000000", /out of range 0-1023/],
      ["3-1", /left border above/],
      ["1-2-3", /not a range/],
      ["a", /"a" is not a device id/],
      ["2048", /out of range/],
      ["1,,2", /item "" is empty/]
    ] as const) {
      it(`SPEC row ${value}: refused at once, naming the item`, () => {
        const h = host({ env: npu(`ASCEND_VISIBLE_DEVICES=${value}`) })
        refused(h, why)
      })
    }

    it("no ASCEND_VISIBLE_DEVICES, or a blank one: exit 0, nothing run", () => {
      for (const env of [npu(), npu("ASCEND_VISIBLE_DEVICES="), npu("ASCEND_VISIBLE_DEVICES=  ")]) {
        const h = host({ env, lists: {} })
        const run = runHook(h)
        assert.strictEqual(run.status, 0)
        assert.strictEqual(run.stderr, "")
        assert.isUndefined(run.cli)
      }
    })

    it("not an NPU container: reads no mount list (a missing config dir is no error)", () => {
      const h = host({ env: npu(), lists: {} })
      fs.rmSync(h.configDir, { recursive: true })
      const run = runHook(h)
      assert.strictEqual(run.status, 0)
      assert.isUndefined(run.cli)
    })

    it("SPEC row ASCEND_RUNTIME_MOUNTS=../../tmp/evil: refused as a bad name", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_MOUNTS=../../tmp/evil") })
      refused(h, /ASCEND_RUNTIME_MOUNTS: item "..\/..\/tmp\/evil" is not a mount-list name/)
    })

    it("SPEC row blank line in a .list: skipped, never the cwd", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), lists: { base: "\n   \n/usr/lib\n\n# a comment\n" } })
      assert.deepStrictEqual(argvOf(h).slice(6), ["--mount-dir", "/usr/lib"])
    })

    it("SPEC row relative line in a .list: refused, naming file and line", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), lists: { base: "/usr/lib\n\nusr/lib\n" } })
      refused(h, new RegExp(`mount list ${h.configDir}/base.list:3: "usr/lib" is not an absolute path`))
    })

    it("SPEC row env entry FOO without '=': skipped, no crash", () => {
      const h = host({ env: ["FOO", "ASCEND_VISIBLE_DEVICES=2", "BAR"] })
      assert.deepStrictEqual(argvOf(h).slice(0, 2), ["--devices", "2"])
    })

    it("the first occurrence of a key wins", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=5", "ASCEND_VISIBLE_DEVICES=6") })
      assert.deepStrictEqual(argvOf(h).slice(0, 2), ["--devices", "5"])
    })

    it("SPEC row options VIRTUAL,NODRV and NODRV,NODRV: canonical order, deduplicated", () => {
      const a = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_OPTIONS=VIRTUAL, NODRV") })
      assert.deepStrictEqual(argvOf(a).slice(-2), ["--options", "NODRV,VIRTUAL"])
      const b = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_OPTIONS=NODRV,NODRV") })
      assert.deepStrictEqual(argvOf(b).slice(-2), ["--options", "NODRV"])
      const c = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_OPTIONS=nodrv") })
      refused(c, /ASCEND_RUNTIME_OPTIONS: item "nodrv" is not a runtime option/)
    })

    it("SPEC row malformed stdin: the cause is in the message", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      refused(
        h,
        /container state from stdin: invalid JSON: at line 1 column 11: unexpected end of input, expected a string key$/m,
        {
          stdin: '{"pid": 1,'
        }
      )
      refused(h, /expected a JSON object, got an array/, { stdin: "[1]" })
      refused(h, /invalid JSON/, { stdin: `${h.state} {}` })
      refused(h, /invalid JSON/, { stdin: "" })
    })

    it("SPEC rows state without bundle / without pid: refused", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      refused(h, /Missing key; at \["bundle"\]/, { stdin: JSON.stringify({ pid: 5 }) })
      refused(h, /Missing key; at \["pid"\]/, { stdin: JSON.stringify({ bundle: h.bundle }) })
      refused(h, /pid/, { stdin: JSON.stringify({ pid: 0, bundle: h.bundle }) })
      refused(h, /bundle is not an absolute path/, { stdin: JSON.stringify({ pid: 5, bundle: "bundle" }) })
    })

    it("accepts crun's state (status created, an extra root key) and annotations", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=1") })
      const stdin = `\n  ${JSON.stringify({ ociVersion: "1.0.0", id: "c", status: "created", pid: 77, bundle: h.bundle, root: "rootfs", annotations: { a: "b" } })}\n\n`
      assert.deepStrictEqual(argvOf(h, { stdin }).slice(2, 4), ["--pid", "77"])
    })

    it("rootfs: relative root.path joined to the bundle and cleaned; absolute taken as written; / refused", () => {
      const rel = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), rootPath: "./x/../rootfs/" })
      assert.deepStrictEqual(argvOf(rel).slice(4, 6), ["--rootfs", `${rel.bundle}/rootfs`])
      const abs = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), rootPath: "/var/lib/c1/rootfs/" })
      assert.deepStrictEqual(argvOf(abs).slice(4, 6), ["--rootfs", "/var/lib/c1/rootfs/"])
      const root = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), rootPath: "/" })
      refused(root, /rootfs "\/" is the host's \//)
      const up = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), rootPath: "../../../../../../.." })
      refused(up, /is the host's \//)
    })

    it("config.json without process or root is refused", () => {
      refused(host({ config: { root: { path: "rootfs" } } }), /Missing key; at \["process"\]/)
      refused(host({ config: { process: { env: [] } } }), /Missing key; at \["root"\]/)
      refused(host({ config: "{not json" }), /OCI config .*config.json: invalid JSON/)
    })

    it("mount lists: files and sockets as --mount-file, dirs as --mount-dir, the rest skipped, each path once", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_MOUNTS=BASE, extra ,base") })
      const sock = path.join(h.dir, "s.sock")
      const server = net.createServer().listen(sock)
      try {
        fs.symlinkSync("/etc/hostname", path.join(h.dir, "link-to-hostname"))
        fs.writeFileSync(
          path.join(h.configDir, "base.list"),
          ["/usr/lib/", "/etc//hostname", "/dev/null", "/does/not/exist", sock, `${h.dir}/link-to-hostname`].join("\n")
        )
        fs.writeFileSync(path.join(h.configDir, "extra.list"), "/usr/lib\n/usr/./share\n/etc/hostname\r\n")
        for (let i = 0; i < 50 && !fs.existsSync(sock); i++)
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
        assert.deepStrictEqual(argvOf(h).slice(6), [
          "--mount-file",
          "/etc/hostname",
          "--mount-file",
          sock,
          "--mount-file",
          `${h.dir}/link-to-hostname`,
          "--mount-dir",
          "/usr/lib",
          "--mount-dir",
          "/usr/share"
        ])
      } finally {
        server.close()
      }
    })

    it("a missing mount list is an error naming it", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_MOUNTS=base,nope") })
      refused(h, /nope\.list: does not exist/)
    })

    it("the CLI gets the hook's own environment, never the container's", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "LEAK=from-the-image", "LD_PRELOAD=/evil.so") })
      const run = runHook(h, { env: { HOOK_ONLY: "yes" } })
      assert.strictEqual(run.status, 0, run.stderr)
      assert.deepStrictEqual([...run.cli!.env].sort(), [`ADH_RECORD=${h.record}`, "HOOK_ONLY=yes"])
    })

    it("the CLI inherits blocking stdin, stdout and stderr (no O_NONBLOCK left behind)", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const run = runHook(h)
      assert.strictEqual(run.status, 0, run.stderr)
      assert.deepStrictEqual(run.cli!.nonblock, [0, 0, 0])
    })

    it("the hook's exit status is the CLI's (the process was replaced)", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const run = runHook(h, { env: { ADH_EXIT: "7" } })
      assert.strictEqual(run.status, 7)
      assert.isDefined(run.cli)
    })

    it("without process.execve it spawns the CLI, waits, and exits with its status", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0,1") })
      const preload = path.join(h.dir, "no-execve.cjs")
      fs.writeFileSync(preload, "delete process.execve\n")
      const run = runHook(h, { env: { ADH_EXIT: "3", NODE_OPTIONS: `--require ${preload}` } })
      assert.strictEqual(run.status, 3, run.stderr)
      assert.deepStrictEqual(run.cli!.argv.slice(0, 3), [h.cli, "--devices", "0,1"])
      assert.deepStrictEqual(run.cli!.nonblock, [0, 0, 0])
    })

    it("--dry-run prints the argv as JSON and runs nothing", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0-1"), lists: { base: "/usr/lib\n" } })
      const run = runHook(h, { args: ["--dry-run"] })
      assert.strictEqual(run.status, 0, run.stderr)
      assert.isUndefined(run.cli)
      assert.deepStrictEqual(JSON.parse(run.stdout), [
        h.cli,
        "--devices",
        "0,1",
        "--pid",
        "4242",
        "--rootfs",
        `${h.bundle}/rootfs`,
        "--mount-dir",
        "/usr/lib"
      ])
      const none = host({ env: npu() })
      assert.strictEqual(runHook(none, { args: ["--dry-run"] }).stdout, "null\n")
    })

    it("--state reads the state from a file", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const file = path.join(h.dir, "state.json")
      fs.writeFileSync(file, h.state)
      assert.deepStrictEqual(argvOf(h, { args: ["--state", file], stdin: "" }).slice(0, 2), ["--devices", "0"])
    })

    it("--help, --version and a bad flag", () => {
      const h = host()
      const help = runHook(h, { args: ["--help"] })
      assert.strictEqual(help.status, 0)
      assert.match(help.stdout, /^usage: ascend-docker-hook/)
      const version = runHook(h, { args: ["--version"] })
      assert.match(version.stdout, /^ascend-docker-hook \d+\.\d+\.\d+\n$/)
      refused(h, /unknown argument "--nope"/, { args: ["--nope"] })
      refused(h, /--cli needs a value/, { args: ["--cli"], cliArgs: false })
    })

    it("with no flags: the seed's defaults (/etc/ascend-docker-runtime.d, the CLI next to the hook)", async () => {
      // In a private view of the host (its /etc an overlay) and with the program copied to a dir of its
      // own, so the outcome never depends on what this machine has at those paths.
      const why = canMakePrivateHost()
      if (why !== undefined) {
        if (inCI) throw new Error(`the defaults test cannot run in CI: ${why}`)
        console.warn(`skipping the defaults test (${why})`)
        return
      }
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const view = await privateHost(path.join(h.dir, "view"))
      try {
        const command = relocatedBuild(build, path.join(h.dir, "prog"))
        const hook = (args: ReadonlyArray<string>) =>
          view.run([...command, ...args], { cwd: h.bundle, input: h.state, env: {}, encoding: "utf8" })
        view.run(["rm", "-rf", "/etc/ascend-docker-runtime.d"])
        const none = hook(["--dry-run"])
        assert.strictEqual(none.status, 1)
        assert.match(
          String(none.stderr),
          /^ascend-docker-hook: .*config dir \/etc\/ascend-docker-runtime\.d: does not exist\n$/
        )
        view.run([
          "sh",
          "-c",
          "mkdir -m 0755 /etc/ascend-docker-runtime.d && : > /etc/ascend-docker-runtime.d/base.list"
        ])
        const noCli = hook([])
        assert.strictEqual(noCli.status, 1)
        assert.include(
          String(noCli.stderr),
          `untrusted CLI ${path.join(h.dir, "prog", "ascend-docker-cli")}: does not exist`
        )
        assert.isFalse(fs.existsSync(h.record), "nothing ran")
      } finally {
        view.stop()
      }
    })

    it("a CLI the kernel cannot run (neither ELF nor #!): one line saying why, and nothing after it", () => {
      // Bun throws where execve fails (and schedules a warning); Node would abort: both end in our one line.
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const cli = path.join(h.dir, "text-cli")
      fs.writeFileSync(cli, "not a program\n", { mode: 0o755 })
      refused(h, new RegExp(`exec ${cli}: is neither an ELF executable nor a #! script`), {
        cliArgs: false,
        args: ["--config-dir", h.configDir, "--cli", cli]
      })
    })

    it("SPEC row argv longer than the kernel takes: a short error before exec", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_RUNTIME_MOUNTS=base,more") })
      let deep = path.join(h.dir, "deep")
      while (deep.length < 3800) deep = path.join(deep, "d".repeat(200))
      const lines: Array<string> = []
      for (let i = 0; i < 300; i++) {
        fs.mkdirSync(path.join(deep, `s${i}`), { recursive: true })
        lines.push(path.join(deep, `s${i}`))
      }
      // Two lists: one would pass the 1 MiB list-file limit first.
      fs.writeFileSync(path.join(h.configDir, "base.list"), lines.slice(0, 150).join("\n"))
      fs.writeFileSync(path.join(h.configDir, "more.list"), lines.slice(150).join("\n"))
      const err = refused(h, /argv of 607 arguments is \d+ bytes, more than 1048576/)
      assert.isBelow(err.length, 300)
    })
  })

  describe(`the 2023 CLI protocol (${build})`, () => {
    /** A host whose CLI is the 2023 stand-in, and the hook told to speak its protocol. */
    const host2023 = (spec: HostSpec = {}) => ({ ...host(spec), cli: recordingCli("2023") })
    const p2023 = { args: ["--cli-protocol", "2023"] }

    it("builds today's argv, in today's order, and the 2023 CLI takes it", () => {
      const h = host2023({
        env: npu("ASCEND_VISIBLE_DEVICES=3,1", "ASCEND_RUNTIME_OPTIONS=VIRTUAL,NODRV"),
        lists: { base: "/usr/lib\n/etc/hostname\n" }
      })
      assert.deepStrictEqual(argvOf(h, p2023), [
        "--allow-link",
        "False",
        "--pid",
        "4242",
        "--rootfs",
        `${h.bundle}/rootfs`,
        "--mount-file",
        "/etc/hostname",
        "--mount-dir",
        "/usr/lib",
        "--options",
        "NODRV,VIRTUAL"
      ])
    })

    it("without the flag the argv is still the seed's, which the 2023 CLI refuses (its status passes through)", () => {
      const h = host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const run = runHook(h)
      assert.strictEqual(run.status, 1)
      assert.isUndefined(run.cli, "the 2023 CLI records nothing for an argv it refuses")
      assert.match(run.stderr, /unrecognized option '--devices'/)
    })

    it("ASCEND_ALLOW_LINK: True gives True; unset, empty or False give False; anything else is refused", () => {
      for (const [env, expected] of [
        [[], "False"],
        [["ASCEND_ALLOW_LINK="], "False"],
        [["ASCEND_ALLOW_LINK=False"], "False"],
        [["ASCEND_ALLOW_LINK=True"], "True"]
      ] as const) {
        const h = host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0", ...env) })
        assert.deepStrictEqual(argvOf(h, p2023).slice(0, 2), ["--allow-link", expected])
      }
      for (const bad of ["true", "TRUE", "1", "yes", " True"]) {
        const h = host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0", `ASCEND_ALLOW_LINK=${bad}`) })
        refused(h, /container env ASCEND_ALLOW_LINK: item ".*" is neither True nor False/, p2023)
      }
    })

    it("the 2021 protocol reads neither ASCEND_ALLOW_LINK nor DISABLE_UB_MOUNT (the seed's CLI knows neither)", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_ALLOW_LINK=garbage", "DISABLE_UB_MOUNT=x") })
      assert.deepStrictEqual(argvOf(h).slice(0, 2), ["--devices", "0"])
    })

    it("the device list is parsed and checked though no --devices is passed", () => {
      refused(host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0-x") }), /ASCEND_VISIBLE_DEVICES: item "0-x"/, p2023)
      refused(host2023({ env: npu("ASCEND_VISIBLE_DEVICES=2000") }), /out of range 0-1023/, p2023)
    })

    it("ASCEND_VISIBLE_DEVICES=void asks for no NPU, in both protocols: exit 0, nothing run", () => {
      for (const options of [{}, p2023]) {
        const run = runHook(host2023({ env: npu("ASCEND_VISIBLE_DEVICES=void") }), options)
        assert.strictEqual(run.status, 0, run.stderr)
        assert.strictEqual(run.stderr, "")
        assert.isUndefined(run.cli)
      }
    })

    it("a host with the UB fabric's ub_driver list: its paths come too and allow-link is forced True", () => {
      const lists = { base: "/usr/lib\n", ub_driver: "/etc/hostname\n" }
      const ub = argvOf(host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0"), lists }), p2023)
      assert.deepStrictEqual(ub.slice(0, 2), ["--allow-link", "True"])
      assert.include(ub.join(" "), "--mount-file /etc/hostname")
      const off = argvOf(host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0", "DISABLE_UB_MOUNT=True"), lists }), p2023)
      assert.deepStrictEqual(off.slice(0, 2), ["--allow-link", "False"])
      assert.notInclude(off.join(" "), "/etc/hostname")
      refused(
        host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0", "DISABLE_UB_MOUNT=yes"), lists }),
        /DISABLE_UB_MOUNT: item "yes" is neither True nor False/,
        p2023
      )
    })

    it("with --allow-link False a source that is a symbolic link is refused by the hook, naming it", () => {
      const h = host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
      const link = path.join(h.dir, "npu-smi-link")
      fs.symlinkSync("/etc/hostname", link)
      fs.writeFileSync(path.join(h.configDir, "base.list"), `/usr/lib\n${link}\n`)
      refused(h, new RegExp(`base\\.list:2: ${link} is a symbolic link, which the CLI refuses unless`), p2023)
      const allowed = host2023({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_ALLOW_LINK=True") })
      fs.writeFileSync(path.join(allowed.configDir, "base.list"), `${link}\n`)
      assert.include(argvOf(allowed, p2023).join(" "), `--mount-file ${link}`)
    })

    it("a symlink in the image that stays inside the rootfs is fine", () => {
      const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0"), lists: { base: "/usr/lib\n" } })
      fs.mkdirSync(path.join(h.bundle, "rootfs/real-usr"), { recursive: true })
      fs.symlinkSync("real-usr", path.join(h.bundle, "rootfs/usr"))
      fs.symlinkSync("/real-usr/../real-usr", path.join(h.bundle, "rootfs/usr2"))
      assert.include(argvOf(h).join(" "), "--mount-dir /usr/lib")
    })

    it("the privilege gate: an env request from an unprivileged container is accepted, ignored or refused", () => {
      const caps = (bounding: ReadonlyArray<string> | undefined) => ({
        process: { env: npu("ASCEND_VISIBLE_DEVICES=0"), ...(bounding ? { capabilities: { bounding } } : {}) },
        root: { path: "rootfs" }
      })
      const unprivileged = [undefined, ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]] as const
      for (const bounding of unprivileged) {
        assert.deepStrictEqual(
          argvOf(host({ config: caps(bounding) })).slice(0, 2),
          ["--devices", "0"],
          "accept is the default"
        )
        const h = host({ config: caps(bounding) })
        const log = path.join(h.dir, "run.log")
        const ignored = runHook(h, { args: ["--unprivileged-env", "ignore", "--log", log] })
        assert.strictEqual(ignored.status, 0, ignored.stderr)
        assert.isUndefined(ignored.cli, "ignored: nothing run")
        assert.match(fs.readFileSync(log, "utf8"), /devices=- .*outcome=ignored:unprivileged-env /)
        // Ignored unread: a malformed request is no request either (refuse still names what is wrong).
        const malformed = {
          ...caps(bounding),
          process: { ...caps(bounding).process, env: npu("ASCEND_VISIBLE_DEVICES=0-x") }
        }
        const unread = runHook(host({ config: malformed }), { args: ["--unprivileged-env", "ignore"] })
        assert.strictEqual(unread.status, 0, unread.stderr)
        assert.strictEqual(unread.stderr, "")
        assert.isUndefined(unread.cli)
        refused(host({ config: malformed }), /ASCEND_VISIBLE_DEVICES/, { args: ["--unprivileged-env", "refuse"] })
        refused(
          host({ config: caps(bounding) }),
          /ASCEND_VISIBLE_DEVICES: item "0" is asked for by an unprivileged container \(no CAP_SYS_ADMIN\)/,
          {
            args: ["--unprivileged-env", "refuse"]
          }
        )
      }
      // A privileged container is served whatever the setting.
      for (const policy of ["ignore", "refuse"]) {
        const h = host({ config: caps(["CAP_CHOWN", "CAP_SYS_ADMIN"]) })
        assert.deepStrictEqual(argvOf(h, { args: ["--unprivileged-env", policy] }).slice(0, 2), ["--devices", "0"])
      }
      refused(host(), /--unprivileged-env takes accept, ignore or refuse/, { args: ["--unprivileged-env", "no"] })
    })

    it("a vNPU the wrapper did not make is refused, never served with the whole NPU it was to be cut from", () => {
      // The hook alone (hooks.d): ASCEND_VNPU_SPECS with the physical id, as the container wrote it.
      refused(
        host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02") }),
        /container env ASCEND_VNPU_SPECS: item "vir02" asks for a virtual NPU, which only the runtime wrapper \(ascend-docker-runtime\) makes, at create;/
      )
      refused(host({ env: npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=") }), /ASCEND_VNPU_SPECS: item ""/)
      // As the wrapper leaves a container whose vNPU it made: the vNPU's id, with VIRTUAL.
      const made = npu("ASCEND_VISIBLE_DEVICES=100", "ASCEND_RUNTIME_OPTIONS=VIRTUAL", "ASCEND_VNPU_SPECS=vir02")
      assert.include(argvOf(host({ env: made })).join(" "), "--devices 100")
      // A container the wrapper created (its mark) had the ask judged there: the hook follows it.
      const marked = npu("ASCEND_VISIBLE_DEVICES=0", "ASCEND_VNPU_SPECS=vir02", "ASCEND_DOCKER_RUNTIME=True")
      assert.include(argvOf(host({ env: marked })).join(" "), "--devices 0")
      // Without ASCEND_VNPU_SPECS, or with no NPU asked for, nothing changes.
      assert.deepStrictEqual(argvOf(host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })).slice(0, 2), ["--devices", "0"])
      const none = runHook(host({ env: npu("ASCEND_VNPU_SPECS=vir02") }))
      assert.strictEqual(none.status, 0, none.stderr)
      assert.isUndefined(none.cli)
    })

    it("--cli-protocol takes only 2021 or 2023", () => {
      refused(host({ env: npu("ASCEND_VISIBLE_DEVICES=0") }), /--cli-protocol takes 2021 or 2023, not "2022"/, {
        args: ["--cli-protocol", "2022"]
      })
    })
  })
}

describe("the wrapper's pass-through", () => {
  for (const build of ["bundle", "binary"] as const) {
    /** The wrapper as each build installs it: the Node bundle, or a link named ascend-docker-runtime. */
    const wrapper = (dir: string): ReadonlyArray<string> => {
      if (build === "bundle") return [NODE, path.join(ROOT, "dist/ascend-docker-runtime.cjs")]
      const link = path.join(dir, "ascend-docker-runtime")
      fs.symlinkSync(BINARY, link)
      return [link]
    }
    const bin = (h: Host, name: string) => {
      const dir = path.join(h.dir, name)
      fs.mkdirSync(dir, { mode: 0o755 })
      return dir
    }

    it(`(${build}) runs the first executable file named runc on PATH, past dirs, non-executables and itself`, () => {
      const h = host()
      const asDir = bin(h, "a")
      fs.mkdirSync(path.join(asDir, "runc"), { mode: 0o755 })
      const noExec = bin(h, "b")
      fs.writeFileSync(path.join(noExec, "runc"), "#!/bin/sh\n", { mode: 0o644 })
      // This program under the name runc (what the wrapper is run as: node for the bundle).
      const self = bin(h, "c")
      fs.symlinkSync(build === "bundle" ? NODE : BINARY, path.join(self, "runc"))
      const real = bin(h, "d")
      fs.symlinkSync(h.cli, path.join(real, "runc"))
      const [command, ...prefix] = wrapper(h.dir)
      for (const dirs of [
        [asDir, noExec, real],
        ["relative", asDir, noExec, self, real]
      ]) {
        fs.rmSync(h.record, { force: true })
        const run = spawnSync(command!, [...prefix, "--version"], {
          env: { PATH: dirs.join(":"), ADH_RECORD: h.record },
          encoding: "utf8"
        })
        assert.strictEqual(run.stderr, "", dirs.join(":"))
        assert.strictEqual(run.status, 0)
        const got = JSON.parse(fs.readFileSync(h.record, "utf8"))
        assert.deepStrictEqual(got.argv, [path.join(real, "runc"), "--version"], dirs.join(":"))
      }
    })

    it(`(${build}) a runc the kernel cannot run: one line saying why, in runc's log too, and nothing after it`, () => {
      const h = host()
      const runc = path.join(h.dir, "text-runc")
      fs.writeFileSync(runc, "not a program\n", { mode: 0o755 })
      const log = path.join(h.dir, "runc.log")
      const [command, ...prefix] = wrapper(h.dir)
      const run = spawnSync(command!, [...prefix, "--log", log, "--log-format", "json", "state", "c1"], {
        env: { ASCEND_DOCKER_RUNTIME_RUNC: runc },
        encoding: "utf8"
      })
      assert.strictEqual(run.status, 1)
      assert.match(
        run.stderr,
        new RegExp(`^ascend-docker-runtime: cannot run ${runc}: is neither an ELF executable nor a #! script[^\n]*\n$`)
      )
      assert.include(JSON.parse(fs.readFileSync(log, "utf8")).msg, "is neither an ELF executable")
    })
  }
})

describe("the self-contained binary", () => {
  it("runs with an empty environment and finds ascend-docker-cli next to itself (through a link too)", () => {
    const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=2") })
    const dir = path.join(h.dir, "bin")
    fs.mkdirSync(dir, { mode: 0o755 })
    fs.copyFileSync(BINARY, path.join(dir, "ascend-docker-hook"))
    fs.chmodSync(path.join(dir, "ascend-docker-hook"), 0o755)
    fs.copyFileSync(h.cli, path.join(dir, "ascend-docker-cli"))
    fs.chmodSync(path.join(dir, "ascend-docker-cli"), 0o755)
    fs.symlinkSync(path.join(dir, "ascend-docker-hook"), path.join(h.dir, "hook-link"))
    for (const exe of [path.join(dir, "ascend-docker-hook"), path.join(h.dir, "hook-link")]) {
      fs.rmSync(h.record, { force: true })
      const run = spawnSync(exe, ["--config-dir", h.configDir], {
        cwd: h.bundle,
        input: h.state,
        env: { ADH_RECORD: h.record },
        encoding: "utf8"
      })
      assert.strictEqual(run.status, 0, run.stderr)
      const record = JSON.parse(fs.readFileSync(h.record, "utf8"))
      assert.deepStrictEqual(record.argv.slice(0, 3), [path.join(dir, "ascend-docker-cli"), "--devices", "2"])
    }
  })

  it(".env and bunfig.toml in the cwd (the bundle dir, the image owner's) change nothing", () => {
    const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=1") })
    const marker = path.join(h.dir, "preloaded")
    const preload = path.join(h.dir, "preload.js")
    fs.writeFileSync(preload, `require("fs").writeFileSync(${JSON.stringify(marker)}, "ran")\n`)
    const elsewhere = path.join(h.dir, "elsewhere.json")
    fs.writeFileSync(path.join(h.bundle, ".env"), `ADH_RECORD=${elsewhere}\nASCEND_X=1\n`)
    fs.writeFileSync(
      path.join(h.bundle, "bunfig.toml"),
      `preload = [${JSON.stringify(preload)}]\n[run]\npreload = [${JSON.stringify(preload)}]\n`
    )
    for (const exe of [BINARY]) {
      fs.rmSync(h.record, { force: true })
      const run = spawnSync(exe, ["--config-dir", h.configDir, "--cli", h.cli], {
        cwd: h.bundle,
        input: h.state,
        env: { ADH_RECORD: h.record },
        encoding: "utf8"
      })
      assert.strictEqual(run.status, 0, run.stderr)
      const record = JSON.parse(fs.readFileSync(h.record, "utf8"))
      assert.deepStrictEqual(record.env, [`ADH_RECORD=${h.record}`], "nothing from .env reached the hook or the CLI")
      assert.isFalse(fs.existsSync(elsewhere))
      assert.isFalse(fs.existsSync(marker), "bunfig.toml's preload did not run")
    }
  })

  it("loader variables never reach the CLI, nor runc behind the wrapper", () => {
    const h = host({ env: npu("ASCEND_VISIBLE_DEVICES=0") })
    const injected = {
      LD_PRELOAD: "/x.so",
      LD_LIBRARY_PATH: "/x",
      NODE_OPTIONS: "--require /x",
      BUN_X: "1",
      GLIBC_TUNABLES: "x"
    }
    const run = runAny(h, { build: "binary", env: injected })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.deepStrictEqual(run.cli!.env, [`ADH_RECORD=${h.record}`])
    // The wrapper's pass-through: runc is the recording CLI here, which records the env it got.
    const record = path.join(h.dir, "runc.json")
    const wrapper = path.join(h.dir, "ascend-docker-runtime")
    fs.symlinkSync(BINARY, wrapper)
    const pass = spawnSync(wrapper, ["--version"], {
      env: { ...injected, ADH_RECORD: record, ASCEND_DOCKER_RUNTIME_RUNC: h.cli, KEEP: "me" },
      encoding: "utf8"
    })
    assert.strictEqual(pass.status, 0, pass.stderr)
    const got = JSON.parse(fs.readFileSync(record, "utf8"))
    assert.deepStrictEqual(got.argv.slice(1), ["--version"])
    assert.deepStrictEqual([...got.env].sort(), [
      `ADH_RECORD=${record}`,
      `ASCEND_DOCKER_RUNTIME_RUNC=${h.cli}`,
      "KEEP=me"
    ])
  })
})
