import { joinPath } from "../schemas/Paths.ts"

/** Where the wrapper keeps vNPU records unless ASCEND_DOCKER_RUNTIME_STATE_DIR says otherwise. */
export const DEFAULT_STATE_DIR = "/run/ascend-docker-runtime"

/** A container id as runc allows it, and short enough to be a file name. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$/

/** The container id of a runc create/run/delete command line: its last argument (runc takes exactly one). */
export const containerIdOf = (args: ReadonlyArray<string>): string | undefined => {
  const last = args[args.length - 1]
  return last !== undefined && CONTAINER_ID.test(last) ? last : undefined
}

/**
 * Where the record of a vNPU made for a container lives until runc has the container (or the vNPU is gone).
 * Kept apart from wrapper/Vnpu.ts so that `delete`'s look for one loads nothing else.
 */
export const recordPath = (stateDir: string, containerId: string): string =>
  joinPath(stateDir, "vnpu", `${containerId}.json`)
