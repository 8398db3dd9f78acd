import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import {
  DEV_LINKS_SERVICE,
  devLinkUnits,
  REFRESH_ENV,
  REFRESH_PATH,
  REFRESH_SERVICE,
  refreshUnits
} from "../src/commands/SystemdUnits.ts"
import { BINARY, cleanup, inCI, scratch } from "./support/fixtures.ts"

// The systemd units install sets up for a host that changes (the CDI refresh, the /dev/char links at boot),
// checked by systemd's own verifier. systemd is not PID 1 on these machines: nothing here starts a unit;
// the refresh's command is run by hand in cdi.test.ts and e2e.podman.test.ts.

const verifier = spawnSync("systemd-analyze", ["--version"]).status === 0
if (!verifier) {
  if (inCI) throw new Error("systemd-analyze is missing: the unit files cannot be verified (Debian's systemd has it)")
  console.warn("SKIPPING the unit-file checks outside CI: no systemd-analyze")
}

const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) cleanup(d)
})

/** Writes the units to a scratch dir (named as install names them) and runs systemd-analyze verify on them. */
const verify = (units: ReadonlyArray<{ name: string; content: string }>) => {
  const dir = scratch()
  dirs.push(dir)
  const files = units.map((u) => {
    const file = path.join(dir, u.name)
    fs.writeFileSync(file, u.content)
    return file
  })
  return spawnSync("systemd-analyze", ["verify", ...files.filter((f) => !f.endsWith(".env"))], { encoding: "utf8" })
}

describe.runIf(verifier)("the units install writes pass systemd-analyze verify", () => {
  it("the CDI refresh: a oneshot service and a path unit watching the driver, the lists and the binary", () => {
    const units = refreshUnits(BINARY)
    const r = verify(units)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stderr, "", "no warning either (an unknown key is only a warning)")
    const byName = Object.fromEntries(units.map((u) => [u.name, u]))
    const pathUnit = byName[REFRESH_PATH]!.content
    assert.include(pathUnit, `Unit=${REFRESH_SERVICE}`, "the path unit starts the service install writes")
    assert.include(pathUnit, "PathChanged=/usr/local/Ascend/driver/version.info")
    assert.include(pathUnit, "PathChanged=/etc/ascend-docker-runtime.d")
    assert.include(pathUnit, `PathChanged=${BINARY}`)
    const service = byName[REFRESH_SERVICE]!.content
    assert.include(service, `EnvironmentFile=-${REFRESH_ENV}`)
    assert.include(service, `ExecStart=${BINARY} cdi generate --refresh $ASCEND_CDI_REFRESH_FLAGS`)
    assert.strictEqual(units.find((u) => u.path === REFRESH_ENV)?.enable, false, "the env file is no unit")
  })

  it("the /dev/char links at boot, before the engines", () => {
    const units = devLinkUnits(BINARY)
    const r = verify(units)
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stderr, "")
    assert.strictEqual(units[0]!.name, DEV_LINKS_SERVICE)
    assert.match(units[0]!.content, /^Before=containerd.service docker.service crio.service kubelet.service$/m)
  })

  it("the verifier does fail: a unit whose command is not there is refused", () => {
    const r = verify(devLinkUnits("/nonexistent/ascend-docker-hook"))
    assert.notStrictEqual(r.status, 0)
    assert.match(r.stderr, /is not executable/)
  })
})

describe("the refresh's command, as systemd runs it (EnvironmentFile, $VAR split on white space)", () => {
  it("the env file's flags are ones cdi generate takes", () => {
    const env = refreshUnits(BINARY).find((u) => u.path === REFRESH_ENV)!.content
    const line = env.split("\n").find((l) => l.startsWith("ASCEND_CDI_REFRESH_FLAGS="))!
    const flags = line.slice(line.indexOf("=") + 1).split(/\s+/)
    const r = spawnSync(BINARY, ["cdi", "generate", "--refresh", ...flags, "--dev-root", "/nonexistent", "--dry-run"], {
      encoding: "utf8",
      env: {}
    })
    // No NPU under that dev root: the one line says so, and no flag was refused.
    assert.strictEqual(r.stderr, "")
    assert.match(
      r.stdout,
      /^no NPU device nodes \(davinciN\) under \/nonexistent; no spec at \/var\/run\/cdi\/ascend.com-npu.json\n$/
    )
  })
})
