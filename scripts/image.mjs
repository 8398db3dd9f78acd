// Writes the installer image: ONE multi-arch OCI image index (linux/amd64, linux/arm64) as an OCI archive,
// dist/image/ascend-docker-hook-image.oci.tar, from the Bun binaries `npm run build` made, with no registry
// and no base image. Each arch's image is one layer, FROM-scratch style: the binary at
// /usr/bin/ascend-docker-hook, exactly the shared libraries it needs (its PT_INTERP and the closure of its
// DT_NEEDED entries, read with readelf: amd64's from this machine's /lib/x86_64-linux-gnu, arm64's from
// libc6-arm64-cross's /usr/aarch64-linux-gnu/lib) and an empty /run/ascend-node-setup. No shell. The
// entry point is `ascend-docker-hook node-setup`. Tar, gzip, digests and the layout are written here
// (node's zlib and crypto), byte for byte the same on every run from the same inputs (mtimes 0, uid/gid 0,
// sorted entries). Prints each arch's size: the binary, the libraries, the compressed layer.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"

const root = path.resolve(import.meta.dirname, "..")
process.chdir(root)
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"))
const NAME = `ascend-docker-hook:${pkg.version}`
const OUT = "dist/image/ascend-docker-hook-image.oci.tar"

/** Each image's arch: where its binary is and where its C library comes from. */
const ARCHES = [
  {
    oci: "amd64",
    binary: "dist/ascend-docker-hook-linux-x64",
    libDirs: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"],
    into: "lib/x86_64-linux-gnu"
  },
  {
    oci: "arm64",
    binary: "dist/ascend-docker-hook-linux-arm64",
    libDirs: ["/usr/aarch64-linux-gnu/lib"],
    into: "lib/aarch64-linux-gnu"
  }
]

const readelf = (flag, file) => execFileSync("readelf", [flag, "-W", file], { encoding: "utf8" })
const needed = (file) =>
  [...readelf("-d", file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
const interpreterOf = (file) => readelf("-l", file).match(/Requesting program interpreter: ([^\]]+)\]/)?.[1]

/** PT_INTERP and every library the binary needs, transitively: [path in the image, file to copy]. */
const libraries = (arch) => {
  const interp = interpreterOf(arch.binary)
  if (interp === undefined) throw new Error(`${arch.binary}: no program interpreter (not a dynamic executable?)`)
  const interpName = path.basename(interp)
  const found = new Map([[interpName, [interp.slice(1), findLib(arch, interpName)]]])
  const queue = needed(arch.binary)
  while (queue.length > 0) {
    const name = queue.shift()
    if (found.has(name)) continue
    const file = findLib(arch, name)
    found.set(name, [`${arch.into}/${name}`, file])
    queue.push(...needed(file))
  }
  return [...found.values()]
}
const findLib = (arch, name) => {
  for (const dir of arch.libDirs) {
    const p = path.join(dir, name)
    if (fs.existsSync(p)) return fs.realpathSync(p)
  }
  throw new Error(`${name}: not in ${arch.libDirs.join(" or ")} (for ${arch.oci}: install libc6-arm64-cross?)`)
}

// --- tar (ustar), deterministic ------------------------------------------------------------------------
const header = (name, { size = 0, mode, type, link = "" }) => {
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(link) > 100)
    throw new Error(`${name}: name too long for ustar`)
  const h = Buffer.alloc(512)
  const put = (s, off, len) => h.write(s, off, len, "utf8")
  const oct = (n, off, len) => put(`${n.toString(8).padStart(len - 1, "0")}\0`, off, len)
  put(name, 0, 100)
  oct(mode, 100, 8)
  oct(0, 108, 8)
  oct(0, 116, 8)
  oct(size, 124, 12)
  oct(0, 136, 12)
  put("        ", 148, 8)
  put(type, 156, 1)
  put(link, 157, 100)
  put("ustar\0", 257, 6)
  put("00", 263, 2)
  put("root", 265, 32)
  put("root", 297, 32)
  let sum = 0
  for (const b of h) sum += b
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8)
  return h
}
const pad = (n) => Buffer.alloc((512 - (n % 512)) % 512)
/** A tar of `entries` ({name, dir} | {name, bytes, mode} | {name, link}), sorted by name. */
const tar = (entries) => {
  const parts = []
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.dir) parts.push(header(`${e.name}/`, { mode: 0o755, type: "5" }))
    else if (e.link !== undefined) parts.push(header(e.name, { mode: 0o777, type: "2", link: e.link }))
    else parts.push(header(e.name, { size: e.bytes.length, mode: e.mode, type: "0" }), e.bytes, pad(e.bytes.length))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}
