import { nodeFs } from "../../platform/NodeFs.ts"
import { CONTAINERD_CONFIG, CONTAINERD_DROP_IN } from "../install/ContainerdToml.ts"
import { CRIO_CONFIG, CRIO_DROP_IN } from "../install/Crio.ts"
import { peerOf } from "./PeerCred.ts"
import { SYSTEM_BUS, systemdUnitCall } from "./SystemdBus.ts"

/**
 * How each engine takes a change of its config, one small unit per engine: dockerd rereads daemon.json's
 * runtimes on SIGHUP (same pid, nothing stops); containerd and CRI-O read their config only at start, so
 * they get SIGTERM and their service manager (systemd's Restart=) starts them again, which is seen as the
 * socket answering from a new pid. The daemon is found by its socket (SO_PEERCRED), never by name.
 */
export type EngineName = "docker" | "containerd" | "crio"

export interface Engine {
  readonly name: EngineName
  /** The daemon's name in messages, and its systemd unit. */
  readonly daemon: string
  /** Its API socket on the host. */
  readonly socket: string
  /** The files install changes that the daemon reads: a change in them is what it must take. */
  readonly files: ReadonlyArray<string>
  readonly takes: "reload" | "restart"
}

/** The engine's systemd unit (what --restart-mode systemd restarts or reloads). */
const unitOf = (engine: Engine): string => `${engine.name === "docker" ? "docker" : engine.daemon}.service`

/** The engines node-setup can make take a change. */
export const ENGINES: Record<EngineName, Engine> = {
  docker: {
    name: "docker",
    daemon: "dockerd",
    socket: "/run/docker.sock",
    files: ["/etc/docker/daemon.json"],
    takes: "reload"
  },
  containerd: {
    name: "containerd",
    daemon: "containerd",
    socket: "/run/containerd/containerd.sock",
    files: [CONTAINERD_CONFIG, CONTAINERD_DROP_IN],
    takes: "restart"
  },
  crio: {
    name: "crio",
    daemon: "crio",
    socket: "/run/crio/crio.sock",
    files: [CRIO_CONFIG, CRIO_DROP_IN],
    takes: "restart"
  }
}

/** What the engine's files are now (their bytes' digest, or absent): compared before and after a change. */
export const fingerprint = (hostRoot: string, engine: Engine): string => {
  const fs = nodeFs()
  const { createHash } = process.getBuiltinModule("node:crypto")
  return engine.files
    .map((f) => {
      try {
        return createHash("sha256")
          .update(fs.readFileSync(`${hostRoot}${f}`))
          .digest("hex")
      } catch {
        return "-"
      }
    })
    .join(" ")
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** GET /info from dockerd: the names of its runtimes, or undefined when it does not answer. */
const dockerRuntimes = (socket: string): Promise<ReadonlyArray<string> | undefined> =>
  new Promise((resolve) => {
    const http = process.getBuiltinModule("node:http")
    const req = http.get({ socketPath: socket, path: "/info", timeout: 5000 }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => {
        if (body.length < 1 << 20) body += d
      })
      res.on("end", () => {
        try {
          resolve(Object.keys((JSON.parse(body) as { Runtimes?: object }).Runtimes ?? {}))
        } catch {
          resolve(undefined)
        }
      })
    })
    req.on("error", () => resolve(undefined))
    req.on("timeout", () => req.destroy())
  })

/** The outcome: done (with what happened), or the one line saying the engine did not take it. */
export type Taken = { readonly ok: true; readonly line: string } | { readonly ok: false; readonly line: string }

/** No daemon to signal: fine when none runs (it reads the config when it starts), a failure when we cannot tell. */
const notRunning = (engine: Engine, peer: { error: string; absent: boolean }): Taken =>
  peer.absent
    ? { ok: true, line: `${engine.name}: ${peer.error}; ${engine.daemon} reads the change when it starts` }
    : { ok: false, line: `${engine.name}: cannot find ${engine.daemon}: ${peer.error}` }

/**
 * Tells the daemon behind `socket` to take the change, by a signal to its pid or, with systemd, by the same
 * verb asked of the host's systemd over its bus: how it was told (for the lines), or the line why it could not be.
 */
