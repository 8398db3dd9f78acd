import { execFileSync, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { ARM64_BINARY, BINARY, cleanup, inCI, ROOT, scratch } from "./support/fixtures.ts"

// The .deb and .rpm packages (scripts/package.mjs) with Debian's real tools: lintian and rpmlint clean, and
// installed, upgraded and removed by dpkg (--root) and rpm (--root) into private roots. A private root is a
// tiny system: busybox as /bin/sh (the maintainer scripts run chrooted there), the C library the binary
// needs, and /proc mounted in a private mount namespace (Bun's runtime reads /proc/self). The admin's
// commands (install, uninstall) run in there too, as the package's own binary.
// Built with --fast (gzip -1 payloads instead of xz: the same files, minutes less on this machine).

const TOOLS = ["dpkg-deb", "dpkg", "rpmbuild", "rpm", "lintian", "rpmlint", "unshare", "readelf", "chroot"]
const which = (t: string) => spawnSync("sh", ["-c", `command -v ${t}`]).status === 0
const missing = [...TOOLS.filter((t) => !which(t)), ...(fs.existsSync("/bin/busybox") ? [] : ["/bin/busybox"])]
if (missing.length > 0 && inCI) throw new Error(`CI: missing ${missing.join(" ")} (.ci/run installs them)`)
if (missing.length > 0) console.warn(`warning: package suite skipped: missing ${missing.join(" ")}`)
if (process.getuid?.() !== 0 && inCI) throw new Error("CI: the package suite needs root (chroot, mounts)")

const version: string = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version
const NEXT = `${version}+1`
const BASE_LIST = "etc/ascend-docker-runtime.d/base.list"
const shipped = fs.readFileSync(path.join(ROOT, "packaging/base.list"), "utf8")
const EDITED = `${shipped}# the admin's own line, kept\n/opt/site/lib\n`
const DAEMON_JSON = '{\n  "log-level": "info"\n}\n'

const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")
const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) cleanup(d)
})

/** Runs argv with the private root's /proc mounted, in a mount namespace of its own. */
const inNs = (root: string, argv: ReadonlyArray<string>) =>
  spawnSync(
    "unshare",
    ["--mount", "--propagation", "private", "sh", "-c", 'mount -t proc proc "$0/proc" && exec "$@"', root, ...argv],
    { encoding: "utf8", timeout: 240_000 }
  )
/** The package's own binary, run inside the private root as the admin runs it. */
const admin = (root: string, ...args: Array<string>) =>
  inNs(root, ["chroot", root, "/usr/bin/ascend-docker-hook", ...args])
const ok = (r: ReturnType<typeof inNs>, what: string) => assert.strictEqual(r.status, 0, `${what}: ${r.stderr}`)

/** A tiny system for the package managers' --root: sh, the C library the binary needs, /proc, /etc. */
const privateRoot = (): string => {
  const root = scratch()
  dirs.push(root)
  for (const d of ["bin", "proc", "tmp", "var/tmp", "etc/docker"]) fs.mkdirSync(path.join(root, d), { recursive: true })
  fs.copyFileSync("/bin/busybox", path.join(root, "bin/sh"))
  fs.chmodSync(path.join(root, "bin/sh"), 0o755)
  for (const lib of execFileSync("ldd", [BINARY], { encoding: "utf8" }).match(/\/\S+/g) ?? []) {
    fs.mkdirSync(path.join(root, path.dirname(lib)), { recursive: true })
    fs.copyFileSync(fs.realpathSync(lib), path.join(root, lib))
  }
  fs.writeFileSync(path.join(root, "etc/docker/daemon.json"), DAEMON_JSON)
  return root
}

