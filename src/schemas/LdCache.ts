/**
 * The dynamic loader's library search, answered without loading anything: glibc's `ld.so.cache` (what
 * `ldconfig` builds from /etc/ld.so.conf and its drop-ins, and what `dlopen("libdcmi.so")` consults), then
 * the loader's built-in directories. Pure: the caller reads the cache file and asks which directories exist.
 */

/** The loader arches we run on, by Node's name. */
export type LoaderArch = "x64" | "arm64"

/** The cache's magic and version (glibc 2.32 and later write only this format; older ones put it after the old). */
const MAGIC = "glibc-ld.so.cache1.1"
const OLD_MAGIC = "ld.so-1.7.0"
const HEADER_BYTES = 48
const ENTRY_BYTES = 24
/** An ELF libc6 library, and the arch bits glibc requires of an entry (FLAG_X8664_LIB64, FLAG_AARCH64_LIB64). */
const FLAGS: Readonly<Record<LoaderArch, number>> = { x64: 0x0303, arm64: 0x0a03 }

/** The loader's own directories, searched after the cache (Debian's multiarch ones, then the FHS and lib64 ones). */
export const defaultLibraryDirs = (arch: LoaderArch): ReadonlyArray<string> => {
  const triplet = arch === "x64" ? "x86_64-linux-gnu" : "aarch64-linux-gnu"
  return [`/lib/${triplet}`, `/usr/lib/${triplet}`, "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
}

const cString = (bytes: Uint8Array, at: number): string | undefined => {
  if (at >= bytes.length) return undefined
  const end = bytes.indexOf(0, at)
  if (end < 0) return undefined
  return new TextDecoder().decode(bytes.subarray(at, end))
}

const startsWith = (bytes: Uint8Array, at: number, text: string): boolean => {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false
  return true
}

const startsWithBytes = (bytes: Uint8Array, at: number, key: Uint8Array): boolean => {
  if (at + key.length > bytes.length) return false
  for (let i = 0; i < key.length; i++) if (bytes[at + i] !== key[i]) return false
  return true
}

/** Where the new-format table starts: at 0, or after the old-format table (8-byte aligned). */
const newTableAt = (bytes: Uint8Array, view: DataView): number | undefined => {
  if (startsWith(bytes, 0, MAGIC)) return 0
  if (!startsWith(bytes, 0, OLD_MAGIC) || bytes.length < 16) return undefined
  const at = 16 + view.getUint32(12, true) * 12
  const aligned = (at + 7) & ~7
  return startsWith(bytes, aligned, MAGIC) ? aligned : undefined
}

/**
 * The path the cache gives for `name` on `arch` (the first matching entry, as the loader takes it), or
 * undefined when the cache has none or is not one this code can read (then the caller falls back to the
 * default directories, as the loader does).
 */
export const lookupLdCache = (bytes: Uint8Array, name: string, arch: LoaderArch): string | undefined => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const base = newTableAt(bytes, view)
  if (base === undefined || base + HEADER_BYTES > bytes.length) return undefined
  const count = view.getUint32(base + 20, true)
  if (base + HEADER_BYTES + count * ENTRY_BYTES > bytes.length) return undefined
  // Word reads and a byte compare of the key: in the binary's interpreter, DataView calls and decoding
  // every entry's name cost more than the rest of the lookup.
  const start = bytes.byteOffset + base + HEADER_BYTES
  const table = start % 4 === 0 ? bytes : bytes.slice()
  const words = new Int32Array(table.buffer, table === bytes ? start : base + HEADER_BYTES, count * (ENTRY_BYTES / 4))
  const key = new TextEncoder().encode(`${name}\0`)
  const flags = FLAGS[arch]
  for (let i = 0; i < count; i++) {
    const w = i * (ENTRY_BYTES / 4)
    if (words[w] !== flags || !startsWithBytes(bytes, base + (words[w + 1]! >>> 0), key)) continue
    const value = cString(bytes, base + (words[w + 2]! >>> 0))
    if (value?.startsWith("/")) return value
  }
  return undefined
}
