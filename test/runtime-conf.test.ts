import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { parseRuntimeConf } from "../src/wrapper/RuntimeConf.ts"
import { BINARY, cleanup, type Host, makeHost } from "./support/fixtures.ts"

// The wrapper's settings file and the request channels a pod cannot forge, with the built wrapper as a
// process: runc is the recording stand-in (it records the argv the wrapper handed it), and config.json is
// read back to see what the wrapper wrote.

const hosts: Array<Host> = []
afterAll(() => {
  for (const h of hosts) cleanup(h.dir)
})

const UNPRIVILEGED = ["PATH=/bin", "ASCEND_VISIBLE_DEVICES=0"]
const host = (config?: unknown) => {
  const h = makeHost({ env: UNPRIVILEGED, ...(config === undefined ? {} : { config }) })
  hosts.push(h)
  fs.symlinkSync(BINARY, path.join(h.dir, "ascend-docker-runtime"))
  return h
}
const conf = (h: Host, text: string, mode = 0o644) => {
  fs.writeFileSync(path.join(h.configDir, "runtime.conf"), text, { mode })
  fs.chmodSync(path.join(h.configDir, "runtime.conf"), mode)
}
/** `ascend-docker-runtime create` on the host's bundle; what runc got and what config.json became. */
const create = (h: Host, env: Record<string, string> = {}) => {
  fs.rmSync(h.record, { force: true })
  const before = fs.readFileSync(path.join(h.bundle, "config.json"), "utf8")
  const r = spawnSync(path.join(h.dir, "ascend-docker-runtime"), ["create", "--bundle", h.bundle, "c1"], {
    encoding: "utf8",
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      ADH_RECORD: h.record,
      ASCEND_DOCKER_RUNTIME_RUNC: h.cli,
      ASCEND_DOCKER_RUNTIME_CONFIG_DIR: h.configDir,
      ...env
    }
  })
  const after = fs.readFileSync(path.join(h.bundle, "config.json"), "utf8")
  const runc = fs.existsSync(h.record) ? JSON.parse(fs.readFileSync(h.record, "utf8")) : undefined
  const config = JSON.parse(after) as {
    process: { env: Array<string> }
    hooks?: { prestart?: Array<{ path: string; args: Array<string> }> }
  }
  return { ...r, before, after, config, ranRunc: runc !== undefined }
}

