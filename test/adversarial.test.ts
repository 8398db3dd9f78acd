import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { cleanup, type Host, type HostSpec, makeHost, processBuilds, runHook } from "./support/fixtures.ts"

// Hostile input, end to end: each case runs the built hook as a process on a real host tree and asserts
// the one error line (what and where), exit 1, nothing on stdout, and that the recording CLI never ran.

interface Case {
  readonly name: string
  readonly spec?: HostSpec
  readonly stdin?: (h: Host) => string | Buffer
  readonly mutate?: (h: Host) => void
  readonly args?: (h: Host) => ReadonlyArray<string>
  readonly expect: RegExp | ((h: Host) => RegExp)
}

const dev = (value: string): HostSpec => ({ env: [`ASCEND_VISIBLE_DEVICES=${value}`] })
const mounts = (value: string): HostSpec => ({ env: ["ASCEND_VISIBLE_DEVICES=0", `ASCEND_RUNTIME_MOUNTS=${value}`] })
const options = (value: string): HostSpec => ({ env: ["ASCEND_VISIBLE_DEVICES=0", `ASCEND_RUNTIME_OPTIONS=${value}`] })
const list = (content: string | Buffer) => (h: Host) => fs.writeFileSync(path.join(h.configDir, "base.list"), content)
const state = (value: unknown) => (h: Host) => JSON.stringify({ pid: 1, bundle: h.bundle, ...(value as object) })
const npu: HostSpec = dev("0")
const config = (value: unknown): HostSpec => ({ config: value })
const listPath = (h: Host) => path.join(h.configDir, "base.list")
const mkfifo = (p: string) => {
  fs.rmSync(p, { force: true, recursive: true })
  execFileSync("mkfifo", [p])
}

