import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet"
import { RuntimeClass } from "kubernetes-models/node.k8s.io/v1/RuntimeClass"
import { Namespace } from "kubernetes-models/v1/Namespace"
import { parseAllDocuments } from "yaml"
import { BINARY, cleanup, inCI, ROOT, scratch } from "./support/fixtures.ts"

// deploy/kubernetes as `kubectl apply -k` sends it: rendered by kustomize (kubectl's own), each object
// validated against the Kubernetes API's OpenAPI schema (kubernetes-models: the official schemas compiled
// with ajv), then the DaemonSet read as the installer image must take it (NODE-SETUP-CONTRACT.md).

const DIR = path.join(ROOT, "deploy/kubernetes")
const version: string = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version

/** The schema of each kind the manifests may hold; any other kind fails the test. */
const MODELS: Record<string, { new (data: never): { validate(): void } }> = {
  "v1/Namespace": Namespace,
  "apps/v1/DaemonSet": DaemonSet,
  "node.k8s.io/v1/RuntimeClass": RuntimeClass
}

// biome-ignore lint/suspicious/noExplicitAny: a parsed manifest, navigated by the API's field names
type Manifest = any

const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" })
const noKubectl = kubectl.status === 0 ? undefined : "no kubectl (kustomize renders the manifests)"
if (noKubectl !== undefined && inCI) throw new Error(`CI: ${noKubectl}`)

/** `kubectl kustomize DIR`: exactly what `kubectl apply -k DIR` would send. */
const render = (dir: string): Array<Manifest> => {
  const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" })
  assert.strictEqual(r.status, 0, r.stderr)
  return parseAllDocuments(r.stdout).map((d) => d.toJS())
}

