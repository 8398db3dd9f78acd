/**
 * What doctor asks the host's programs, where it may: `--version` of an engine's daemon on this host (root /
 * only: a --root tree's engines are not this host's programs), bounded in time and output. Undefined where the
 * program is not on PATH or does not answer.
 */
export const engineVersion =
  (root: string) =>
  (program: "containerd" | "dockerd"): string | undefined => {
    if (root !== "/") return undefined
    const r = process
      .getBuiltinModule("node:child_process")
      .spawnSync(program, ["--version"], { encoding: "utf8", timeout: 5000, maxBuffer: 64 * 1024 })
    const line = r.status === 0 ? r.stdout.split("\n")[0]?.trim() : undefined
    return line === "" ? undefined : line
  }
