/**
 * Asks the host's systemd to restart (or reload) a unit over the host's system bus, as `systemctl restart`
 * does: the D-Bus wire protocol on the bus socket under the host root (`/run/dbus/system_bus_socket`),
 * authenticated as this process's uid (EXTERNAL), a Hello, then `org.freedesktop.systemd1.Manager.RestartUnit`
 * (or `ReloadUnit`) with mode "replace". The image has no systemctl, and the host's cannot run here (its
 * libraries are the host's): a method call is a few hundred bytes to write. Only what these two calls need is
 * marshalled: strings, object paths and signatures, little-endian.
 */

/** The bus socket systemd answers on, as the host sees it. */
export const SYSTEM_BUS = "/run/dbus/system_bus_socket"
/** How much of a reply is read at most (a job path or an error: far less). */
const MAX_REPLY = 64 * 1024

const pad = (n: number, to: number) => (to - (n % to)) % to

/** A little-endian D-Bus writer of the few types these calls use. */
class Writer {
  private bytes: Array<number> = []
  get length(): number {
    return this.bytes.length
  }
  align(to: number): this {
    for (let i = pad(this.bytes.length, to); i > 0; i--) this.bytes.push(0)
    return this
  }
  byte(b: number): this {
    this.bytes.push(b & 0xff)
    return this
  }
  uint32(v: number): this {
    this.align(4)
    for (let i = 0; i < 4; i++) this.bytes.push((v >>> (8 * i)) & 0xff)
    return this
  }
  string(s: string): this {
    const b = Buffer.from(s, "utf8")
    this.uint32(b.length)
    for (const x of b) this.bytes.push(x)
    return this.byte(0)
  }
  signature(s: string): this {
    this.byte(s.length)
    for (const x of Buffer.from(s, "ascii")) this.bytes.push(x)
    return this.byte(0)
  }
  done(): Buffer {
    return Buffer.from(this.bytes)
  }
}

/** One METHOD_CALL message: header fields path (1), interface (2), member (3), destination (6), signature (8). */
export const methodCall = (
  serial: number,
  call: { path: string; iface: string; member: string; destination: string; args: ReadonlyArray<string> }
): Buffer => {
  const body = new Writer()
  for (const a of call.args) body.string(a)
  const fields: Array<[number, string, string]> = [
    [1, "o", call.path],
    [2, "s", call.iface],
    [3, "s", call.member],
    [6, "s", call.destination],
    ...(call.args.length > 0 ? [[8, "g", "s".repeat(call.args.length)] as [number, string, string]] : [])
  ]
  const header = new Writer().byte(0x6c).byte(1).byte(0).byte(1).uint32(body.length).uint32(serial)
  const array = new Writer()
  for (const [code, sig, value] of fields) {
    array.align(8).byte(code).signature(sig)
    if (sig === "g") array.signature(value)
    else array.string(value)
  }
  // The array's length counts from its first element, which sits 8-aligned right after the length word (at 16).
  header.uint32(array.length)
  const head = Buffer.concat([header.done(), array.done()])
  return Buffer.concat([head, Buffer.alloc(pad(head.length, 8)), body.done()])
}