const tell = async (
  hostRoot: string,
  engine: Engine,
  pid: number,
  how: "signal" | "systemd",
  timeoutMs: number
): Promise<{ readonly by: string } | Taken> => {
  const [signal, verb] =
    engine.takes === "reload" ? (["SIGHUP", "ReloadUnit"] as const) : (["SIGTERM", "RestartUnit"] as const)
  if (how === "signal") {
    process.kill(pid, signal)
    return { by: signal }
  }
  const refused = await systemdUnitCall(`${hostRoot}${SYSTEM_BUS}`, verb, unitOf(engine), timeoutMs)
  if (refused !== undefined) return { ok: false, line: `${engine.name}: ${refused}` }
  return { by: `systemctl ${engine.takes} ${unitOf(engine)}, over the bus` }
}

/**
 * After dockerd was told (SIGHUP, or systemctl reload), waits until its runtimes list has (or, after uninstall, lacks) ascend. A reload
 * applies only the keys daemon.json sets: when the restored file names no runtimes at all, dockerd keeps
 * the ascend it had until its next restart (whose binary uninstall removed), and that is said, not awaited.
 */
const reloaded = async (
  hostRoot: string,
  engine: Engine,
  want: boolean,
  timeoutMs: number,
  peer: { readonly pid: number },
  by: string
): Promise<Taken> => {
  const socket = `${hostRoot}${engine.socket}`
  const done = `${engine.name}: ${engine.daemon} (pid ${peer.pid}) reloaded its runtimes (${by})`
  if (!want && !namesRuntimes(`${hostRoot}${engine.files[0]}`))
    return {
      ok: true,
      line:
        `${done}; daemon.json names no runtimes now and a reload changes only what it names, so dockerd lists ` +
        "ascend until its next restart (a container asking for it fails: the wrapper is gone)"
    }
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(200)) {
    const runtimes = await dockerRuntimes(socket)
    if (runtimes !== undefined && runtimes.includes("ascend") === want) return { ok: true, line: done }
  }
  return {
    ok: false,
    line:
      `${engine.name}: ${engine.daemon} (pid ${peer.pid}) did not take the change within ${timeoutMs / 1000} s of ` +
      `${by} (its runtimes ${want ? "lack" : "still have"} ascend); see its log (journalctl -u docker)`
  }
}

/** Whether daemon.json has a runtimes key (a reload replaces dockerd's runtimes only then). */
const namesRuntimes = (file: string): boolean => {
  try {
    return Object.hasOwn(JSON.parse(nodeFs().readFileSync(file, "utf8")) as object, "runtimes")
  } catch {
    return false
  }
}

/** After the daemon was told (SIGTERM, or systemctl restart), waits until its socket answers from another pid. */
const restarted = async (
  socket: string,
  engine: Engine,
  timeoutMs: number,
  peer: { readonly pid: number },
  by: string
): Promise<Taken> => {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(200)) {
    const now = peerOf(socket)
    if ("pid" in now && now.pid !== peer.pid)
      return { ok: true, line: `${engine.name}: ${engine.daemon} restarted (pid ${peer.pid} -> ${now.pid})` }
  }
  return {
    ok: false,
    line:
      `${engine.name}: ${engine.daemon} did not come back within ${timeoutMs / 1000} s of ${by} to pid ${peer.pid} ` +
      `(nothing new answers on ${engine.socket}); is it a systemd service with Restart=? see journalctl -u ${engine.daemon}`
  }
}

/**
 * Makes `engine` take a change of its files: `signal` reloads or restarts it as above, `none` only says what
 * to restart. `want`: whether the ascend runtime is now registered (what a reload is checked against).
 */
export const take = async (
  hostRoot: string,
  engine: Engine,
  how: "signal" | "systemd" | "none",
  want: boolean,
  timeoutMs: number
): Promise<Taken> => {
  if (how === "none")
    return {
      ok: true,
      line: `${engine.name}: --restart-mode none: ${engine.takes === "reload" ? "reload" : "restart"} ${engine.daemon} to take the change (systemctl ${engine.takes === "reload" ? "reload docker" : `restart ${engine.daemon}`})`
    }
  const socket = `${hostRoot}${engine.socket}`
  const peer = peerOf(socket)
  if ("error" in peer) return notRunning(engine, peer)
  const told = await tell(hostRoot, engine, peer.pid, how, timeoutMs)
  if ("ok" in told) return told
  return engine.takes === "reload"
    ? reloaded(hostRoot, engine, want, timeoutMs, peer, told.by)
    : restarted(socket, engine, timeoutMs, peer, told.by)
}

/** Whether a file exists on the host (for the probe's CRI-O check). */
export const onHost = (hostRoot: string, p: string): boolean => nodeFs().existsSync(`${hostRoot}${p}`)