/** A private root whose dpkg database knows the C library copied in (so Depends: libc6 is checked, not forced). */
const dpkgRoot = (): string => {
  const root = privateRoot()
  const admindir = path.join(root, "var/lib/dpkg")
  for (const d of ["info", "updates"]) fs.mkdirSync(path.join(admindir, d), { recursive: true })
  const arch = execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim()
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
  const libc = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "libc6"], { encoding: "utf8" })
  fs.writeFileSync(
    path.join(admindir, "status"),
    `Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nMaintainer: test\nArchitecture: ${arch}\nMulti-Arch: same\nVersion: ${libc}\nDescription: the host's C library, copied into this private root\n\n`
  )
  fs.writeFileSync(path.join(admindir, `info/libc6:${arch}.list`), "")
  fs.writeFileSync(path.join(admindir, "available"), "")
  return root
}

let out = ""
const pkgs = (v: string) => ({
  deb: (arch: string) => path.join(out, v, `ascend-docker-hook_${v}-1_${arch}.deb`),
  rpm: (arch: string) => path.join(out, v, `ascend-docker-hook-${v}-1.${arch}.rpm`)
})
const v1 = pkgs(version)
const v2 = pkgs(NEXT)

/** The package's files as they must be in a root, whichever manager put them there. */
const assertInstalled = (root: string) => {
  const bin = path.join(root, "usr/bin/ascend-docker-hook")
  const st = fs.lstatSync(bin)
  assert.strictEqual(st.mode & 0o7777, 0o755)
  assert.strictEqual(st.uid, 0)
  assert.strictEqual(sha(bin), sha(BINARY), "the binary npm run build made, unstripped")
  assert.strictEqual(fs.readlinkSync(path.join(root, "usr/bin/ascend-docker-runtime")), "ascend-docker-hook")
  assert.strictEqual(fs.statSync(path.join(root, BASE_LIST)).mode & 0o7777, 0o644)
}

/** The one line prerm / %preun refuses with, and the command it names (run as the admin would). */
const refusal = (stderr: string) => {
  const line = stderr.split("\n").find((l) => l.startsWith("ascend-docker-hook: "))
  assert.isDefined(line, stderr)
  assert.match(line!, /^ascend-docker-hook: docker still named in the engine config; first run: /)
  return line!
    .match(/first run: (ascend-docker-hook uninstall[^,]*),/)![1]!
    .split(" ")
    .slice(1)
}

