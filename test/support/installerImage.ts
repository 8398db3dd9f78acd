import { type ChildProcess, execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { NODE, ROOT } from "./fixtures.ts"
import type { PrivateHost } from "./privateHost.ts"

/**
 * The installer image for the image tests: built by `scripts/image.mjs` (what `npm run image` runs) from the
 * binaries in dist/, run by Podman inside a private view of the host exactly as the DaemonSet's pod runs
 * (hostPID, the view's /etc, /usr/local and /run mounted at /host/..., /dev read-only), and the tools the
 * tests need around it: a snapshot of what the view changed, and a supervisor that restarts a daemon.
 */

export const IMAGE_ARCHIVE = path.join(ROOT, "dist/image/ascend-docker-hook-image.oci.tar")
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version
export const IMAGE_NAME = `docker.io/library/ascend-docker-hook:${version}`

/** Writes the image archive from the current binaries (what `npm run image` does after its build). */
export const buildImage = (): string =>
  execFileSync(NODE, [path.join(ROOT, "scripts/image.mjs")], { encoding: "utf8", timeout: 300_000 })

/** The archive's blobs by digest, and its index.json, read with tar. */
export const readArchive = (dir: string) => {
  fs.mkdirSync(dir, { recursive: true })
  execFileSync("tar", ["-C", dir, "-xf", IMAGE_ARCHIVE])
  const blob = (digest: string) => fs.readFileSync(path.join(dir, "blobs/sha256", digest.replace(/^sha256:/, "")))
  const json = <A>(digest: string) => JSON.parse(blob(digest).toString("utf8")) as A
  return { dir, blob, json, index: JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) }
}

/** What a tree holds, entry by entry (files: mode, owner and sha256 of the bytes; links: the target). */
export const snapshot = (top: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name)
      const st = fs.lstatSync(p)
      const rel = path.relative(top, p)
      if (st.isDirectory()) walk(p)
      else if (st.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(p)}`
      else if (st.isFile())
        out[rel] =
          `file ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`
      else out[rel] = `other ${st.mode.toString(8)}`
    }
  }
  if (fs.existsSync(top)) walk(top)
  return out
}

/** Podman in the view, on a private root, run root and tmp dir (Podman wants a run root of <= 50 chars). */
export const podmanIn = (host: PrivateHost, dir: string) => {
  const runroot = `/run/adh-img-${process.pid}`
  for (const d of ["podman/root", "podman/tmp", "podman/net"]) fs.mkdirSync(path.join(dir, d), { recursive: true })
  // A tmpfs: an overlay's upper dir (Podman's) cannot be on the overlay that the view's /run is.
  host.run(["sh", "-c", `mkdir -p -m 0700 ${runroot} && mount -t tmpfs -o mode=0700 tmpfs ${runroot}`])
  const podman = (args: ReadonlyArray<string>, timeout = 180_000) =>
    host.run(
      [
        "podman",
        ...["--root", `${dir}/podman/root`, "--runroot", runroot, "--tmpdir", `${dir}/podman/tmp`],
        ...["--network-config-dir", `${dir}/podman/net`, "--runtime", "runc", "--storage-driver", "vfs"],
        ...["--cgroup-manager", "cgroupfs", "--events-backend", "file"],
        ...args
      ],
      { encoding: "utf8", timeout }
    ) as { status: number | null; stdout: string; stderr: string }
  return {
    podman,
    /** `podman run -d` of the installer as the DaemonSet's pod runs it, with `args` (the pod's args). */
    runInstaller: (name: string, args: ReadonlyArray<string>) =>
      podman([
        "run",
        "-d",
        ...["--name", name, "--pid", "host", "--network", "none", "--privileged"],
        ...["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"],
        ...[
          "-v",
          "/etc:/host/etc",
          "-v",
          "/usr/local:/host/usr/local",
          "-v",
          "/run:/host/run",
          "-v",
          "/dev:/host/dev:ro"
        ],
        IMAGE_NAME,
        ...args
      ]),
    close: () => host.run(["umount", "-R", runroot])
  }
}

/** Polls `probe` every 250 ms until it is true or `ms` passed; the last answer. */
export const waitFor = async (ms: number, probe: () => boolean): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 250)))
    if (probe()) return true
  return probe()
}

/** The children of `pid` whose command name is `comm` (from /proc). */
export const childrenNamed = (pid: number, comm: string): ReadonlyArray<number> => {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter((p) => p !== "")
      .map(Number)
      .filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/comm`, "utf8").trim() === comm
        } catch {
          return false
        }
      })
  } catch {
    return []
  }
}

/** The pids of processes whose command line contains every one of `parts` (to stop the shims a test's daemon left). */
export const pidsWith = (...parts: ReadonlyArray<string>): ReadonlyArray<number> =>
  fs
    .readdirSync("/proc")
    .filter((p) => /^[0-9]+$/.test(p))
    .map(Number)
    .filter((p) => {
      try {
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8")
        return parts.every((x) => cmd.includes(x))
      } catch {
        return false
      }
    })

/** A shell loop in the view that restarts `argv` whenever it exits, as systemd's Restart=always does; its pid. */
export const supervise = (host: PrivateHost, argv: ReadonlyArray<string>, log: string): ChildProcess => {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ")
  return host.daemon(["/bin/sh", "-c", `while :; do ${quoted}; echo "exited $?" >&2; sleep 0.2; done`], log)
}

export const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