const validate = (m: Manifest): void => {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`]
  assert.isDefined(Model, `no schema for ${m.apiVersion} ${m.kind}`)
  new Model!(m as never).validate()
}

const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
const daemonSet = (): Manifest =>
  parseAllDocuments(fs.readFileSync(path.join(DIR, "daemonset.yaml"), "utf8"))[0]!.toJS()

/** The flags `node-setup` takes (the contract), and the values of those that have a fixed set. */
const NODE_SETUP_FLAGS: Record<string, ReadonlyArray<string> | "dir" | "none"> = {
  "--host-root": "dir",
  "--runtime": ["docker", "containerd", "crio"],
  "--mode": ["hook", "cdi"],
  "--cli-protocol": ["2021", "2023"],
  "--unprivileged-env": ["accept", "ignore", "refuse"],
  "--default-runtime": "none",
  "--prefix": "dir",
  "--restart-mode": ["signal", "systemd", "none"],
  "--keep-on-exit": "none",
  "--probe": "none"
}
/** The host paths the contract lets the DaemonSet mount, and whether each is written. */
const HOST_PATHS: Record<string, "rw" | "ro"> = { "/etc": "rw", "/usr/local": "rw", "/run": "rw", "/dev": "ro" }

/** The flags in an argv (after the subcommand), each with its value; a flag not in the contract fails. */
const flagsOf = (args: ReadonlyArray<string>): Array<[string, string | undefined]> => {
  const out: Array<[string, string | undefined]> = []
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!
    const kind = NODE_SETUP_FLAGS[flag]
    assert.isDefined(kind, `${flag} (in ${args.join(" ")}) is not a node-setup flag`)
    if (kind === "none") out.push([flag, undefined])
    else {
      const value = args[++i]
      assert.isDefined(value, `${flag} needs a value`)
      if (kind === "dir") assert.match(value!, /^\//, `${flag} takes an absolute path`)
      else assert.include(kind, value, `${flag} ${value}`)
      out.push([flag, value])
    }
  }
  return out
}

const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) cleanup(d)
})

describe("deploy/kubernetes", () => {
  it("every manifest is valid against the Kubernetes API schema", () => {
    assert.deepStrictEqual(files.sort(), ["daemonset.yaml", "namespace.yaml", "runtimeclass.yaml"])
    for (const f of files)
      for (const doc of parseAllDocuments(fs.readFileSync(path.join(DIR, f), "utf8"))) {
        assert.deepStrictEqual(doc.errors, [], f)
        validate(doc.toJS())
      }
  })

  it("the schema check catches a wrong field type (it is not a pass-through)", () => {
    const ds = daemonSet()
    ds.spec.template.spec.hostPID = "true"
    assert.throws(() => validate(ds), /hostPID must be boolean/)
    const ds2 = daemonSet()
    ds2.spec.template.spec.containers[0].volumeMounts[0].readOnly = "no"
    assert.throws(() => validate(ds2), /readOnly must be boolean/)
  })

  it.skipIf(noKubectl !== undefined)(
    "kubectl apply -k renders the namespace, the DaemonSet and the RuntimeClass, all schema-valid",
    () => {
      const docs = render(DIR)
      assert.deepStrictEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(), [
        "DaemonSet/ascend-node-setup",
        "Namespace/ascend-docker-hook",
        "RuntimeClass/ascend"
      ])
      for (const d of docs) validate(d)
      const ds = docs.find((d) => d.kind === "DaemonSet")
      assert.strictEqual(ds.metadata.namespace, "ascend-docker-hook")
      assert.isUndefined(docs.find((d) => d.kind === "RuntimeClass").metadata.namespace, "RuntimeClass is cluster-wide")
      assert.strictEqual(ds.spec.template.spec.containers[0].image, `ascend-docker-hook:${version}`)
    }
  )

  it.skipIf(noKubectl !== undefined)("an overlay's images: entry points the DaemonSet at the admin's registry", () => {
    const overlay = scratch()
    dirs.push(overlay)
    fs.writeFileSync(
      path.join(overlay, "kustomization.yaml"),
      `# bases: (not resources:) so the kustomize of older kubectl (Debian's 1.20) reads a directory too\nbases:\n  - ${path.relative(overlay, DIR)}\nimages:\n  - name: ascend-docker-hook\n    newName: registry.example.com/ascend/ascend-docker-hook\n    newTag: "${version}"\n`
    )
    const ds = render(overlay).find((d) => d.kind === "DaemonSet")
    assert.strictEqual(
      ds.spec.template.spec.containers[0].image,
      `registry.example.com/ascend/ascend-docker-hook:${version}`
    )
  })

  it("the image placeholder and the kustomization's tag are this version", () => {
    const k = parseAllDocuments(fs.readFileSync(path.join(DIR, "kustomization.yaml"), "utf8"))[0]!.toJS()
    assert.deepStrictEqual(k.resources.sort(), [...files].sort())
    assert.deepStrictEqual(k.images, [{ name: "ascend-docker-hook", newName: "ascend-docker-hook", newTag: version }])
    assert.strictEqual(daemonSet().spec.template.spec.containers[0].image, `ascend-docker-hook:${version}`)
  })

  it("the DaemonSet runs node-setup with the contract's flags, and mounts the contract's host paths only", () => {
    const spec = daemonSet().spec.template.spec
    assert.strictEqual(spec.hostPID, true)
    assert.strictEqual(spec.containers.length, 1)
    const c = spec.containers[0]
    assert.deepStrictEqual(c.command, ["/usr/bin/ascend-docker-hook", "node-setup"])
    const flags = flagsOf(c.args)
    const hostRoot = flags.find(([f]) => f === "--host-root")?.[1] ?? "/host"
    assert.isTrue(
      flags.some(([f]) => f === "--runtime"),
      "at least one --runtime"
    )
    assert.deepStrictEqual(c.readinessProbe.exec.command, ["/usr/bin/ascend-docker-hook", "node-setup", "--probe"])
    flagsOf(c.readinessProbe.exec.command.slice(2))
    assert.strictEqual(c.securityContext.privileged, true)
    assert.isAtLeast(spec.terminationGracePeriodSeconds, 60)

    const volumes = new Map<string, Manifest>(spec.volumes.map((v: Manifest) => [v.name, v]))
    const mounted: Record<string, "rw" | "ro"> = {}
    for (const m of c.volumeMounts) {
      const hostPath = volumes.get(m.name)?.hostPath?.path
      assert.isString(hostPath, `${m.name} is a hostPath volume`)
      assert.strictEqual(m.mountPath, `${hostRoot}${hostPath}`, `${hostPath} at the same path under ${hostRoot}`)
      mounted[hostPath] = m.readOnly === true ? "ro" : "rw"
    }
    assert.deepStrictEqual(mounted, HOST_PATHS)
    assert.strictEqual(volumes.size, Object.keys(HOST_PATHS).length, "no volume beyond the mounted ones")
  })

  it("its nodes are NPU nodes, chosen by a label the admin can change, taints tolerated", () => {
    const ds = daemonSet()
    const terms = ds.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
    const accelerator = terms.nodeSelectorTerms[0].matchExpressions.find((e: Manifest) => e.key === "accelerator")
    assert.includeMembers(accelerator.values, ["huawei-Ascend910", "huawei-Ascend310P", "huawei-Ascend310"])
    const tolerated = ds.spec.template.spec.tolerations.map((t: Manifest) => t.key)
    assert.includeMembers(tolerated, ["huawei.com/Ascend910", "huawei.com/Ascend310P", "huawei.com/Ascend310"])
    assert.strictEqual(ds.spec.updateStrategy.type, "RollingUpdate")
    const limits = ds.spec.template.spec.containers[0].resources
    assert.strictEqual(limits.requests.memory, "32Mi")
    assert.strictEqual(limits.limits.memory, "128Mi")
  })

  // Holds once node-setup (branch i20img) is merged: the binary's own help must name every flag the
  // DaemonSet and its probe pass.
  it("the binary's node-setup accepts the DaemonSet's command", () => {
    const c = daemonSet().spec.template.spec.containers[0]
    const r = spawnSync(BINARY, ["node-setup", "--help"], { encoding: "utf8" })
    assert.strictEqual(r.status, 0, `${BINARY} node-setup --help: ${r.stderr}`)
    for (const arg of [...c.args, ...c.readinessProbe.exec.command.slice(2)])
      if (arg.startsWith("--")) assert.include(r.stdout, arg, `node-setup --help names ${arg}`)
  })
})