describe("runtime.conf: the wrapper's settings file", () => {
  it("parses KEY=VALUE lines of known keys; anything else is one line naming where", () => {
    assert.deepStrictEqual(parseRuntimeConf("# c\n\nASCEND_DOCKER_RUNTIME_MODE = cdi\n"), {
      ASCEND_DOCKER_RUNTIME_MODE: "cdi"
    })
    assert.match(parseRuntimeConf("A=1\n") as string, /^runtime.conf:1: unknown setting "A"/)
    assert.match(parseRuntimeConf("\nnope\n") as string, /^runtime.conf:2: not KEY=VALUE/)
    assert.match(parseRuntimeConf("ASCEND_DOCKER_RUNTIME_RUNC=/x\n") as string, /unknown setting/, "runc: env only")
    assert.match(
      parseRuntimeConf("ASCEND_DOCKER_RUNTIME_MODE=cdi\nASCEND_DOCKER_RUNTIME_MODE=hook\n") as string,
      /:2: ASCEND_DOCKER_RUNTIME_MODE set twice/
    )
  })

  it("its unprivileged-env policy applies, and the daemon's env wins over it", () => {
    const h = host()
    conf(h, "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=refuse\n")
    const refused = create(h)
    assert.strictEqual(refused.status, 1)
    assert.match(refused.stderr, /^ascend-docker-runtime: .*CAP_SYS_ADMIN/)
    assert.strictEqual(refused.after, refused.before, "config.json untouched")
    assert.isFalse(refused.ranRunc)
    const accepted = create(h, { ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: "accept" })
    assert.strictEqual(accepted.status, 0, accepted.stderr)
    assert.isTrue(accepted.ranRunc)
    assert.strictEqual(accepted.config.hooks?.prestart?.length, 1)
  })

  it("a file others may write, or a link, is refused: it decides what every container gets", () => {
    const h = host()
    conf(h, "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=accept\n", 0o666)
    const r = create(h)
    assert.strictEqual(r.status, 1)
    assert.match(r.stderr, /runtime.conf \(or its directory\) is not root's or is writable by others/)
    assert.strictEqual(r.stderr.split("\n").length, 2)
    assert.isFalse(r.ranRunc)
    fs.rmSync(path.join(h.configDir, "runtime.conf"))
    fs.writeFileSync(path.join(h.dir, "elsewhere.conf"), "ASCEND_DOCKER_RUNTIME_MODE=cdi\n")
    fs.symlinkSync(path.join(h.dir, "elsewhere.conf"), path.join(h.configDir, "runtime.conf"))
    assert.match(create(h).stderr, /runtime.conf is not a regular file/)
  })

  it("a bad line fails the create with the line's number, runc not run", () => {
    const h = host()
    conf(h, "ASCEND_DOCKER_RUNTIME_MODE=cdi\nASCEND_DOCKER_RUNTIME_MOD=hook\n")
    const r = create(h)
    assert.strictEqual(r.status, 1)
    assert.match(r.stderr, /runtime.conf:2: unknown setting "ASCEND_DOCKER_RUNTIME_MOD"/)
    assert.isFalse(r.ranRunc)
  })

  it("pass-through commands never read it (a broken file does not stop runc state/delete)", () => {
    const h = host()
    conf(h, "garbage\n", 0o666)
    const r = spawnSync(path.join(h.dir, "ascend-docker-runtime"), ["state", "c1"], {
      encoding: "utf8",
      env: { ADH_RECORD: h.record, ASCEND_DOCKER_RUNTIME_RUNC: h.cli, ASCEND_DOCKER_RUNTIME_CONFIG_DIR: h.configDir }
    })
    assert.strictEqual(r.status, 0, r.stderr)
  })
})

describe("CDI annotations: a request a pod cannot forge", () => {
  const annotated = (annotations: Record<string, unknown>, env = UNPRIVILEGED) => ({
    process: { env },
    root: { path: "rootfs" },
    annotations
  })

  it("is honoured for an unprivileged container whatever the policy, and goes first in its env", () => {
    const h = host(annotated({ "cdi.k8s.io/ascend-device-plugin_work": "ascend.com/npu=1,ascend.com/npu=3" }))
    conf(h, "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=refuse\n")
    const r = create(h)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.isTrue(r.ranRunc)
    assert.deepStrictEqual(r.config.process.env, [
      "PATH=/bin",
      "ASCEND_VISIBLE_DEVICES=1,3",
      "ASCEND_DOCKER_RUNTIME=True"
    ])
    const hook = r.config.hooks!.prestart![0]!
    assert.notInclude(hook.args, "--unprivileged-env", "the hook must not refuse what the wrapper honoured")
  })

  it("under ignore, the env of an unprivileged container is no request, the annotation is", () => {
    const h = host()
    conf(h, "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=ignore\n")
    const ignored = create(h)
    assert.strictEqual(ignored.status, 0, ignored.stderr)
    assert.isUndefined(ignored.config.hooks, "no hook for an ignored env request")
    const malformed = host({ process: { env: ["PATH=/bin", "ASCEND_VISIBLE_DEVICES=0-x"] }, root: { path: "rootfs" } })
    conf(malformed, "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=ignore\n")
    const unread = create(malformed)
    assert.strictEqual(unread.status, 0, unread.stderr)
    assert.isTrue(unread.ranRunc, "ignored unread: a malformed env request is no request either")
    assert.isUndefined(unread.config.hooks)
    const a = host(
      annotated({ "cdi.k8s.io/x": "huawei.com/npu=0", "other.io/y": "ascend.com/npu=7", "cdi.k8s.io/z": 5 })
    )
    conf(a, "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV=ignore\n")
    const honoured = create(a)
    assert.strictEqual(honoured.status, 0, honoured.stderr)
    assert.include(honoured.config.process.env, "ASCEND_VISIBLE_DEVICES=0", "only cdi.k8s.io/ string values count")
    assert.strictEqual(honoured.config.hooks?.prestart?.length, 1)
  })

  it("ascend.com/npu=all is every NPU node the host has; a host with none refuses it, in one line", () => {
    const devRoot = (h: Host, ids: ReadonlyArray<number>) => {
      const dir = path.join(h.dir, "dev")
      fs.mkdirSync(dir, { mode: 0o755 })
      for (const id of ids) {
        const made = spawnSync("mknod", ["-m", "0660", path.join(dir, `davinci${id}`), "c", "240", String(id)])
        assert.strictEqual(made.status, 0, String(made.stderr))
      }
      fs.writeFileSync(path.join(dir, "davinci9"), "", { mode: 0o644 }) // not a device: not an NPU
      return dir
    }
    const h = host(annotated({ "cdi.k8s.io/x": "ascend.com/npu=all,ascend.com/npu=2" }, ["PATH=/bin"]))
    const r = create(h, { ASCEND_DOCKER_RUNTIME_DEV_ROOT: devRoot(h, [2, 0, 11]) })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.config.process.env, "ASCEND_VISIBLE_DEVICES=0,2,11")
    assert.strictEqual(r.config.hooks?.prestart?.length, 1)
    const none = host(annotated({ "cdi.k8s.io/x": "ascend.com/npu=all" }, ["PATH=/bin"]))
    const refused = create(none, { ASCEND_DOCKER_RUNTIME_DEV_ROOT: devRoot(none, []) })
    assert.strictEqual(refused.status, 1)
    assert.match(
      refused.stderr,
      /^ascend-docker-runtime: [^\n]*has no davinci<N> node, and a CDI annotation asks for all NPUs[^\n]*\n$/
    )
    assert.isFalse(refused.ranRunc)
    assert.strictEqual(refused.after, refused.before, "nothing written")
  })

  it("an annotated request whose nodes the engine already put in the config (CDI applied by the engine): only the mark", () => {
    const applied = {
      ...annotated({ "cdi.k8s.io/x": "ascend.com/npu=1" }, ["PATH=/bin"]),
      linux: { devices: [{ path: "/dev/davinci1", type: "c", major: 240, minor: 1 }] }
    }
    const h = host(applied)
    const r = create(h)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.isTrue(r.ranRunc)
    assert.isUndefined(r.config.hooks, "no hook: the engine gave the NPU, the CLI must not mount it again")
    assert.deepStrictEqual(r.config.process.env, ["PATH=/bin", "ASCEND_DOCKER_RUNTIME=True"])
    // One of two NPUs given by the engine is not the request done: the wrapper serves it as before.
    const partial = host({ ...applied, annotations: { "cdi.k8s.io/x": "ascend.com/npu=1,ascend.com/npu=2" } })
    const p = create(partial)
    assert.strictEqual(p.status, 0, p.stderr)
    assert.strictEqual(p.config.hooks?.prestart?.length, 1)
  })

  it("an annotation of another vendor's kind is no request", () => {
    const h = host(annotated({ "cdi.k8s.io/gpu": "nvidia.com/gpu=0" }, ["PATH=/bin"]))
    const r = create(h)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.isUndefined(r.config.hooks)
  })
})
