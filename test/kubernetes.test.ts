import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { parse as parseToml } from "smol-toml"
import { BINARY, cleanup, ROOT, scratch } from "./support/fixtures.ts"

// biome-ignore lint/suspicious/noExplicitAny: parsed TOML navigated by known keys
type Toml = any
const toml = (file: string): Toml => parseToml(fs.readFileSync(file, "utf8"))

// The Kubernetes manifest names the handler that install registers: if one changes, pods with
// runtimeClassName: ascend would be rejected by every node ("no runtime for handler").

const manifest = fs.readFileSync(path.join(ROOT, "deploy/kubernetes/runtimeclass.yaml"), "utf8")
/** The manifest's top-level `key: value` pairs (comments and nested blocks skipped). */
const topLevel = Object.fromEntries(
  manifest
    .split("\n")
    .filter((l) => /^[a-zA-Z]+: \S/.test(l))
    .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2).trim()])
)

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots) cleanup(r)
})

describe("deploy/kubernetes/runtimeclass.yaml", () => {
  it("is a node.k8s.io/v1 RuntimeClass named ascend", () => {
    assert.strictEqual(topLevel.apiVersion, "node.k8s.io/v1")
    assert.strictEqual(topLevel.kind, "RuntimeClass")
    assert.match(manifest, /^metadata:\n {2}name: ascend$/m)
  })

  it("its handler is the runtime install registers with containerd (both config versions) and CRI-O", () => {
    const root = scratch()
    roots.push(root)
    fs.mkdirSync(path.join(root, "etc/containerd"), { recursive: true })
    fs.writeFileSync(path.join(root, "etc/containerd/config.toml"), "version = 3\n")
    const r = spawnSync(BINARY, ["install", "--root", root, "--runtime", "containerd", "--runtime", "crio"], {
      encoding: "utf8"
    })
    assert.strictEqual(r.status, 0, r.stderr)
    const containerd = toml(path.join(root, "etc/containerd/conf.d/99-ascend.toml"))
    const crio = toml(path.join(root, "etc/crio/crio.conf.d/99-ascend.conf"))
    const handler = topLevel.handler
    assert.strictEqual(handler, "ascend")
    assert.deepStrictEqual(Object.keys(containerd.plugins["io.containerd.cri.v1.runtime"].containerd.runtimes), [
      handler
    ])
    assert.deepStrictEqual(Object.keys(crio.crio.runtime.runtimes), [handler])

    const v2 = scratch()
    roots.push(v2)
    assert.strictEqual(spawnSync(BINARY, ["install", "--root", v2, "--runtime", "containerd"]).status, 0)
    const old = toml(path.join(v2, "etc/containerd/conf.d/99-ascend.toml"))
    assert.deepStrictEqual(Object.keys(old.plugins["io.containerd.grpc.v1.cri"].containerd.runtimes), [handler])
  })
})
