/**
 * Which process listens on a Unix socket, asked of the kernel: connect, then getsockopt(SO_PEERCRED). The
 * answer is exact (the process that accepted this very connection, its pid as seen from our pid namespace,
 * so a host pid under hostPID) and it proves the socket answers. The other way, matching the socket's
 * inode from /proc/net/unix against every /proc/PID/fd, sees only our network namespace's sockets (a pod's
 * own, not the host's) and cannot tell two daemons bound at the same path in different mount namespaces
 * apart. Node has no getsockopt; the binary (Bun) calls libc through bun:ffi, so this works in the binary
 * only, and the Node bundle says so in one line.
 */

/**
 * The peer of a connection to `socketPath`, or why there is none: `absent` when nothing answers there (the
 * engine is not running), else the question could not be asked (no FFI, a path too long).
 */
export type Peer = { readonly pid: number; readonly uid: number } | { readonly error: string; readonly absent: boolean }

const AF_UNIX = 1
const SOCK_STREAM_CLOEXEC = 1 | 0o2000000
const SOL_SOCKET = 1
/** SO_PEERCRED is 17 on x86-64 and arm64 alike (asm-generic). */
const SO_PEERCRED = 17
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH = 108

type Libc = {
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly connect: (fd: number, addr: unknown, len: number) => number
  readonly getsockopt: (fd: number, level: number, name: number, value: unknown, len: unknown) => number
  readonly close: (fd: number) => number
}

/** The part of bun:ffi used here (the project carries no Bun type declarations). */
interface BunFfi {
  readonly FFIType: Record<"i32" | "u32" | "ptr", number>
  readonly dlopen: (
    lib: string,
    symbols: Record<string, { args: ReadonlyArray<number>; returns: number }>
  ) => { symbols: unknown }
  readonly ptr: (view: ArrayBufferView) => unknown
}

let libc: { readonly fns: Libc; readonly ptr: (a: ArrayBufferView) => unknown } | string | undefined

const load = (): NonNullable<typeof libc> => {
  if (libc !== undefined) return libc
  if (typeof (globalThis as { Bun?: unknown }).Bun === "undefined") {
    libc = "finding an engine's pid needs the ascend-docker-hook binary (bun:ffi); the Node bundle cannot"
    return libc
  }
  // A name the Node bundler leaves alone: bun:ffi exists only in the binary.
  const name = "bun:ffi"
  const ffi = require(name) as BunFfi
  const T = ffi.FFIType
  const lib = ffi.dlopen("libc.so.6", {
    socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
    connect: { args: [T.i32, T.ptr, T.u32], returns: T.i32 },
    getsockopt: { args: [T.i32, T.i32, T.i32, T.ptr, T.ptr], returns: T.i32 },
    close: { args: [T.i32], returns: T.i32 }
  })
  libc = { fns: lib.symbols as unknown as Libc, ptr: (a) => ffi.ptr(a) }
  return libc
}

/** Connects to `socketPath` and returns the listening process's pid and uid (SO_PEERCRED). */
export const peerOf = (socketPath: string): Peer => {
  const c = load()
  if (typeof c === "string") return { error: c, absent: false }
  const path = new TextEncoder().encode(socketPath)
  if (path.length >= SUN_PATH) return { error: `${socketPath}: path too long for a Unix socket`, absent: false }
  const fd = c.fns.socket(AF_UNIX, SOCK_STREAM_CLOEXEC, 0)
  if (fd < 0) return { error: "socket() failed", absent: false }
  try {
    const addr = new Uint8Array(2 + SUN_PATH)
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true)
    addr.set(path, 2)
    if (c.fns.connect(fd, c.ptr(addr), 2 + path.length + 1) !== 0)
      return { error: `nothing answers on ${socketPath}`, absent: true }
    const cred = new Int32Array(3)
    const len = new Uint32Array([12])
    if (c.fns.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, c.ptr(cred), c.ptr(len)) !== 0 || cred[0]! <= 0)
      return { error: `${socketPath}: the kernel named no peer (SO_PEERCRED)`, absent: false }
    return { pid: cred[0]!, uid: cred[1]! }
  } finally {
    c.fns.close(fd)
  }
}