/** Every parent dir of the files, as entries. */
const dirsOf = (names) => {
  const dirs = new Set()
  for (const n of names) for (let d = path.dirname(n); d !== "."; d = path.dirname(d)) dirs.add(d)
  return [...dirs].map((name) => ({ name, dir: true }))
}

// --- the layout --------------------------------------------------------------------------------------------
const sha = (b) => createHash("sha256").update(b).digest("hex")
const blobs = new Map()
const blob = (mediaType, bytes, extra = {}) => {
  const digest = `sha256:${sha(bytes)}`
  blobs.set(digest, bytes)
  return { mediaType, digest, size: bytes.length, ...extra }
}
const json = (v) => Buffer.from(JSON.stringify(v))
const CREATED = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000).toISOString()

const image = (arch) => {
  if (!fs.existsSync(arch.binary)) throw new Error(`${arch.binary} is missing: run npm run build first`)
  const libs = libraries(arch)
  const files = [
    { name: "usr/bin/ascend-docker-hook", bytes: fs.readFileSync(arch.binary), mode: 0o755 },
    ...libs.map(([name, file]) => ({ name, bytes: fs.readFileSync(file), mode: 0o755 }))
  ]
  const entries = [...files, ...dirsOf(files.map((f) => f.name)), { name: "run", dir: true }]
  entries.push({ name: "run/ascend-node-setup", dir: true })
  const layer = tar(entries)
  const gz = zlib.gzipSync(layer, { level: 9 })
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    json({
      created: CREATED,
      architecture: arch.oci,
      os: "linux",
      config: {
        Entrypoint: ["/usr/bin/ascend-docker-hook", "node-setup"],
        Labels: { "org.opencontainers.image.version": pkg.version, "org.opencontainers.image.title": pkg.name }
      },
      rootfs: { type: "layers", diff_ids: [`sha256:${sha(layer)}`] },
      history: [{ created: CREATED, created_by: "scripts/image.mjs: the binary and the libraries it needs" }]
    })
  )
  const layerDesc = blob("application/vnd.oci.image.layer.v1.tar+gzip", gz)
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    json({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: [layerDesc] }),
    { platform: { architecture: arch.oci, os: "linux" } }
  )
  const libBytes = libs.reduce((n, [, f]) => n + fs.statSync(f).size, 0)
  console.log(
    `linux/${arch.oci}: binary ${files[0].bytes.length} bytes + ${libs.length} libraries ${libBytes} bytes ` +
      `(${libs.map(([n]) => `/${n}`).join(", ")}); layer ${layer.length} bytes, ${gz.length} gzipped`
  )
  return manifest
}

const manifests = ARCHES.map(image)
const annotations = {
  "org.opencontainers.image.ref.name": NAME,
  "io.containerd.image.name": `docker.io/library/${NAME}`
}
const index = blob(
  "application/vnd.oci.image.index.v1+json",
  json({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }),
  { annotations }
)
const layout = [
  { name: "oci-layout", bytes: json({ imageLayoutVersion: "1.0.0" }), mode: 0o644 },
  {
    name: "index.json",
    bytes: json({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [index] }),
    mode: 0o644
  },
  ...[...blobs].map(([digest, bytes]) => ({ name: `blobs/sha256/${digest.slice(7)}`, bytes, mode: 0o644 }))
]
fs.mkdirSync(path.dirname(OUT), { recursive: true })
const archive = tar([...layout, ...dirsOf(layout.map((e) => e.name))])
fs.writeFileSync(`${OUT}.tmp`, archive)
fs.renameSync(`${OUT}.tmp`, OUT)
console.log(`wrote ${OUT}: ${archive.length} bytes, ${NAME} (${index.digest}), linux/amd64 + linux/arm64`)
