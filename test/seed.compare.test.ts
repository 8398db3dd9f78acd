import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { cleanup, HOOK, type Host, inCI, makeHost, NODE, ROOT, recordingCli, scratch } from "./support/fixtures.ts"

// Side by side with the original: the Go seed (../shared/seed), built here with its config dir pointed
// at a test directory, and this hook run on the same generated containers, wherever SPEC.md says the two
// agree (ids already ascending and unique, canonical options, clean list files). The CLI's argv must be
// identical, byte for byte, argv[0] included.

const SEED = path.join(ROOT, "../shared/seed/ascend-docker-hook.go")
const GOPATH = "/usr/share/gocode"
const haveGo =
  spawnSync("go", ["version"]).status === 0 &&
  fs.existsSync(path.join(GOPATH, "src/github.com/opencontainers/runtime-spec")) &&
  fs.existsSync(SEED)
if (!haveGo) {
  if (inCI)
    throw new Error(
      "the seed comparison cannot run in CI: Go or the OCI spec package is missing (.ci/run installs them)"
    )
  console.warn("SKIPPING the seed comparison outside CI: no Go toolchain with golang-github-opencontainers-specs-dev")
}

let work = ""
let conf = ""
let seedBin = ""
let cli = ""

beforeAll(() => {
  if (!haveGo) return
  work = scratch()
  conf = path.join(work, "conf")
  fs.mkdirSync(conf, { mode: 0o755 })
  const src = path.join(work, "src")
  fs.mkdirSync(src)
  fs.writeFileSync(
    path.join(src, "main.go"),
    fs.readFileSync(SEED, "utf8").replace('"/etc/ascend-docker-runtime.d"', JSON.stringify(conf))
  )
  const bin = path.join(work, "bin")
  fs.mkdirSync(bin, { mode: 0o755 })
  seedBin = path.join(bin, "ascend-docker-hook")
  execFileSync("go", ["build", "-o", seedBin, "."], {
    cwd: src,
    env: { ...process.env, GO111MODULE: "off", GOPATH, GOCACHE: path.join(work, "gocache") }
  })
  cli = path.join(bin, "ascend-docker-cli")
  fs.copyFileSync(recordingCli(), cli)
  fs.chmodSync(cli, 0o755)
  for (let i = 0; i < 6; i++) fs.mkdirSync(path.join(work, "data", `d${i}`), { recursive: true })
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(work, "data", `f${i}`), "")
})
afterAll(() => {
  if (haveGo) cleanup(work)
})

/** mulberry32, seeded: the same cases every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Case {
  readonly env: Array<string>
  readonly lists: Record<string, string>
}

/** A container both hooks must treat the same: ascending unique ids, canonical options, clean lists. */
const generate = (rand: () => number): Case => {
  const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(rand() * xs.length)]!
  const items: Array<string> = []
  let next = Math.floor(rand() * 4)
  const count = 1 + Math.floor(rand() * 4)
  for (let i = 0; i < count; i++) {
    if (rand() < 0.3) {
      const end = next + 1 + Math.floor(rand() * 3)
      items.push(`${next}-${end}`)
      next = end + 1 + Math.floor(rand() * 3)
    } else {
      items.push(String(next))
      next += 1 + Math.floor(rand() * 5)
    }
  }
  const paths = [
    ...Array.from({ length: 6 }, (_, i) => `${work}/data/d${i}`),
    ...Array.from({ length: 6 }, (_, i) => `${work}/data/f${i}`),
    "/nonexistent/x",
    "/dev/null"
  ]
  // Each path at most once over both lists: the seed passes a path as often as it is listed, we once.
  const shuffled = [...paths].sort(() => rand() - 0.5)
  const base = shuffled.slice(0, 1 + Math.floor(rand() * 5))
  const extra = shuffled.slice(6, 6 + 1 + Math.floor(rand() * 5))
  Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(paths))
    .filter((p, i, a) => a.indexOf(p) === i)
    .join("\n")
  const names = pick([[], ["base"], ["base", "extra"], ["extra"]])
  const env = ["PATH=/bin", `ASCEND_VISIBLE_DEVICES=${items.join(",")}`]
  if (names.length > 0) env.push(`ASCEND_RUNTIME_MOUNTS=${names.join(",")}`)
  const options = pick(["", "NODRV", "VIRTUAL", "NODRV,VIRTUAL"])
  if (options !== "") env.push(`ASCEND_RUNTIME_OPTIONS=${options}`)
  return { env, lists: { base: `${base.join("\n")}\n`, extra: extra.join("\n") } }
}

const runBoth = (c: Case) => {
  for (const [name, text] of Object.entries(c.lists)) fs.writeFileSync(path.join(conf, `${name}.list`), text)
  const h: Host = makeHost({ env: c.env, lists: {} })
  try {
    const run = (cmd: string, args: ReadonlyArray<string>) => {
      const record = path.join(h.dir, "record.json")
      fs.rmSync(record, { force: true })
      const r = spawnSync(cmd, args, { cwd: h.bundle, input: h.state, env: { ADH_RECORD: record }, encoding: "utf8" })
      assert.strictEqual(r.status, 0, `${cmd}: ${r.stderr}`)
      return JSON.parse(fs.readFileSync(record, "utf8")).argv as Array<string>
    }
    return { seed: run(seedBin, []), ours: run(NODE, [HOOK, "--config-dir", conf, "--cli", cli]) }
  } finally {
    cleanup(h.dir)
  }
}

describe.runIf(haveGo)("the same argv as the Go seed where SPEC.md says we agree", () => {
  it("60 generated containers: devices, ranges, mount lists of files, dirs, missing paths and devices, options", () => {
    const rand = prng(20261128)
    for (let i = 0; i < 60; i++) {
      const c = generate(rand)
      const { seed, ours } = runBoth(c)
      assert.deepStrictEqual(ours, seed, JSON.stringify(c))
    }
  })

  it("where SPEC.md says we differ, we do: 3,1,2 and 1,2,1", () => {
    fs.writeFileSync(path.join(conf, "base.list"), "")
    const unsorted = runBoth({ env: ["ASCEND_VISIBLE_DEVICES=3,1,2"], lists: { base: "" } })
    assert.strictEqual(unsorted.seed[2], "3,1,2")
    assert.strictEqual(unsorted.ours[2], "1,2,3")
    const dup = runBoth({ env: ["ASCEND_VISIBLE_DEVICES=1,2,1"], lists: { base: "" } })
    assert.strictEqual(dup.seed[2], "1,2,1")
    assert.strictEqual(dup.ours[2], "1,2")
  })
})
