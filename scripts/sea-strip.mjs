// Strips Node's built-in code cache from a single-executable preparation blob built with useSnapshot.
//
// A SEA snapshot carries V8 code cache for ~390 Node built-in modules (3.4 MB on Node 24.21). Loading it
// costs more, on a ~100 ms hook run, than compiling the few built-ins the hook touches: measured here,
// the binary's no-op path went from 1.46x to 1.19x of `node -e 0`, the full path from 1.55x to 1.28x,
// for ~8 MiB more peak RSS. Node has the switch for this (SnapshotFlags::kWithoutCodeCache, used by
// node_mksnapshot) but sea-config.json does not expose it, so this rewrites the blob.
//
// It relies on Node's internal blob layouts (src/node_sea.cc, src/node_snapshotable.cc), so it runs only
// for the Node versions it was checked against, parses the whole structure and checks that it ends
// exactly where it should; on any mismatch it returns undefined and the build keeps the blob as Node
// made it (the documented build, just slower). test/sea-strip.test.ts covers both paths.

/** Node versions whose blob layout this was checked against. */
export const CHECKED_NODE_VERSIONS = ["24.21.0"]

const SEA_MAGIC = 0x0143da20
const SNAPSHOT_MAGIC = 0x0143da19

class Reader {
  constructor(buf, offset = 0) {
    this.buf = buf
    this.o = offset
  }
  need(n) {
    if (this.o + n > this.buf.length) throw new Error(`truncated at ${this.o}`)
  }
  u8() {
    this.need(1)
    return this.buf[this.o++]
  }
  u32() {
    this.need(4)
    const v = this.buf.readUInt32LE(this.o)
    this.o += 4
    return v
  }
  i32() {
    this.need(4)
    const v = this.buf.readInt32LE(this.o)
    this.o += 4
    return v
  }
  u64() {
    this.need(8)
    const v = this.buf.readBigUInt64LE(this.o)
    this.o += 8
    if (v > BigInt(this.buf.length)) throw new Error(`implausible length ${v} at ${this.o - 8}`)
    return Number(v)
  }
  bytes(n) {
    this.need(n)
    const v = this.buf.subarray(this.o, this.o + n)
    this.o += n
    return v
  }
  string() {
    return this.bytes(this.u64()).toString("latin1")
  }
  skipU64Vector() {
    this.bytes(this.u64() * 8)
  }
  skipPropInfoVector() {
    for (let n = this.u64(); n > 0; n--) {
      this.string()
      this.u32()
      this.u64()
    }
  }
}

/**
 * Returns the blob with an empty built-in code cache, or undefined (with the reason) when the blob is not
 * one this function knows how to read for this Node version.
 */
export const stripBuiltinCodeCache = (blob, nodeVersion = process.versions.node) => {
  try {
    if (!CHECKED_NODE_VERSIONS.includes(nodeVersion)) return { reason: `not checked against Node ${nodeVersion}` }
    const r = new Reader(blob)
    if (r.u32() !== SEA_MAGIC) return { reason: "not a SEA blob" }
    r.u32() // SEA flags
    r.u8() // execArgvExtension
    r.string() // main script path
    const lengthAt = r.o
    const length = r.u64()
    const start = r.o
    const end = start + length
    if (end > blob.length) return { reason: "snapshot longer than the blob" }
    if (r.u32() !== SNAPSHOT_MAGIC) return { reason: "no snapshot in the blob" }
    r.u8() // snapshot type
    const version = r.string()
    if (version !== nodeVersion) return { reason: `snapshot made by Node ${version}` }
    r.string() // arch
    r.string() // platform
    r.u32() // V8 cache version tag
    r.bytes(r.i32()) // V8 startup data
    r.skipU64Vector() // isolate data: primitive values
    r.skipPropInfoVector() // isolate data: template values
    r.bytes(4 * 8) // async hooks: three buffers and the resources index
    r.skipU64Vector() // async hooks: native resources
    r.bytes(9 * 8) // tick, immediate, timeout, performance x3, exit, stream base, abort toggle
    for (let n = r.u64(); n > 0; n--) r.string() // realm: built-ins
    r.skipPropInfoVector() // realm: persistent values
    r.skipPropInfoVector() // realm: native objects
    r.u64() // realm: context
    const cacheAt = r.o
    let entries = 0
    for (let n = r.u64(); n > 0; n--, entries++) {
      r.string()
      r.bytes(r.u64())
    }
    if (r.o !== end) return { reason: `the snapshot ends at ${r.o}, not at ${end}` }
    const snapshot = Buffer.concat([blob.subarray(start, cacheAt), Buffer.alloc(8)])
    const newLength = Buffer.alloc(8)
    newLength.writeBigUInt64LE(BigInt(snapshot.length))
    return {
      blob: Buffer.concat([blob.subarray(0, lengthAt), newLength, snapshot, blob.subarray(end)]),
      entries,
      removed: end - cacheAt - 8
    }
  } catch (e) {
    return { reason: `unreadable: ${e.message}` }
  }
}