/** What a whole message in `buf` says, if it is all there: its type, the serial it answers, an error's name and text. */
export const parseMessage = (
  buf: Buffer
):
  | {
      readonly size: number
      readonly type: number
      readonly replyTo?: number
      readonly error?: string
      readonly text?: string
    }
  | undefined => {
  if (buf.length < 16 || buf[0] !== 0x6c) return undefined
  const bodyLen = buf.readUInt32LE(4)
  const fieldsLen = buf.readUInt32LE(12)
  const headEnd = 16 + fieldsLen
  const size = headEnd + pad(headEnd, 8) + bodyLen
  if (buf.length < size) return undefined
  let at = 16
  let replyTo: number | undefined
  let error: string | undefined
  let signature = ""
  while (at < headEnd) {
    at += pad(at, 8)
    const code = buf[at]!
    const sigLen = buf[at + 1]!
    const sig = buf.toString("ascii", at + 2, at + 2 + sigLen)
    at += 3 + sigLen
    if (sig === "u") {
      at += pad(at, 4)
      if (code === 5) replyTo = buf.readUInt32LE(at)
      at += 4
    } else if (sig === "s" || sig === "o") {
      at += pad(at, 4)
      const len = buf.readUInt32LE(at)
      if (code === 4) error = buf.toString("utf8", at + 4, at + 4 + len)
      at += 4 + len + 1
    } else if (sig === "g") {
      const len = buf[at]!
      if (code === 8) signature = buf.toString("ascii", at + 1, at + 1 + len)
      at += 1 + len + 1
    } else
      return { size, type: buf[1]!, ...(replyTo === undefined ? {} : { replyTo }), error: `unreadable field ${sig}` }
  }
  const bodyAt = headEnd + pad(headEnd, 8)
  const text = signature.startsWith("s")
    ? buf.toString("utf8", bodyAt + 4, bodyAt + 4 + buf.readUInt32LE(bodyAt))
    : undefined
  return {
    size,
    type: buf[1]!,
    ...(replyTo === undefined ? {} : { replyTo }),
    ...(error === undefined ? {} : { error }),
    ...(text === undefined ? {} : { text })
  }
}

/**
 * `systemctl restart UNIT` (or reload) through the bus at `socket`: undefined once systemd has queued the job,
 * else the one line why not (no bus, refused, an error systemd named, no answer in `timeoutMs`).
 */
export const systemdUnitCall = (
  socket: string,
  verb: "RestartUnit" | "ReloadUnit",
  unit: string,
  timeoutMs: number
): Promise<string | undefined> =>
  new Promise((resolve) => {
    const net = process.getBuiltinModule("node:net")
    const conn = net.createConnection(socket)
    let buf = Buffer.alloc(0)
    let authed = false
    const finish = (why: string | undefined) => {
      clearTimeout(timer)
      conn.destroy()
      resolve(why)
    }
    const timer = setTimeout(() => finish(`no answer from the system bus within ${timeoutMs / 1000} s`), timeoutMs)
    conn.on("error", (e) => finish(`cannot reach the system bus at ${socket}: ${e.message}`))
    conn.on("connect", () => {
      const uid = String(process.getuid?.() ?? 0)
      conn.write(
        Buffer.concat([Buffer.from([0]), Buffer.from(`AUTH EXTERNAL ${Buffer.from(uid).toString("hex")}\r\n`)])
      )
    })
    conn.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (buf.length > MAX_REPLY) return finish("the system bus answered more than expected")
      if (!authed) {
        const line = buf.toString("latin1")
        if (!line.includes("\r\n")) return
        if (!line.startsWith("OK ")) return finish(`the system bus refused this process: ${line.split("\r\n")[0]}`)
        authed = true
        buf = Buffer.alloc(0)
        const bus = {
          path: "/org/freedesktop/DBus",
          iface: "org.freedesktop.DBus",
          destination: "org.freedesktop.DBus"
        }
        const systemd = {
          path: "/org/freedesktop/systemd1",
          iface: "org.freedesktop.systemd1.Manager",
          destination: "org.freedesktop.systemd1"
        }
        conn.write(
          Buffer.concat([
            Buffer.from("BEGIN\r\n"),
            methodCall(1, { ...bus, member: "Hello", args: [] }),
            methodCall(2, { ...systemd, member: verb, args: [unit, "replace"] })
          ])
        )
        return
      }
      for (let m = parseMessage(buf); m !== undefined; m = parseMessage(buf)) {
        buf = buf.subarray(m.size)
        if (m.replyTo !== 1 && m.replyTo !== 2) continue
        if (m.type === 3) return finish(`systemd: ${verb} ${unit}: ${m.error ?? "error"}${m.text ? `: ${m.text}` : ""}`)
        if (m.replyTo === 2 && m.type === 2) return finish(undefined)
      }
    })
  })
