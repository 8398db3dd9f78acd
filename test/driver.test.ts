import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SyncFileSystem from "../src/platform/SyncFileSystem.ts"
import { defaultLibraryDirs, lookupLdCache } from "../src/schemas/LdCache.ts"
import {
  Driver,
  DriverError,
  findLibrary,
  type MemoryDcmiState,
  memoryDcmi,
  unavailableDriver
} from "../src/services/Driver.ts"
import { leftoverVnpus, readRecord, removeRecord, vnpuRequest, writeRecord } from "../src/wrapper/Vnpu.ts"
import { containerIdOf } from "../src/wrapper/VnpuRecord.ts"
import { cleanup, scratch } from "./support/fixtures.ts"

const state = (over: Partial<MemoryDcmiState> = {}): MemoryDcmiState => ({
  chip: "910B3",
  product: "",
  v2: false,
  cards: 2,
  errors: {},
  calls: [],
  ...over
})

const run = <A>(s: MemoryDcmiState, program: Effect.Effect<A, DriverError, Driver>) =>
  Effect.runSyncExit(program.pipe(Effect.provide(Driver.layerTest(s))))

const failure = <A>(exit: Exit.Exit<A, DriverError>): DriverError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const found = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  assert.instanceOf(found, DriverError)
  return found as DriverError
}

describe("Driver (the service's logic, over the in-memory dcmi)", () => {
  it("nothing is loaded or initialised until a question is asked, and the library is initialised once", () => {
    const s = state()
    Effect.runSync(
      Effect.gen(function* () {
        const d = yield* Driver
        assert.deepStrictEqual(s.calls, [])
        yield* d.chip
        yield* d.place(1)
      }).pipe(Effect.provide(Driver.layerDcmi(memoryDcmi(s))))
    )
    assert.strictEqual(s.calls.filter((c) => c === "dcmi_init").length, 1)
  })

  it("chip and product: the first device's answers", () => {
    const s = state({ chip: "310B1", product: "Atlas 200I A2" })
    const exit = run(
      s,
      Driver.use((d) => d.chip)
    )
    assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value : undefined, {
      name: "310B1",
      productType: "Atlas 200I A2",
      generation: 1
    })
  })

  it("Ascend 950: v1 init fails, v2 answers the chip, and a vNPU is refused before any create", () => {
    const s = state({ v2: true, chip: "Ascend950PR" })
    const chip = run(
      s,
      Driver.use((d) => d.chip)
    )
    assert.strictEqual(Exit.isSuccess(chip) ? chip.value.generation : 0, 2)
    const e = failure(
      run(
        s,
        Driver.use((d) => d.place(0))
      )
    )
    assert.strictEqual(e.reason, "NoVnpu")
    assert.deepStrictEqual(
      s.calls.filter((c) => c.startsWith("dcmi_create")),
      []
    )
  })

  it("place: physical -> logic -> card and device; an id on no card is Unplaceable, not card MaxInt32", () => {
    const s = state({ cards: 3 })
    const ok = run(
      s,
      Driver.use((d) => d.place(2))
    )
    assert.deepStrictEqual(Exit.isSuccess(ok) ? ok.value : undefined, { phy: 2, card: 2, device: 0 })
    const e = failure(
      run(
        state({ cards: 1 }),
        Driver.use((d) => d.place(1))
      )
    )
    assert.strictEqual(e.reason, "Unplaceable")
    assert.match(e.message, /^driver: NPU 1 \(logic id 1\) is on no card dcmi lists; no vNPU was made$/)
  })

  it("a dcmi error is one line naming the call, the device, the code and what dcmi's documentation says it means", () => {
    const s = state({ errors: { dcmi_create_vdevice: -8005 } })
    const e = failure(
      run(
        s,
        Driver.use((d) => d.create({ phy: 0, card: 0, device: 0 }, "vir02"))
      )
    )
    assert.strictEqual(
      e.message,
      "driver: dcmi_create_vdevice for NPU 0 (card 0 device 0) failed with -8005 (internal error of the driver)"
    )
    const unknown = failure(
      run(
        state({ errors: { dcmi_init: -1234 } }),
        Driver.use((d) => d.chip)
      )
    )
    assert.strictEqual(unknown.message, "driver: dcmi_init failed with -1234")
  })

  it("create passes the template and returns the vdevId as dcmi gave it; destroy passes the ids", () => {
    const s = state({ vdev: 0xffffffff })
    const made = run(
      s,
      Driver.use((d) => d.create({ phy: 1, card: 1, device: 0 }, "vir04_3c"))
    )
    assert.strictEqual(Exit.isSuccess(made) ? made.value : 0, 0xffffffff)
    run(
      s,
      Driver.use((d) => d.destroy(1, 0, 116))
    )
    assert.includeMembers(s.calls, ["dcmi_create_vdevice 1 0 vir04_3c", "dcmi_set_destroy_vdevice 1 0 116"])
  })

  it("unavailable (the Node bundle): every question is one line saying what is needed", () => {
    const exit = Effect.runSyncExit(
      Driver.use((d) => d.chip).pipe(Effect.provide(unavailableDriver("needs the binary")))
    )
    assert.strictEqual(failure(exit).message, "driver: needs the binary")
  })
})

