// Runs the built hook on the bundled example, the way runc would: the state on stdin, cwd the bundle.
// The hook trusts only root-owned files that nobody else can write, in directories nobody else can
// write, so the example is first copied to a private directory (a clone may sit anywhere, even /tmp).
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const base = fs.existsSync(path.join(os.homedir(), ".cache")) ? path.join(os.homedir(), ".cache") : os.homedir()
const work = path.join(base, "ascend-docker-hook-example")
fs.rmSync(work, { recursive: true, force: true })
fs.cpSync(path.join(root, "example"), work, { recursive: true })
for (const entry of fs.readdirSync(work, { recursive: true, withFileTypes: true })) {
  const p = path.join(entry.parentPath, entry.name)
  fs.chmodSync(p, entry.isDirectory() || entry.name === "ascend-docker-cli" ? 0o755 : 0o644)
}
fs.chmodSync(work, 0o755)

const bundle = path.join(work, "bundle")
const state = JSON.stringify({ ociVersion: "1.0.2", id: "example", status: "creating", pid: process.pid, bundle })
const args = [
  path.join(root, "dist/ascend-docker-hook.cjs"),
  "--config-dir",
  path.join(work, "ascend-docker-runtime.d"),
  "--cli",
  path.join(work, "ascend-docker-cli"),
  ...process.argv.slice(2)
]
console.log(
  `container env: ${JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"))
    .process.env.slice(1)
    .join(" ")}`
)
console.log(
  `$ echo '${state}' | node ${args.map((a) => (a.startsWith(root) ? path.relative(root, a) : a)).join(" ")}\n`
)
const run = spawnSync(process.execPath, args, { cwd: bundle, input: state, stdio: ["pipe", "inherit", "inherit"] })
process.exitCode = run.status ?? 1
