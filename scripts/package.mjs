// Builds the node packages from the Bun binaries `npm run build` made (no compiling), with the
// distributions' own tools: for amd64 and arm64, dist/packages/ascend-docker-hook_<version>_<arch>.deb
// (dpkg-deb) and ascend-docker-hook-<version>-1.<x86_64|aarch64>.rpm (rpmbuild --target). Contents:
// /usr/bin/ascend-docker-hook, the ascend-docker-runtime link to it, /etc/ascend-docker-runtime.d/base.list
// as a config file (dpkg conffile / %config(noreplace)), the README and licence under the docs dir, and the
// removal check (packaging/prerm.sh). Installing never touches an engine's config.
//   --version V   the packages' version (default: package.json's; the tests build a newer one)
//   --out DIR     where they go (default dist/packages)
//   --arch A      amd64 or arm64 (repeatable; default both)
//   --fast        gzip -1 payloads instead of xz (the tests: same files, minutes less)
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"

const root = path.resolve(import.meta.dirname, "..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
const NAME = "ascend-docker-hook"
const MAINTAINER = "ascend-docker-hook maintainers <maintainers@users.noreply.r-seed-913a5f93.example>"
/** Debian's and RPM's names for each arch, and the build of it. */
const ARCHES = {
  amd64: { rpm: "x86_64", binary: "dist/ascend-docker-hook-linux-x64" },
  arm64: { rpm: "aarch64", binary: "dist/ascend-docker-hook-linux-arm64" }
}

const fail = (line) => {
  process.stderr.write(`package: ${line}\n`)
  process.exit(1)
}
const argv = process.argv.slice(2)
const opts = { version: pkg.version, out: path.join(root, "dist/packages"), arches: [], fast: false }
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const value = () => argv[++i] ?? fail(`${a} needs a value`)
  if (a === "--version") opts.version = value()
  else if (a === "--out") opts.out = path.resolve(value())
  else if (a === "--arch") opts.arches.push(value())
  else if (a === "--fast") opts.fast = true
  else fail(`unknown argument ${JSON.stringify(a)}`)
}
if (!/^[0-9][A-Za-z0-9.+~]*$/.test(opts.version)) fail(`--version ${opts.version}: not a package version`)
if (opts.arches.length === 0) opts.arches = Object.keys(ARCHES)
for (const a of opts.arches) if (!(a in ARCHES)) fail(`--arch ${a}: one of ${Object.keys(ARCHES).join(", ")}`)
for (const a of opts.arches)
  if (!fs.existsSync(path.join(root, ARCHES[a].binary))) fail(`no ${ARCHES[a].binary}: run npm run build first`)

/** The packages' time: SOURCE_DATE_EPOCH, else the last commit's, so a rebuild of a commit gives the same bytes. */
const epoch = Number(
  process.env.SOURCE_DATE_EPOCH ??
    (() => {
      try {
        return execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: root, encoding: "utf8" }).trim()
      } catch {
        return Math.floor(Date.now() / 1000)
      }
    })()
)
const env = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), LC_ALL: "C" }
const date = new Date(epoch * 1000)
const run = (cmd, args) => execFileSync(cmd, args, { env, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" })

const packaging = path.join(root, "packaging")
const readPackaging = (f) => fs.readFileSync(path.join(packaging, f), "utf8")
const fill = (text, values) => text.replace(/@([A-Z_]+)@/g, (_, k) => values[k] ?? fail(`no value for @${k}@`))
const put = (file, content, mode = 0o644) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, content, { mode })
  fs.chmodSync(file, mode)
}

/** The oldest glibc the binary runs on: the highest GLIBC_ symbol version it needs. */
const glibcOf = (binary) => {
  const versions = run("readelf", ["-V", "-W", binary]).match(/GLIBC_[0-9.]+/g) ?? []
  const numbers = versions.map((v) => v.slice(6).split(".").map(Number))
  numbers.sort((a, b) => a[0] - b[0] || (a[1] ?? 0) - (b[1] ?? 0))
  return numbers.length === 0 ? fail(`${binary}: no GLIBC versions`) : numbers.at(-1).join(".")
}