describe("vnpuRequest: checked before any driver call", () => {
  const request = (devices: ReadonlyArray<number>, options: ReadonlyArray<"NODRV" | "VIRTUAL"> = []) => ({
    devices,
    options,
    mountLists: [],
    allowLink: false,
    disableUbMount: false
  })
  const privileged = { privileged: true, policy: "accept" as const }

  it("no ASCEND_VNPU_SPECS: no vNPU; a known template and one id: the request", () => {
    assert.deepStrictEqual(vnpuRequest([], request([0]), privileged), Result.succeed(Option.none()))
    const r = vnpuRequest(["ASCEND_VNPU_SPECS=vir10_3c_16g_nm"], request([7]), privileged)
    assert.deepStrictEqual(r, Result.succeed(Option.some({ template: "vir10_3c_16g_nm", phy: 7 })))
  })

  it("the first occurrence wins, as for every other variable", () => {
    const r = vnpuRequest(["ASCEND_VNPU_SPECS=vir02", "ASCEND_VNPU_SPECS=bad"], request([0]), privileged)
    assert.isTrue(Result.isSuccess(r))
  })

  it("the privilege gate: ignore drops it, refuse refuses it, accept and privileged keep it", () => {
    const env = ["ASCEND_VNPU_SPECS=vir02"]
    const ignored = vnpuRequest(env, request([0]), { privileged: false, policy: "ignore" })
    assert.deepStrictEqual(ignored, Result.succeed(Option.none()))
    assert.isTrue(Result.isFailure(vnpuRequest(env, request([0]), { privileged: false, policy: "refuse" })))
    assert.isTrue(Result.isSuccess(vnpuRequest(env, request([0]), { privileged: true, policy: "refuse" })))
  })

  it("refusals: empty, unknown (quoted, bounded), several ids, id over 255, VIRTUAL already set", () => {
    const cases: ReadonlyArray<readonly [string, ReturnType<typeof request>, RegExp]> = [
      ["", request([0]), /is empty/],
      ["VIR02", request([0]), /"VIR02" is not a vNPU template/],
      ["x".repeat(10_000), request([0]), /"x{64}" is not a vNPU template/],
      ["vir02", request([0, 1]), /exactly one physical NPU .* not 2/],
      ["vir02", request([256]), /NPU 256: physical ids for a vNPU are 0-255/],
      ["vir02", request([0], ["VIRTUAL"]), /has VIRTUAL/]
    ]
    for (const [value, req, pattern] of cases) {
      const r = vnpuRequest([`ASCEND_VNPU_SPECS=${value}`], req, privileged)
      assert.isTrue(Result.isFailure(r), value)
      if (Result.isFailure(r)) assert.match(r.failure.message, pattern)
      if (Result.isFailure(r)) assert.isBelow(r.failure.message.length, 400)
    }
  })

  it("containerIdOf: runc's last argument, when it can name a file", () => {
    assert.strictEqual(containerIdOf(["create", "--bundle", "/b", "abc-1"]), "abc-1")
    assert.isUndefined(containerIdOf(["delete", "../../etc/passwd"]))
    assert.isUndefined(containerIdOf([]))
  })
})

