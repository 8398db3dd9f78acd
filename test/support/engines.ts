import * as fs from "node:fs"
import * as path from "node:path"

/**
 * The engine generations the Docker and CRI suites run on, so one suite covers what nodes ran in 2023 and
 * what clusters run now: Debian 12's packages (dockerd 20.10, containerd 1.6: no CDI), and Debian sid's
 * (dockerd 28, containerd 2.x: CDI on by default), fetched and unpacked, never installed, by
 * scripts/fetch-sid-engines.sh. Both use Debian 12's runc (sid's wants a newer glibc).
 */
export interface EngineGeneration {
  /** Short name, in test titles. */
  readonly name: "debian12" | "sid"
  /** What it is, in test titles. */
  readonly label: string
  readonly containerd: string
  readonly ctr: string
  readonly shim: string
  readonly dockerd: string
  readonly docker: string
  /** Dirs put first in the daemons' PATH: containerd starts the first containerd-shim-runc-v2 there. */
  readonly path: ReadonlyArray<string>
  /** True where the engines apply CDI specs themselves by default (dockerd >= 28.2, containerd 2.x). */
  readonly cdi: boolean
  /** True where the test starts containerd for dockerd (`--containerd`) instead of dockerd starting one from PATH. */
  readonly ownContainerd: boolean
  /** The versions this generation is (the suites check the daemons they started are these). */
  readonly dockerVersion: RegExp
  readonly containerdVersion: RegExp
  /** Where to get it, for the error line when it is missing. */
  readonly howToGet: string
}

/** Where fetch-sid-engines.sh unpacks sid's engines (ADH_SID_ENGINES overrides the cache dir). */
export const SID_CACHE = process.env.ADH_SID_ENGINES ?? "/var/cache/ascend-docker-hook-engines"
const SID = path.join(SID_CACHE, "sid")

export const DEBIAN12: EngineGeneration = {
  name: "debian12",
  label: "Debian 12: dockerd 20.10, containerd 1.6",
  containerd: "/usr/bin/containerd",
  ctr: "/usr/bin/ctr",
  shim: "/usr/bin/containerd-shim-runc-v2",
  dockerd: "/usr/sbin/dockerd",
  docker: "/usr/bin/docker",
  path: [],
  cdi: false,
  ownContainerd: false,
  dockerVersion: /^20\.10\./,
  containerdVersion: /^v?1\.6\./,
  howToGet: "apt-get install docker.io containerd (.ci/run does)"
}

export const SID_ENGINES: EngineGeneration = {
  name: "sid",
  label: "Debian sid: dockerd 28, containerd 2",
  containerd: path.join(SID, "usr/bin/containerd"),
  ctr: path.join(SID, "usr/bin/ctr"),
  shim: path.join(SID, "usr/bin/containerd-shim-runc-v2"),
  dockerd: path.join(SID, "usr/sbin/dockerd"),
  docker: path.join(SID, "usr/bin/docker"),
  path: [path.join(SID, "usr/bin"), path.join(SID, "usr/sbin")],
  cdi: true,
  ownContainerd: true,
  dockerVersion: /^28\./,
  containerdVersion: /^v?2\./,
  howToGet: "scripts/fetch-sid-engines.sh (.ci/run runs it)"
}

export const GENERATIONS: ReadonlyArray<EngineGeneration> = [DEBIAN12, SID_ENGINES]

/** The PATH the test gives a generation's daemons: its own dirs first, then the system's (runc is Debian 12's). */
export const daemonPath = (gen: EngineGeneration): string =>
  [...gen.path, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":")

/** The generation's programs `need` names that are not there (as paths). */
export const missingPrograms = (
  gen: EngineGeneration,
  need: ReadonlyArray<"containerd" | "ctr" | "shim" | "dockerd" | "docker">
): ReadonlyArray<string> => need.map((k) => gen[k]).filter((p) => !isExecutable(p))

const isExecutable = (p: string): boolean => {
  try {
    fs.accessSync(p, fs.constants.X_OK)
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

/** The first line a program prints for `--version` (what the test ran, for the report and titles). */
export const versionLine = (out: string): string => out.split("\n")[0]?.trim() ?? ""