fs.mkdirSync(opts.out, { recursive: true })
const work = fs.mkdtempSync(path.join(opts.out, "..", ".package-"))
try {
  for (const arch of opts.arches) {
    const binary = path.join(root, ARCHES[arch].binary)
    const glibc = glibcOf(binary)
    console.log(`built ${deb(arch, binary, glibc)}`)
    console.log(`built ${rpm(arch, binary, glibc)}`)
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}

function deb(arch, binary, glibc) {
  // Revision 1 of upstream's version, as the rpm's Release 1: a package of this project's release, not the
  // project itself (a native package would name its changelog changelog.gz).
  const debVersion = `${opts.version}-1`
  const stage = path.join(work, `deb-${arch}`)
  const doc = path.join(stage, "usr/share/doc", NAME)
  fs.mkdirSync(path.join(stage, "usr/bin"), { recursive: true })
  fs.copyFileSync(binary, path.join(stage, "usr/bin", NAME))
  fs.chmodSync(path.join(stage, "usr/bin", NAME), 0o755)
  fs.symlinkSync(NAME, path.join(stage, "usr/bin/ascend-docker-runtime"))
  put(path.join(stage, "etc/ascend-docker-runtime.d/base.list"), readPackaging("base.list"))
  put(path.join(doc, "copyright"), readPackaging("debian/copyright"))
  put(path.join(doc, "README.md.gz"), gzip(fs.readFileSync(path.join(root, "README.md"))))
  const changelog = `${NAME} (${debVersion}) unstable; urgency=medium\n\n  * Packaged from ${NAME} ${opts.version}.\n\n -- ${MAINTAINER}  ${rfc2822(date)}\n`
  put(path.join(doc, "changelog.Debian.gz"), gzip(Buffer.from(changelog)))
  put(path.join(stage, "usr/share/lintian/overrides", NAME), readPackaging("debian/lintian-overrides"))

  const control = path.join(stage, "DEBIAN")
  const files = walk(stage).filter((f) => !f.startsWith("DEBIAN/"))
  const md5 = files
    .filter((f) => fs.lstatSync(path.join(stage, f)).isFile() && !f.startsWith("etc/"))
    .map(
      (f) =>
        `${crypto
          .createHash("md5")
          .update(fs.readFileSync(path.join(stage, f)))
          .digest("hex")}  ${f}\n`
    )
  put(path.join(control, "md5sums"), md5.join(""))
  const kib = files.reduce((n, f) => n + Math.ceil(fs.lstatSync(path.join(stage, f)).size / 1024), 0)
  const fields = { VERSION: debVersion, ARCH: arch, MAINTAINER, INSTALLED_SIZE: String(kib) }
  put(
    path.join(control, "control"),
    fill(readPackaging("debian/control.in"), fields).replace("Depends: libc6", `Depends: libc6 (>= ${glibc})`)
  )
  put(path.join(control, "conffiles"), "/etc/ascend-docker-runtime.d/base.list\n")
  put(path.join(control, "prerm"), readPackaging("prerm.sh"), 0o755)
  const out = path.join(opts.out, `${NAME}_${debVersion}_${arch}.deb`)
  run("dpkg-deb", ["--root-owner-group", ...(opts.fast ? ["-Zgzip", "-z1"] : ["-Zxz", "-z6"]), "--build", stage, out])
  return out
}

function rpm(arch, binary, glibc) {
  const top = path.join(work, `rpm-${arch}`)
  const stage = path.join(top, "stage")
  fs.mkdirSync(stage, { recursive: true })
  fs.copyFileSync(binary, path.join(stage, NAME))
  for (const f of ["README.md", "LICENSE"]) fs.copyFileSync(path.join(root, f), path.join(stage, f))
  fs.copyFileSync(path.join(packaging, "base.list"), path.join(stage, "base.list"))
  const spec = path.join(top, `${NAME}.spec`)
  const prerm = readPackaging("prerm.sh").replace(/^#!.*\n/, "")
  const day = date
    .toUTCString()
    .slice(0, 16)
    .replace(/^(\w+), (\d+) (\w+) (\d+)/, "$1 $3 $2 $4")
  put(
    spec,
    fill(readPackaging("rpm/ascend-docker-hook.spec.in"), {
      VERSION: opts.version,
      MAINTAINER,
      CHANGELOG_DATE: day,
      PRERM: prerm
    }).replace("glibc >= 2.17", `glibc >= ${glibc}`)
  )
  const define = (k, v) => ["--define", `${k} ${v}`]
  const rpmArch = ARCHES[arch].rpm
  run("rpmbuild", [
    "-bb",
    "--quiet",
    "--target",
    `${rpmArch}-linux`,
    ...define("_topdir", top),
    ...define("_rpmdir", opts.out),
    ...define("_build_name_fmt", "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm"),
    ...define("stage", stage),
    ...define("_binary_payload", opts.fast ? "w1.gzdio" : "w6.xzdio"),
    ...define("use_source_date_epoch_as_buildtime", "1"),
    ...define("clamp_mtime_to_source_date_epoch", "1"),
    ...define("_buildhost", "localhost"),
    spec
  ])
  return path.join(opts.out, `${NAME}-${opts.version}-1.${rpmArch}.rpm`)
}

function walk(dir, prefix = "") {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(prefix, e.name)
    return e.isDirectory() ? walk(dir, rel) : [rel]
  })
}

function gzip(bytes) {
  // gzip -9n: no name, no time, as Debian wants its compressed docs.
  return zlib.gzipSync(bytes, { level: 9 })
}

function rfc2822(d) {
  const [wd, day, mon, year, time] = d.toUTCString().replace(",", "").split(" ")
  return `${wd}, ${day} ${mon} ${year} ${time} +0000`
}