describe("LdCache: libdcmi.so found as the loader finds it, without loading it", () => {
  const ldconfigCache = (libs: Record<string, string>) => {
    const root = scratch()
    try {
      const dirs = new Set<string>()
      for (const [dir, name] of Object.entries(libs)) {
        fs.mkdirSync(path.join(root, dir), { recursive: true })
        // A library of this machine without a soname: ldconfig indexes it by its file name.
        fs.writeFileSync(path.join(root, "empty.c"), "int nothing(void) { return 0; }\n")
        const cc = spawnSync("gcc", ["-shared", "-fPIC", "-o", path.join(root, dir, name), path.join(root, "empty.c")])
        assert.strictEqual(cc.status, 0, String(cc.stderr))
        dirs.add(dir)
      }
      fs.mkdirSync(path.join(root, "etc"), { recursive: true })
      fs.writeFileSync(path.join(root, "etc/ld.so.conf"), `${[...dirs].join("\n")}\n`)
      const r = spawnSync("ldconfig", ["-r", root, "-X"], { encoding: "utf8" })
      assert.strictEqual(r.status, 0, r.stderr)
      return new Uint8Array(fs.readFileSync(path.join(root, "etc/ld.so.cache")))
    } finally {
      cleanup(root)
    }
  }

  it.runIf(process.arch === "x64")(
    "reads what ldconfig writes: the entry for this arch, none for another, none for a name not there",
    () => {
      const cache = ldconfigCache({ "/opt/driver/lib64": "libdcmi.so", "/opt/other": "libother.so" })
      assert.strictEqual(lookupLdCache(cache, "libdcmi.so", "x64"), "/opt/driver/lib64/libdcmi.so")
      assert.isUndefined(lookupLdCache(cache, "libdcmi.so", "arm64"))
      assert.isUndefined(lookupLdCache(cache, "libdcmi.so.1", "x64"))
    }
  )

  it("a truncated, empty or foreign file gives no answer (never a throw)", () => {
    const header = new TextEncoder().encode("glibc-ld.so.cache1.1")
    const lying = new Uint8Array(48)
    lying.set(header)
    new DataView(lying.buffer).setUint32(20, 1_000_000, true)
    for (const bytes of [new Uint8Array(), header, lying, new TextEncoder().encode("not a cache at all")])
      assert.isUndefined(lookupLdCache(bytes, "libdcmi.so", "x64"))
  })

  it("findLibrary on this host: the cache first, then the default dirs, else NoLibrary (the /dev-based path stays)", () => {
    const exit = Effect.runSyncExit(
      FileSystem.FileSystem.use((fs) => findLibrary(fs, "x64")).pipe(Effect.provide(SyncFileSystem.layer))
    )
    const onHost = defaultLibraryDirs("x64").some((d) => fs.existsSync(`${d}/libdcmi.so`))
    if (!onHost && Exit.isFailure(exit)) assert.strictEqual(failure(exit).reason, "NoLibrary")
    else assert.isTrue(Exit.isSuccess(exit))
  })
})

describe("vNPU records (what a killed wrapper leaves for delete and doctor)", () => {
  it("written, read back, listed, removed; a file that is not a record is none", () => {
    const dir = scratch()
    try {
      const vnpu = { phy: 1, card: 1, device: 0, vdevId: 116 }
      const program = Effect.gen(function* () {
        yield* writeRecord(dir, "c1", vnpu)
        assert.deepStrictEqual(yield* readRecord(dir, "c1"), Option.some(vnpu))
        assert.strictEqual(fs.statSync(path.join(dir, "vnpu/c1.json")).mode & 0o777, 0o600)
        assert.strictEqual(fs.statSync(path.join(dir, "vnpu")).mode & 0o777, 0o700)
        fs.writeFileSync(path.join(dir, "vnpu/bad.json"), '{"phy":1,"card":1,"device":0,"vdevId":99999}')
        assert.deepStrictEqual(yield* readRecord(dir, "bad"), Option.none())
        yield* writeRecord(dir, "c0", { phy: 0, card: 0, device: 0, vdevId: null })
        assert.deepStrictEqual(yield* readRecord(dir, "c0"), Option.some({ phy: 0, card: 0, device: 0, vdevId: null }))
        yield* removeRecord(dir, "c0")
        assert.deepStrictEqual(yield* leftoverVnpus(dir), [{ containerId: "c1", vnpu }])
        yield* removeRecord(dir, "c1")
        assert.deepStrictEqual(yield* readRecord(dir, "c1"), Option.none())
      })
      Effect.runSync(program.pipe(Effect.provide(SyncFileSystem.layer)))
    } finally {
      cleanup(dir)
    }
  })
})