const cases: ReadonlyArray<Case> = [
  // stdin: the container state
  { name: "state: empty", stdin: () => "", expect: /container state from stdin: invalid JSON/ },
  { name: "state: null", stdin: () => "null", expect: /expected a JSON object, got null/ },
  { name: "state: an array", stdin: () => "[]", expect: /expected a JSON object, got an array/ },
  { name: "state: a number", stdin: () => "42", expect: /expected a JSON object, got number/ },
  { name: "state: a string", stdin: () => '"x"', expect: /expected a JSON object, got string/ },
  { name: "state: truncated", stdin: () => '{"pid": 1, "bund', expect: /invalid JSON/ },
  { name: "state: two objects", stdin: (h) => `${h.state}${h.state}`, expect: /invalid JSON/ },
  { name: "state: trailing garbage", stdin: (h) => `${h.state} x`, expect: /invalid JSON/ },
  { name: "state: a BOM before it", stdin: (h) => `\uFEFF${h.state}`, expect: /invalid JSON/ },
  { name: "state: invalid UTF-8", stdin: () => Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), expect: /invalid JSON/ },
  {
    name: "state: over 1 MiB",
    stdin: (h) => `${" ".repeat(1024 * 1024)}${h.state}`,
    expect: /larger than 1048576 bytes/
  },
  {
    name: "state: 500k nested arrays",
    stdin: () => `${"[".repeat(500000)}${"]".repeat(500000)}`,
    expect: /got an array|invalid JSON/
  },
  {
    name: "state: pid missing",
    stdin: (h) => JSON.stringify({ bundle: h.bundle }),
    expect: /Missing key; at \["pid"\]/
  },
  { name: "state: pid 0", stdin: state({ pid: 0 }), expect: /between 1 and 4194304; at \["pid"\]/ },
  { name: "state: pid negative", stdin: state({ pid: -5 }), expect: /at \["pid"\]/ },
  { name: "state: pid fractional", stdin: state({ pid: 1.5 }), expect: /Expected an integer; at \["pid"\]/ },
  { name: "state: pid a string", stdin: state({ pid: "5" }), expect: /Expected number; at \["pid"\]/ },
  { name: "state: pid huge", stdin: state({ pid: 2 ** 53 }), expect: /at \["pid"\]/ },
  { name: "state: pid null", stdin: state({ pid: null }), expect: /at \["pid"\]/ },
  { name: "state: bundle missing", stdin: () => JSON.stringify({ pid: 1 }), expect: /Missing key; at \["bundle"\]/ },
  { name: "state: bundle relative", stdin: state({ bundle: "run/c1" }), expect: /bundle is not an absolute path/ },
  { name: "state: bundle empty", stdin: state({ bundle: "" }), expect: /bundle is empty/ },
  { name: "state: bundle with a NUL", stdin: state({ bundle: "/run/c1\u0000x" }), expect: /NUL or control/ },
  { name: "state: bundle with a newline", stdin: state({ bundle: "/run/c1\nx" }), expect: /NUL or control/ },
  { name: "state: bundle too long", stdin: state({ bundle: `/${"a".repeat(5000)}` }), expect: /longer than 4096/ },
  { name: "state: bundle a number", stdin: state({ bundle: 7 }), expect: /Expected string; at \["bundle"\]/ },
  {
    name: "state: bundle without config.json",
    stdin: state({ bundle: "/nonexistent" }),
    expect: /\/nonexistent\/config.json: does not exist/
  },

  // config.json
  {
    name: "config: missing",
    mutate: (h) => fs.rmSync(path.join(h.bundle, "config.json")),
    expect: /config.json: does not exist/
  },
  {
    name: "config: a directory",
    mutate: (h) => {
      fs.rmSync(path.join(h.bundle, "config.json"))
      fs.mkdirSync(path.join(h.bundle, "config.json"))
    },
    expect: /config.json: is not a regular file \(Directory\)/
  },
  {
    name: "config: a FIFO (must not block)",
    mutate: (h) => mkfifo(path.join(h.bundle, "config.json")),
    expect: /is not a regular file \(FIFO\)/
  },
  {
    name: "config: over 16 MiB",
    mutate: (h) => fs.writeFileSync(path.join(h.bundle, "config.json"), Buffer.alloc(16 * 1024 * 1024 + 1, 32)),
    expect: /larger than 16777216 bytes/
  },
  { name: "config: invalid JSON", spec: config("{process"), expect: /config.json: invalid JSON/ },
  // Valid JSON that JSON.parse would take (slowly, or deep into its stack): only the pre-scan
  // (schemas/Json.ts jsonShapeProblem) refuses these, each with its own words.
  {
    name: "config: an annotation nested 100 deep (pre-scan)",
    spec: config(`{"process":{},"root":{"path":"r"},"annotations":{"x":${"[".repeat(100)}${"]".repeat(100)}}}`),
    expect: /config.json: invalid JSON: nested deeper than 64 levels/
  },
  {
    name: "config: 300000 values in an annotation (pre-scan)",
    spec: config(`{"process":{},"root":{"path":"r"},"annotations":{"x":[${"0,".repeat(300000)}0]}}`),
    expect: /config.json: invalid JSON: more than 262144 values/
  },
  {
    name: "config: a 2 MiB string (pre-scan)",
    spec: config(`{"process":{},"root":{"path":"r"},"annotations":{"x":"${"a".repeat(2 * 1024 * 1024)}"}}`),
    expect: /config.json: invalid JSON: a string of 2097152 characters, more than 1048576/
  },
  { name: "config: an array", spec: config("[]"), expect: /expected a JSON object/ },
  { name: "config: no process", spec: config({ root: { path: "r" } }), expect: /Missing key; at \["process"\]/ },
  { name: "config: process null", spec: config({ process: null, root: { path: "r" } }), expect: /at \["process"\]/ },
  { name: "config: no root", spec: config({ process: {} }), expect: /Missing key; at \["root"\]/ },
  { name: "config: no root.path", spec: config({ process: {}, root: {} }), expect: /at \["root"\]\["path"\]/ },
  {
    name: "config: root.path a number",
    spec: config({ process: {}, root: { path: 1 } }),
    expect: /at \["root"\]\["path"\]/
  },
  {
    name: "config: env a string",
    spec: config({ process: { env: "A=1" }, root: { path: "r" } }),
    expect: /at \["process"\]\["env"\]/
  },
  {
    name: "config: env holds a number",
    spec: config({ process: { env: [1] }, root: { path: "r" } }),
    expect: /at \["process"\]\["env"\]\[0\]/
  },
  {
    name: "config: more than 65536 env entries",
    spec: config({ process: { env: Array.from({ length: 65537 }, () => "A=1") }, root: { path: "r" } }),
    expect: /65537 entries, more than 65536/
  },
  { name: "config: rootfs is /", spec: { ...npu, rootPath: "/" }, expect: /rootfs "\/" is the host's \// },
  {
    name: "config: rootfs climbs to /",
    spec: { ...npu, rootPath: "../../../../../../../../.." },
    expect: /is the host's \//
  },
  { name: "config: rootfs with a NUL", spec: { ...npu, rootPath: "/r\u0000" }, expect: /root.path holds a NUL/ },

  // ASCEND_VISIBLE_DEVICES
  ...[
    ["+1", /"\+1" is not a device id/],
    ["-1", /"-1"/],
    ["1-", /"1-"/],
    ["-", /"-"/],
    ["1--2", /not a range/],
    ["1-2-3", /not a range/],
    ["3-1", /left border above/],
    ["a", /"a" is not a device id/],
    ["0x1", /"0x1"/],
    ["1.0", /"1.0"/],
    ["1e3", /"1e3"/],
    ["1024", /out of range 0-1023/],
    ["99999999999999999999", /out of range/],
    ["0-50000000", /out of range/],
    ["1,", /item "" is empty/],
    [",", /is empty/],
    ["Ascend910-1024", /out of range/],
    ["npu-", /"npu-"/],
    ["NPU-1", /"NPU-1"/],
    ["Ascend-1", /"Ascend-1"/],
    ["\u0661", /is not a device id/],
    ["\uFF11", /is not a device id/],
    ["1\u00002", /is not a device id/],
    ["1;reboot", /is not a device id/],
    [`${"1,".repeat(2100)}1`, /value .* is longer than 4096 bytes/]
  ].map(([v, e]) => ({
    name: `ASCEND_VISIBLE_DEVICES=${JSON.stringify(v).slice(0, 40)}`,
    spec: dev(v as string),
    expect: e as RegExp
  })),

  // ASCEND_RUNTIME_MOUNTS
  ...[
    ["../../tmp/evil", /"..\/..\/tmp\/evil" is not a mount-list name/],
    ["..", /is not a mount-list name/],
    ["a..b", /"a..b" is not a mount-list name/],
    ["/etc/shadow", /is not a mount-list name/],
    [".hidden", /is not a mount-list name/],
    ["-x", /is not a mount-list name/],
    ["a b", /is not a mount-list name/],
    ["base,", /item "" is empty/],
    ["a".repeat(251), /longer than 250/],
    ["ba\u0000se", /is not a mount-list name/],
    ["\u212Aase", /is not a mount-list name/],
    ["nope", /nope.list: does not exist/],
    [`${"a,".repeat(2100)}a`, /longer than 4096 bytes/]
  ].map(([v, e]) => ({
    name: `ASCEND_RUNTIME_MOUNTS=${JSON.stringify(v).slice(0, 40)}`,
    spec: mounts(v as string),
    expect: e as RegExp
  })),

  // ASCEND_RUNTIME_OPTIONS
  ...[
    ["nodrv", /"nodrv" is not a runtime option/],
    ["NODRV,", /item "" is empty/],
    ["FOO", /"FOO" is not a runtime option/],
    ["NODRV VIRTUAL", /is not a runtime option/],
    ["NODRV;VIRTUAL", /is not a runtime option/],
    [`${"NODRV,".repeat(700)}NODRV`, /longer than 4096 bytes/]
  ].map(([v, e]) => ({
    name: `ASCEND_RUNTIME_OPTIONS=${JSON.stringify(v).slice(0, 40)}`,
    spec: options(v as string),
    expect: e as RegExp
  })),

  // mount-list contents
  {
    name: "list: relative line",
    spec: npu,
    mutate: list("/usr/lib\nlib64\n"),
    expect: /base.list:2: "lib64" is not an absolute path/
  },
  { name: "list: ./ line", spec: npu, mutate: list("./x\n"), expect: /base.list:1: ".\/x" is not an absolute path/ },
  { name: "list: ~ line", spec: npu, mutate: list("~/x\n"), expect: /base.list:1: "~\/x" is not an absolute path/ },
  {
    name: "list: a space inside",
    spec: npu,
    mutate: list("/usr/my lib\n"),
    expect: /characters the native CLI refuses/
  },
  { name: "list: a tab inside", spec: npu, mutate: list("/usr/a\tb\n"), expect: /NUL or control character/ },
  { name: "list: a control character", spec: npu, mutate: list("/usr/\u0001\n"), expect: /NUL or control character/ },
  { name: "list: non-ASCII", spec: npu, mutate: list("/usr/lïb\n"), expect: /characters the native CLI refuses/ },
  {
    name: "list: shell metacharacters",
    spec: npu,
    mutate: list("/x$(id)\n"),
    expect: /characters the native CLI refuses/
  },
  { name: "list: the host's /", spec: npu, mutate: list("/\n"), expect: /base.list:1: "\/" is the host's \// },
  { name: "list: /.. is /", spec: npu, mutate: list("/usr/../..\n"), expect: /is the host's \// },
  { name: "list: a line over 4096", spec: npu, mutate: list(`/${"a".repeat(4100)}\n`), expect: /longer than 4096/ },
  {
    name: "list: invalid UTF-8",
    spec: npu,
    mutate: list(Buffer.from([0x2f, 0xff, 0x0a])),
    expect: /characters the native CLI refuses/
  },
  {
    name: "list: over 1 MiB",
    spec: npu,
    mutate: list(`#${"x".repeat(1024 * 1024)}`),
    expect: /larger than 1048576 bytes/
  },
  { name: "list: over 1024 lines", spec: npu, mutate: list("\n".repeat(1025)), expect: /more than 1024 lines/ },
  {
    name: "list: 513 files to mount",
    spec: npu,
    mutate: (h) => {
      const dir = path.join(h.dir, "many")
      fs.mkdirSync(dir)
      const lines = Array.from({ length: 513 }, (_, i) => path.join(dir, `f${i}`))
      for (const l of lines) fs.writeFileSync(l, "")
      list(lines.join("\n"))(h)
    },
    expect: /base.list:513: more than 512 files to mount/
  },
  {
    name: "list: 513 dirs to mount",
    spec: npu,
    mutate: (h) => {
      const lines = Array.from({ length: 513 }, (_, i) => path.join(h.dir, "dirs", `d${i}`))
      for (const l of lines) fs.mkdirSync(l, { recursive: true })
      list(lines.join("\n"))(h)
    },
    expect: /more than 512 directories to mount/
  },

  // mount-list files: owner, mode, links, type
  {
    name: "list file: world-writable",
    spec: npu,
    mutate: (h) => fs.chmodSync(listPath(h), 0o666),
    expect: /untrusted mount list .*base.list: is writable by group or others \(mode 0666\)/
  },
  {
    name: "list file: group-writable",
    spec: npu,
    mutate: (h) => fs.chmodSync(listPath(h), 0o620),
    expect: /is writable by group or others \(mode 0620\)/
  },
  {
    name: "list file: owned by another user",
    spec: npu,
    mutate: (h) => fs.chownSync(listPath(h), 1000, 1000),
    expect: /base.list: is owned by uid 1000/
  },
  {
    name: "list file: a symlink",
    spec: npu,
    mutate: (h) => {
      fs.writeFileSync(path.join(h.dir, "elsewhere.list"), "/etc\n")
      fs.rmSync(listPath(h))
      fs.symlinkSync(path.join(h.dir, "elsewhere.list"), listPath(h))
    },
    expect: /base.list: is a symbolic link/
  },
  {
    name: "list file: a directory",
    spec: npu,
    mutate: (h) => {
      fs.rmSync(listPath(h))
      fs.mkdirSync(listPath(h))
    },
    expect: /base.list: is not a regular file \(Directory\)/
  },
  {
    name: "list file: a FIFO (must not block)",
    spec: npu,
    mutate: (h) => mkfifo(listPath(h)),
    expect: /base.list: is not a regular file \(FIFO\)/
  },

  // the config dir
  {
    name: "config dir: missing",
    spec: npu,
    mutate: (h) => fs.rmSync(h.configDir, { recursive: true }),
    expect: /config dir .*conf: does not exist/
  },
  {
    name: "config dir: a file",
    spec: npu,
    mutate: (h) => {
      fs.rmSync(h.configDir, { recursive: true })
      fs.writeFileSync(h.configDir, "")
    },
    expect: /config dir .*conf: is not a directory/
  },
  {
    name: "config dir: world-writable",
    spec: npu,
    mutate: (h) => fs.chmodSync(h.configDir, 0o777),
    expect: /untrusted config dir .*: is writable by group or others \(mode 0777\)/
  },
  {
    name: "config dir: sticky and world-writable",
    spec: npu,
    mutate: (h) => fs.chmodSync(h.configDir, 0o1777),
    expect: /mode 1777/
  },
  {
    name: "config dir: owned by another user",
    spec: npu,
    mutate: (h) => fs.chownSync(h.configDir, 1000, 1000),
    expect: /is owned by uid 1000/
  },
  {
    name: "config dir: a writable parent",
    spec: npu,
    mutate: (h) => fs.chmodSync(h.dir, 0o775),
    expect: (h) => new RegExp(`parent of config dir ${h.dir}: is writable`)
  },
  {
    name: "config dir: under /tmp",
    spec: npu,
    args: () => ["--config-dir", "/tmp"],
    expect: /untrusted config dir \/tmp: is writable by group or others \(mode 1777\)/
  },
  {
    name: "config dir: a link into a writable dir",
    spec: npu,
    mutate: (h) => {
      const open = path.join(h.dir, "open")
      fs.mkdirSync(path.join(open, "conf"), { recursive: true })
      fs.chmodSync(open, 0o777)
      fs.cpSync(h.configDir, path.join(open, "conf"), { recursive: true })
      fs.rmSync(h.configDir, { recursive: true })
      fs.symlinkSync(path.join(open, "conf"), h.configDir)
    },
    expect: /parent of config dir .*\/open: is writable/
  },

  // the CLI
  {
    name: "CLI: missing",
    spec: npu,
    args: (h) => ["--cli", path.join(h.dir, "nope")],
    expect: /untrusted CLI .*nope: does not exist/
  },
  {
    name: "CLI: a symlink",
    spec: npu,
    args: (h) => {
      fs.symlinkSync(h.cli, path.join(h.dir, "cli-link"))
      return ["--cli", path.join(h.dir, "cli-link")]
    },
    expect: /untrusted CLI .*cli-link: is a symbolic link/
  },
  {
    name: "CLI: not executable",
    spec: npu,
    args: (h) => {
      fs.copyFileSync(h.cli, path.join(h.dir, "cli"))
      fs.chmodSync(path.join(h.dir, "cli"), 0o644)
      return ["--cli", path.join(h.dir, "cli")]
    },
    expect: /untrusted CLI .*cli: is not executable/
  },
  {
    name: "CLI: world-writable",
    spec: npu,
    args: (h) => {
      fs.copyFileSync(h.cli, path.join(h.dir, "cli"))
      fs.chmodSync(path.join(h.dir, "cli"), 0o777)
      return ["--cli", path.join(h.dir, "cli")]
    },
    expect: /untrusted CLI .*cli: is writable by group or others \(mode 0777\)/
  },
  {
    name: "CLI: owned by another user",
    spec: npu,
    args: (h) => {
      fs.copyFileSync(h.cli, path.join(h.dir, "cli"))
      fs.chmodSync(path.join(h.dir, "cli"), 0o755)
      fs.chownSync(path.join(h.dir, "cli"), 1000, 1000)
      return ["--cli", path.join(h.dir, "cli")]
    },
    expect: /untrusted CLI .*cli: is owned by uid 1000/
  },
  {
    name: "CLI: in a writable directory",
    spec: npu,
    args: (h) => {
      fs.mkdirSync(path.join(h.dir, "open"), { mode: 0o777 })
      fs.chmodSync(path.join(h.dir, "open"), 0o777)
      fs.copyFileSync(h.cli, path.join(h.dir, "open", "cli"))
      fs.chmodSync(path.join(h.dir, "open", "cli"), 0o755)
      return ["--cli", path.join(h.dir, "open", "cli")]
    },
    expect: /untrusted parent of CLI .*\/open: is writable/
  },
  { name: "CLI: a directory", spec: npu, args: (h) => ["--cli", h.dir], expect: /is not a regular file \(Directory\)/ },
  {
    name: "CLI: not a valid executable (exec fails)",
    spec: npu,
    args: (h) => {
      fs.writeFileSync(path.join(h.dir, "cli"), "not a program")
      fs.chmodSync(path.join(h.dir, "cli"), 0o755)
      return ["--cli", path.join(h.dir, "cli")]
    },
    expect: /exec .*cli: /
  },

  // mount sources the native CLI would refuse late and without a name (its CheckLegality), refused first
  {
    name: "source: under a directory others can write",
    spec: npu,
    mutate: (h) => {
      fs.mkdirSync(path.join(h.dir, "open"), { mode: 0o777 })
      fs.chmodSync(path.join(h.dir, "open"), 0o777)
      fs.writeFileSync(path.join(h.dir, "open/npu-smi"), "")
      list(`${h.dir}/open/npu-smi\n`)(h)
    },
    expect: (h) =>
      new RegExp(
        `base.list:1: ${h.dir}/open/npu-smi: ${h.dir}/open is writable by group or others \\(mode 0777, owner uid 0\\).*fix: chmod go-w ${h.dir}/open`
      )
  },
  {
    name: "source: a file others can write",
    spec: npu,
    mutate: (h) => {
      fs.writeFileSync(path.join(h.dir, "lib.so"), "")
      fs.chmodSync(path.join(h.dir, "lib.so"), 0o666)
      list(`${h.dir}/lib.so\n`)(h)
    },
    expect: /lib.so: it is writable by group or others \(mode 0666/
  },
  {
    name: "source: a link (allowed) to a file under a directory others can write",
    spec: npu,
    mutate: (h) => {
      fs.mkdirSync(path.join(h.dir, "open"), { mode: 0o777 })
      fs.chmodSync(path.join(h.dir, "open"), 0o1777)
      fs.writeFileSync(path.join(h.dir, "open/real"), "")
      fs.symlinkSync(path.join(h.dir, "open/real"), path.join(h.dir, "via-link"))
      list(`${h.dir}/via-link\n`)(h)
    },
    expect: (h) => new RegExp(`via-link: ${h.dir}/open is writable by group or others \\(mode 1777`)
  },
  {
    name: "source: a symlinked parent, with the 2023 CLI",
    spec: npu,
    args: () => ["--cli-protocol", "2023"],
    mutate: (h) => {
      fs.mkdirSync(path.join(h.dir, "real"), { mode: 0o755 })
      fs.writeFileSync(path.join(h.dir, "real/f"), "")
      fs.symlinkSync(path.join(h.dir, "real"), path.join(h.dir, "linkdir"))
      list(`${h.dir}/linkdir/f\n`)(h)
    },
    expect: (h) =>
      new RegExp(`linkdir/f: ${h.dir}/linkdir \\(a parent\\) is a symbolic link, which today's CLI refuses`)
  },

  // destinations the image controls: a symlink in the rootfs must not carry a mount out of it
  {
    name: "destination: an absolute link in the image (/usr -> /tmp)",
    spec: npu,
    mutate: (h) => {
      fs.symlinkSync("/tmp", path.join(h.bundle, "rootfs/usr"))
      list("/usr/lib\n")(h)
    },
    expect:
      /mount destination \/usr\/lib under rootfs .*: \/usr in the image is a symbolic link to "\/tmp", which leads out of the rootfs/
  },
  {
    name: "destination: a relative link climbing out (../../../../etc)",
    spec: npu,
    mutate: (h) => {
      fs.mkdirSync(path.join(h.bundle, "rootfs/usr"), { recursive: true })
      fs.symlinkSync("../../../../../../../../etc", path.join(h.bundle, "rootfs/usr/lib"))
      list("/usr/lib\n")(h)
    },
    expect:
      /\/usr\/lib in the image is a symbolic link to "..\/..\/..\/..\/..\/..\/..\/..\/etc", which leads out of the rootfs \(to \/etc\)/
  },
  {
    name: "destination: an absolute link is the host's path even when the image has that path",
    spec: npu,
    mutate: (h) => {
      fs.symlinkSync("/inner", path.join(h.bundle, "rootfs/usr"))
      fs.mkdirSync(path.join(h.bundle, "rootfs/inner/lib"), { recursive: true })
      list("/usr/lib\n")(h)
    },
    expect: /\/usr in the image is a symbolic link to "\/inner", which leads out of the rootfs/
  },

  // the hook's own arguments (set by the installer, but still checked)
  { name: "args: unknown flag", args: () => ["--evil"], expect: /unknown argument "--evil"/ },
  { name: "args: flag without value", args: () => ["--config-dir"], expect: /--config-dir needs a value/ }
]

const hosts: Array<Host> = []
afterAll(() => {
  for (const h of hosts) cleanup(h.dir)
})

describe("the adversarial suite", () => {
  it("has at least 80 distinct cases", () => {
    assert.isAtLeast(new Set(cases.map((c) => c.name)).size, 80)
    assert.strictEqual(new Set(cases.map((c) => c.name)).size, cases.length)
  })
})

for (const build of processBuilds())
  describe(`hostile input is refused (${build}): one line, exit 1, nothing run`, () => {
    for (const c of cases) {
      it(c.name, () => {
        const h = makeHost(c.spec ?? npu)
        hosts.push(h)
        c.mutate?.(h)
        const extra = c.args?.(h) ?? []
        const run = runHook(h, { build, args: extra, ...(c.stdin ? { stdin: c.stdin(h) } : {}) })
        assert.strictEqual(run.status, 1, `status ${run.status}, stderr ${run.stderr}`)
        assert.isUndefined(run.cli, "the CLI must not run")
        assert.strictEqual(run.stdout, "")
        assert.match(run.stderr, /^ascend-docker-hook: [^\n]+\n$/, "exactly one line")
        assert.isAtMost(Buffer.byteLength(run.stderr), 1024)
        assert.notMatch(run.stderr, /\bat .*\.(c?js|ts):\d+/, "no stack trace")
        assert.match(run.stderr, typeof c.expect === "function" ? c.expect(h) : c.expect)
      })
    }
  })

describe("an unexpected defect in our own code", () => {
  it("still gives one line and exit 1, no crash dump", () => {
    const h = makeHost(dev("0-3"))
    hosts.push(h)
    const preload = path.join(h.dir, "defect.cjs")
    fs.writeFileSync(
      preload,
      'Uint8Array.prototype.fill = function () { throw new TypeError("injected defect\\nline two") }\n'
    )
    const run = runHook(h, { env: { NODE_OPTIONS: `--require ${preload}` } })
    assert.strictEqual(run.status, 1)
    assert.isUndefined(run.cli)
    assert.strictEqual(run.stderr, "ascend-docker-hook: internal error: injected defect; line two\n")
  })
})
