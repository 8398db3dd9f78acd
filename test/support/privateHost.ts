import { type ChildProcess, type SpawnSyncOptions, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * A private view of the host for the engine tests: a mount namespace of its own in which /etc, /usr/local
 * and /run are overlays whose writes land in a scratch directory (/run too because containerd's shims put
 * their sockets in /run/containerd/s whatever the daemon's --state). In there the installer runs
 * as an admin runs it (`--root /`, the real paths an engine reads), and the engines started in there see
 * its files, while the host's own /etc and /usr/local never change. The namespace lives as long as its
 * holder process (a `sleep`); `stop` kills it by pid, and the mounts go with the last process in it.
 */
export interface PrivateHost {
  /** The holder's pid: `nsenter -t PID -m` enters the namespace. */
  readonly pid: number
  readonly scratch: string
  /** Runs a command in the namespace (synchronously). */
  readonly run: (argv: ReadonlyArray<string>, options?: SpawnSyncOptions) => ReturnType<typeof spawnSync>
  /** The argv prefix that runs a command in the namespace. */
  readonly enter: ReadonlyArray<string>
  /** Starts a long-running command (a daemon) in the namespace, its output appended to `log`. */
  readonly daemon: (argv: ReadonlyArray<string>, log: string, env?: Record<string, string>) => ChildProcess
  readonly stop: () => void
}

const OVERLAID = ["/etc", "/usr/local", "/run"] as const

export const canMakePrivateHost = (): string | undefined => {
  if (process.getuid?.() !== 0) return "needs root (mount namespaces and overlays)"
  for (const tool of ["/usr/bin/unshare", "/usr/bin/nsenter"]) if (!fs.existsSync(tool)) return `no ${tool}`
  if (!fs.readFileSync("/proc/filesystems", "utf8").includes("overlay")) return "no overlay filesystem"
  return undefined
}

export const privateHost = (scratch: string): Promise<PrivateHost> => {
  const mounts = OVERLAID.map((dir) => {
    const name = dir.slice(1).replaceAll("/", "-")
    const upper = path.join(scratch, `${name}.upper`)
    const work = path.join(scratch, `${name}.work`)
    fs.mkdirSync(upper, { recursive: true })
    fs.mkdirSync(work, { recursive: true })
    return `mount -t overlay overlay -o lowerdir=${dir},upperdir=${upper},workdir=${work} ${dir}`
  })
  const script = `set -e; ${mounts.join("; ")}; echo ready; exec sleep 100000`
  const holder = spawn("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  return new Promise((resolve, reject) => {
    let err = ""
    holder.stderr.on("data", (d) => {
      err += d
    })
    holder.on("exit", (code) => reject(new Error(`private host did not start (${code}): ${err}`)))
    holder.stdout.once("data", () => {
      const pid = holder.pid!
      const enter = ["/usr/bin/nsenter", "-t", String(pid), "-m", "--"]
      resolve({
        pid,
        scratch,
        enter,
        run: (argv, options) =>
          spawnSync(enter[0]!, [...enter.slice(1), ...argv], { encoding: "utf8", timeout: 120_000, ...options }),
        daemon: (argv, log, env) => {
          const out = fs.openSync(log, "a")
          return spawn(enter[0]!, [...enter.slice(1), ...argv], {
            stdio: ["ignore", out, out],
            ...(env === undefined ? {} : { env })
          })
        },
        stop: () => {
          holder.removeAllListeners("exit")
          try {
            process.kill(pid, "SIGKILL")
          } catch {}
        }
      })
    })
  })
}
