import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import { RUNTIME_MARK } from "../../wrapper/ContainerEdits.ts"
import type { PlanContext } from "./Core.ts"

/**
 * Which running containers were created through the wrapper, read from where the engines keep their bundles.
 * Their runtime stays our wrapper until each is deleted (containerd's shim, CRI-O's and Podman's conmon call
 * the binary they were started with for `state`, `kill` and `delete`; a vNPU's poststop hook is the binary
 * too), so uninstall must not take it from under them: deleting the installer's DaemonSet while pods with
 * RuntimeClass `ascend` run would otherwise leave their shims calling a program that is gone.
 *
 * A container went through the wrapper when its bundle's config.json holds the mark the wrapper gives every
 * container it creates (ContainerEdits.RUNTIME_MARK, as the JSON string the wrapper writes). A bundle exists
 * while its container does (the engines remove it on delete).
 */

/** The engines' bundle dirs (host paths): `<root>/<namespace>/<id>/config.json`, or `<root>/<id>/userdata/config.json`. */
const BUNDLE_ROOTS: ReadonlyArray<{ readonly dir: string; readonly layout: "namespaced" | "userdata" }> = [
  // containerd 1.x and 2.x (Kubernetes over CRI, and Docker 23+ in the "moby" namespace)
  { dir: "/run/containerd/io.containerd.runtime.v2.task", layout: "namespaced" },
  // k3s and RKE2's embedded containerd
  { dir: "/run/k3s/containerd/io.containerd.runtime.v2.task", layout: "namespaced" },
  // dockerd that starts its own containerd
  { dir: "/run/docker/containerd/daemon/io.containerd.runtime.v2.task", layout: "namespaced" },
  // CRI-O and rootful Podman (containers/storage)
  { dir: "/run/containers/storage/overlay-containers", layout: "userdata" }
]

/** At most this many bundles are read (a node runs a few hundred containers); past it, the count is a floor. */
const MAX_BUNDLES = 16384
/** A config.json larger than this is not read (an engine's are tens of KiB). */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024

/** The containers found: how many, and the first few as `<namespace>/<id>` or `<id>`. */
export interface InUse {
  readonly count: number
  readonly examples: ReadonlyArray<string>
}

const list = (fs: FileSystem.FileSystem, dir: string) =>
  fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))

/** Whether the config.json at `path` carries the wrapper's mark; anything unreadable does not. */
const marked = (fs: FileSystem.FileSystem, path: string) =>
  fs.stat(path).pipe(
    Effect.flatMap((st) =>
      st.type === "File" && Number(st.size) <= MAX_CONFIG_BYTES
        ? Effect.map(fs.readFileString(path), (text) => text.includes(JSON.stringify(RUNTIME_MARK)))
        : Effect.succeed(false)
    ),
    Effect.orElseSucceed(() => false)
  )

/** The running containers, under the install's root, that were created through the wrapper. */
export const containersUsingWrapper = (ctx: PlanContext): Effect.Effect<InUse> =>
  Effect.gen(function* () {
    const found: Array<string> = []
    let read = 0
    for (const { dir, layout } of BUNDLE_ROOTS) {
      const base = ctx.at(dir)
      const bundles: Array<{ readonly name: string; readonly config: string }> = []
      for (const first of yield* list(ctx.fs, base)) {
        if (layout === "userdata") bundles.push({ name: first, config: `${base}/${first}/userdata/config.json` })
        else
          for (const id of yield* list(ctx.fs, `${base}/${first}`))
            bundles.push({ name: `${first}/${id}`, config: `${base}/${first}/${id}/config.json` })
      }
      for (const b of bundles) {
        if (read++ >= MAX_BUNDLES) return { count: found.length, examples: found.slice(0, 3) }
        if (yield* marked(ctx.fs, b.config)) found.push(b.name)
      }
    }
    return { count: found.length, examples: found.slice(0, 3) }
  })
