import { nodeFs } from "../../platform/NodeFs.ts"

/**
 * Who owns the install on this node, so that a rolling update never undoes the newer pod's work: each
 * node-setup claims the install (a record on the host naming its instance and a generation one above the
 * last) before it installs, and on SIGTERM uninstalls only if the record still names it. Claim-and-install
 * and check-and-uninstall each run under a lock file, so an old pod's uninstall and a new pod's install
 * never interleave. Both live in the host's /run (tmpfs: gone with a reboot, as the pods are), never in an
 * admin's /etc.
 */
export interface OwnerRecord {
  readonly instance: string
  readonly generation: number
  /** The node-setup process's pid (a host pid: the DaemonSet runs with hostPID). */
  readonly pid: number
  readonly since: string
  /** The install flags it used. */
  readonly args: ReadonlyArray<string>
}

/** The host dir of the record and the lock: HOST-ROOT/run/ascend-node-setup. */
export const ownerDir = (hostRoot: string): string => `${hostRoot.replace(/\/+$/, "")}/run/ascend-node-setup`

const OWNER = "owner.json"
const LOCK = "lock"

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"
  }
}

/**
 * Runs `body` holding the lock (a file made with O_EXCL holding our pid). A lock whose holder is gone (a
 * pod killed with SIGKILL) is taken over; a live holder is waited for, at most `waitMs`.
 */
export const withLock = async <A>(dir: string, waitMs: number, body: () => Promise<A>): Promise<A> => {
  const fs = nodeFs()
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const lock = `${dir}/${LOCK}`
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx", mode: 0o600 })
      break
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e
    }
    let holder = 0
    try {
      holder = Number.parseInt(fs.readFileSync(lock, "utf8"), 10)
    } catch {}
    if (holder > 0 && !alive(holder)) fs.rmSync(lock, { force: true })
    else if (Date.now() > deadline)
      throw new Error(`${lock} is held by pid ${holder} for longer than ${Math.round(waitMs / 1000)} s`)
    else sleepSync(100)
  }
  try {
    return await body()
  } finally {
    fs.rmSync(lock, { force: true })
  }
}

/** The record as it is, or undefined when there is none (or it is unreadable: then nobody owns it). */
export const readOwner = (dir: string): OwnerRecord | undefined => {
  try {
    const r = JSON.parse(nodeFs().readFileSync(`${dir}/${OWNER}`, "utf8")) as OwnerRecord
    return typeof r.instance === "string" && typeof r.generation === "number" ? r : undefined
  } catch {
    return undefined
  }
}

/** Makes `instance` the owner, one generation above the last; written whole (temp file and rename). */
export const claim = (dir: string, instance: string, args: ReadonlyArray<string>): OwnerRecord => {
  const fs = nodeFs()
  const record: OwnerRecord = {
    instance,
    generation: (readOwner(dir)?.generation ?? 0) + 1,
    pid: process.pid,
    since: new Date().toISOString(),
    args
  }
  fs.writeFileSync(`${dir}/${OWNER}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 })
  fs.renameSync(`${dir}/${OWNER}.tmp`, `${dir}/${OWNER}`)
  return record
}

/** Removes the record if it still names `instance`. */
export const release = (dir: string, instance: string): void => {
  if (readOwner(dir)?.instance === instance) nodeFs().rmSync(`${dir}/${OWNER}`, { force: true })
}
