// Time on hostile input: the worst inputs we could construct for each parser, timed in-process (the work
// itself, without Node's start-up; inputs are built before timing). Prints medians of 15 runs and asserts
// nothing. Run by `npm run bench`, or alone: `node scripts/hostile.ts` on the project's Node 24.
import * as Result from "effect/Result"
import { decodeAscendEnv } from "../src/schemas/ContainerEnv.ts"
import { decodeContainerConfig } from "../src/schemas/ContainerSpec.ts"
import { decodeContainerState } from "../src/schemas/ContainerState.ts"
import { parseDeviceList } from "../src/schemas/DeviceList.ts"
import { parseMountList } from "../src/schemas/MountList.ts"
import { parseMountListNames } from "../src/schemas/MountListNames.ts"
import { parseRuntimeOptions } from "../src/schemas/RuntimeOptions.ts"

const MiB = 1024 * 1024
const fill = (unit: string, bytes: number) => unit.repeat(Math.floor(bytes / unit.length))
const state = (text: string) => decodeContainerState(text, "stdin")
const config = (text: string) => decodeContainerConfig(text, "/b/config.json", "/b")
const env = (entries: ReadonlyArray<string>) => decodeAscendEnv(entries)
const list = (text: string) => parseMountList(text, "/etc/ascend-docker-runtime.d/base.list")
const json = JSON.stringify

type Case<A> = readonly [string, () => A, (input: A) => Result.Result<unknown, unknown>]
const c = <A>(name: string, input: () => A, run: (input: A) => Result.Result<unknown, unknown>): Case<unknown> =>
  [name, input, run as (input: unknown) => Result.Result<unknown, unknown>] as const

const cases: ReadonlyArray<Case<unknown>> = [
  c("state: 1 MiB of nested arrays", () => `${"[".repeat(MiB / 2)}${"]".repeat(MiB / 2)}`, state),
  c("state: 1 MiB of spaces, then garbage", () => `${" ".repeat(MiB - 1)}x`, state),
  c("state: a 1 MiB bundle string", () => `{"pid":1,"bundle":"/${"a".repeat(MiB - 30)}"}`, state),
  c("state: 1 MiB object of 150k keys, bad pid", () => `{${fill('"k":1,', MiB - 40)}"pid":0,"bundle":"/b"}`, state),
  c("config: 16 MiB unterminated string", () => `{"a":"${"x".repeat(16 * MiB - 10)}`, config),
  c(
    "config: 16 MiB of nested objects",
    () => `${'{"a":'.repeat((16 * MiB) / 10)}1${"}".repeat((16 * MiB) / 10)}`,
    config
  ),
  c("config: 16 MiB of [] pairs", () => `{"x":[${fill("[],", 16 * MiB - 20)}[]]}`, config),
  c("config: 16 MiB valid JSON, no root", () => json({ process: {}, pad: "x".repeat(16 * MiB - 40) }), config),
  c("config: 16 MiB of spaces, then garbage", () => `${" ".repeat(16 * MiB - 1)}x`, config),
  c(
    "config: 65537 env entries",
    () => json({ process: { env: Array(65537).fill("A=1") }, root: { path: "r" } }),
    config
  ),
  c(
    "config: 65536 env entries, last not a string",
    () => json({ process: { env: [...Array(65535).fill("A=1"), 1] }, root: { path: "r" } }),
    config
  ),
  c(
    "config: 16 MiB, 65536 env entries (accepted)",
    () => json({ process: { env: Array(65536).fill(`A=${"x".repeat(250)}`) }, root: { path: "r" } }),
    config
  ),
  c("devices: 4 KiB of 0-1023 ranges, bad last item", () => `${fill("0-1023,", 4090)}x`, parseDeviceList),
  c("devices: 4 KiB of 0-1023 ranges (accepted)", () => fill("0-1023,", 4096).slice(0, -1), parseDeviceList),
  c("devices: 4 KiB of digits", () => "9".repeat(4096), parseDeviceList),
  c("devices: 4 KiB of spaces around one item", () => `${" ".repeat(2047)}x${" ".repeat(2047)}`, parseDeviceList),
  c("devices: a value over 4 KiB", () => [`ASCEND_VISIBLE_DEVICES=${"1,".repeat(2049)}`], env),
  c(
    "env: 65536 entries, the variable last",
    () => [...Array(65535).fill(`X=${"y".repeat(200)}`), "ASCEND_VISIBLE_DEVICES=x"],
    env
  ),
  c("mounts: 4 KiB of names, bad last", () => `${fill("abcdefg,", 4090)}..`, parseMountListNames),
  c("options: 4 KiB, bad last", () => `${fill("NODRV,", 4090)}x`, parseRuntimeOptions),
  c("list: 1024 lines of 1 KiB, bad last line", () => `${fill(`/${"a".repeat(1021)}\n`, MiB - 1024)}bad\n`, list),
  c("list: 1 MiB of newlines (too many lines)", () => "\n".repeat(MiB), list),
  c("list: one 1 MiB line", () => `/${"a".repeat(MiB - 1)}`, list)
]

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log("\nhostile input: in-process work per parser, median of 15 runs\n")
let worst: [string, number] = ["", 0]
let worstRefused: [string, number] = ["", 0]
for (const [name, build, run] of cases) {
  const input = build()
  if (typeof input === "string") input.charCodeAt(input.length >> 1)
  const times: Array<number> = []
  let outcome = ""
  for (let i = 0; i < 15; i++) {
    const start = performance.now()
    const r = run(input)
    times.push(performance.now() - start)
    outcome = Result.isFailure(r) ? "refused" : "accepted"
  }
  const m = median(times)
  if (m > worst[1]) worst = [name, m]
  if (outcome === "refused" && m > worstRefused[1]) worstRefused = [name, m]
  console.log(`${name.padEnd(52)} ${m.toFixed(2).padStart(8)} ms  ${outcome}`)
}
console.log(
  `\nslowest refusal: ${worstRefused[0]}, ${worstRefused[1].toFixed(2)} ms; slowest of all: ${worst[0]}, ${worst[1].toFixed(2)} ms`
)