describe.skipIf(missing.length > 0)("the .deb and .rpm packages", () => {
  beforeAll(() => {
    out = scratch()
    dirs.push(out)
    for (const [v, arches] of [
      [version, ["amd64", "arm64"]],
      [NEXT, ["amd64"]]
    ] as const)
      execFileSync(
        process.execPath,
        [
          path.join(ROOT, "scripts/package.mjs"),
          "--fast",
          "--version",
          v,
          "--out",
          path.join(out, v),
          ...arches.flatMap((a) => ["--arch", a])
        ],
        { stdio: ["ignore", "ignore", "inherit"] }
      )
  }, 600_000)

  it("lintian reports nothing (its overrides in the package, each with a reason)", { timeout: 300_000 }, () => {
    for (const arch of ["amd64", "arm64"]) {
      const r = spawnSync("lintian", ["--no-cfg", "--fail-on", "error,warning", v1.deb(arch)], { encoding: "utf8" })
      const tags = r.stdout.split("\n").filter((l) => /^[EWI]: /.test(l))
      assert.deepStrictEqual(tags, [], `lintian ${arch}`)
      assert.strictEqual(r.status, 0, r.stderr)
    }
  })

  it("rpmlint reports no error and no warning (packaging/rpm/rpmlintrc says why each filter)", () => {
    for (const arch of ["x86_64", "aarch64"]) {
      const r = spawnSync("rpmlint", ["-r", path.join(ROOT, "packaging/rpm/rpmlintrc"), v1.rpm(arch)], {
        encoding: "utf8"
      })
      assert.match(r.stdout, / 0 errors, 0 warnings/, r.stdout)
      assert.strictEqual(r.status, 0, r.stdout)
    }
  })

  it("each arch's package holds that arch's binary, the link, the config file and the docs", () => {
    const x = scratch()
    dirs.push(x)
    for (const [arch, binary] of [
      ["amd64", BINARY],
      ["arm64", ARM64_BINARY]
    ] as const) {
      execFileSync("dpkg-deb", ["-x", v1.deb(arch), path.join(x, arch)])
      assert.strictEqual(sha(path.join(x, arch, "usr/bin/ascend-docker-hook")), sha(binary), arch)
      const control = execFileSync("dpkg-deb", ["-f", v1.deb(arch), "Architecture", "Depends"], { encoding: "utf8" })
      assert.match(control, new RegExp(`^Architecture: ${arch}\nDepends: libc6 \\(>= 2\\.\\d+\\)\n$`))
      assert.deepStrictEqual(fs.readdirSync(path.join(x, arch, "usr/share/doc/ascend-docker-hook")).sort(), [
        "README.md.gz",
        "changelog.Debian.gz",
        "copyright"
      ])
      assert.strictEqual(
        execFileSync("dpkg-deb", ["-I", v1.deb(arch), "conffiles"], { encoding: "utf8" }),
        `/${BASE_LIST}\n`
      )
    }
    for (const arch of ["x86_64", "aarch64"]) {
      const q = (...a: Array<string>) => execFileSync("rpm", ["-qp", ...a, v1.rpm(arch)], { encoding: "utf8" })
      assert.strictEqual(q("--qf", "%{ARCH}"), arch)
      assert.strictEqual(q("--configfiles"), `/${BASE_LIST}\n`)
      assert.include(q("--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"), `cn /${BASE_LIST}`, "%config(noreplace)")
      assert.include(q("-l"), "/usr/share/licenses/ascend-docker-hook/LICENSE")
    }
  })

  it("dpkg: install, the admin's install, removal refused, upgrade keeps the edited list, uninstall, remove, purge", () => {
    const root = dpkgRoot()
    const dpkg = (...args: Array<string>) => inNs(root, ["dpkg", `--root=${root}`, ...args])
    const status = () =>
      spawnSync(
        "dpkg-query",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
        [`--admindir=${root}/var/lib/dpkg`, "-W", "-f", "${db:Status-Abbrev}${Version}", "ascend-docker-hook"],
        {
          encoding: "utf8"
        }
      ).stdout

    ok(dpkg("-i", v1.deb("amd64")), "dpkg -i")
    assert.strictEqual(status(), `ii ${version}-1`)
    assertInstalled(root)
    assert.strictEqual(fs.readFileSync(path.join(root, BASE_LIST), "utf8"), shipped)
    assert.strictEqual(fs.readFileSync(path.join(root, "etc/docker/daemon.json"), "utf8"), DAEMON_JSON, "untouched")

    // The admin's command (the package description's): the engine gets the package's binary.
    ok(admin(root, "install", "--prefix", "/usr", "--runtime", "docker"), "install --prefix /usr")
    const daemon = JSON.parse(fs.readFileSync(path.join(root, "etc/docker/daemon.json"), "utf8"))
    assert.deepStrictEqual(daemon.runtimes, { ascend: { path: "/usr/bin/ascend-docker-runtime" } })
    assert.strictEqual(dpkg("--verify", "ascend-docker-hook").stdout, "", "the package's files as shipped")
    fs.writeFileSync(path.join(root, BASE_LIST), EDITED)

    const refused = dpkg("-r", "ascend-docker-hook")
    assert.notStrictEqual(refused.status, 0)
    const command = refusal(refused.stderr)
    assert.deepStrictEqual(command, ["uninstall", "--runtime", "docker"])
    assert.match(status(), /^.i /, "still installed")
    assertInstalled(root)

    ok(dpkg("-i", v2.deb("amd64")), "upgrade")
    assert.strictEqual(status(), `ii ${NEXT}-1`)
    assertInstalled(root)
    assert.strictEqual(fs.readFileSync(path.join(root, BASE_LIST), "utf8"), EDITED, "the edit survives the upgrade")

    ok(admin(root, ...command), "the command the refusal named")
    assert.strictEqual(fs.readFileSync(path.join(root, "etc/docker/daemon.json"), "utf8"), DAEMON_JSON, "as before")
    assert.strictEqual(
      dpkg("--verify", "ascend-docker-hook").stdout,
      `??5?????? c /${BASE_LIST}\n`,
      "uninstall left the package's files (the list differs by the admin's edit only)"
    )

    ok(dpkg("-r", "ascend-docker-hook"), "dpkg -r")
    assert.strictEqual(status(), `rc ${NEXT}-1`)
    assert.isFalse(fs.existsSync(path.join(root, "usr/bin/ascend-docker-hook")))
    assert.isFalse(fs.existsSync(path.join(root, "usr/bin/ascend-docker-runtime")))
    assert.strictEqual(fs.readFileSync(path.join(root, BASE_LIST), "utf8"), EDITED, "the edit survives removal")

    ok(dpkg("-P", "ascend-docker-hook"), "dpkg -P")
    assert.isFalse(fs.existsSync(path.join(root, BASE_LIST)), "purge removes the config file, as asked")
  })

  it("rpm: install, the admin's install, erase refused, upgrade keeps the edited list, uninstall, erase", () => {
    const root = privateRoot()
    // --nodeps: this root's rpm database is empty (its C library was copied in, not installed as an rpm),
    // so the binary's automatic requirements (libc.so.6, ld-linux, /bin/sh) have no provider there.
    const rpm = (...args: Array<string>) => inNs(root, ["rpm", "--root", root, ...args])
    ok(rpm("--initdb"), "rpm --initdb")
    const query = () => rpm("-q", "--qf", "%{VERSION}-%{RELEASE}", "ascend-docker-hook").stdout

    ok(rpm("-i", "--nodeps", v1.rpm("x86_64")), "rpm -i")
    assert.strictEqual(query(), `${version}-1`)
    assertInstalled(root)
    assert.strictEqual(fs.readFileSync(path.join(root, BASE_LIST), "utf8"), shipped)
    assert.isTrue(fs.existsSync(path.join(root, "usr/share/doc/ascend-docker-hook/README.md")))

    ok(admin(root, "install", "--prefix", "/usr", "--runtime", "docker"), "install --prefix /usr")
    assert.strictEqual(rpm("-V", "--nodeps", "ascend-docker-hook").stdout, "", "the package's files as shipped")
    fs.writeFileSync(path.join(root, BASE_LIST), EDITED)

    const refused = rpm("-e", "ascend-docker-hook")
    assert.notStrictEqual(refused.status, 0)
    const command = refusal(refused.stderr)
    assert.strictEqual(query(), `${version}-1`, "still installed")
    assertInstalled(root)

    ok(rpm("-U", "--nodeps", v2.rpm("x86_64")), "rpm -U")
    assert.strictEqual(query(), `${NEXT}-1`)
    assertInstalled(root)
    assert.strictEqual(fs.readFileSync(path.join(root, BASE_LIST), "utf8"), EDITED, "the edit survives the upgrade")

    ok(admin(root, ...command), "the command the refusal named")
    assert.strictEqual(fs.readFileSync(path.join(root, "etc/docker/daemon.json"), "utf8"), DAEMON_JSON, "as before")

    ok(rpm("-e", "ascend-docker-hook"), "rpm -e")
    assert.notStrictEqual(rpm("-q", "ascend-docker-hook").status, 0)
    assert.isFalse(fs.existsSync(path.join(root, "usr/bin/ascend-docker-hook")))
    assert.isFalse(fs.existsSync(path.join(root, "usr/bin/ascend-docker-runtime")))
    // rpm keeps an edited %config file on erase as .rpmsave: the bytes survive under that name.
    assert.strictEqual(fs.readFileSync(path.join(root, `${BASE_LIST}.rpmsave`), "utf8"), EDITED)
  })
})
