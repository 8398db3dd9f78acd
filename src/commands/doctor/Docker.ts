import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/** Docker: daemon.json read (never changed) for an ascend runtime that exists, or CDI to fall back on. */

const DAEMON_JSON = "/etc/docker/daemon.json"

const dockerLines = (ctx: DoctorContext, daemon: string): ReadonlyArray<Check> => {
  let runtime: unknown
  try {
    runtime = (JSON.parse(daemon) as { runtimes?: Record<string, { path?: string }> }).runtimes?.ascend?.path
  } catch {
    return [
      {
        id: "docker",
        status: "fail",
        message: `docker: ${DAEMON_JSON} is not valid JSON; dockerd will not start`,
        fix: "fix the file"
      }
    ]
  }
  if (typeof runtime === "string")
    return [
      ctx.host.exists(ctx.at(runtime))
        ? { id: "docker", status: "ok", message: `docker: runtime ascend -> ${runtime}` }
        : {
            id: "docker",
            status: "fail",
            message: `docker: runtime ascend points at ${runtime}, which does not exist`,
            fix: "ascend-docker-hook install --runtime docker"
          }
    ]
  const cdi = ctx.cdiDevices().length > 0
  return [
    {
      id: "docker",
      status: cdi ? "ok" : "warn",
      message: `docker: no ascend runtime${cdi ? "; CDI devices can be used (docker >= 25: --device ascend.com/npu=0)" : ""}`,
      fix: "ascend-docker-hook install --runtime docker, or cdi generate"
    }
  ]
}

/** Docker's ascend runtime, when there is a daemon.json. */
export const dockerRuntime: DoctorCheck = {
  name: "docker",
  looksAt: `${DAEMON_JSON}: runtimes.ascend and the program it names`,
  run: (ctx) => {
    const daemon = ctx.read(DAEMON_JSON)
    return daemon === undefined ? [] : dockerLines(ctx, daemon)
  }
}

/** Docker's checks, in the order doctor reports them. */
export const DOCKER_CHECKS: ReadonlyArray<DoctorCheck> = [dockerRuntime]
