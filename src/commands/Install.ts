import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type { CliProtocol } from "../HookConfig.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { isBinary, selfDir } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { cliProtocolOf } from "../schemas/CliProtocol.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { hostFiles } from "./HostFiles.ts"
import { apply } from "./install/Apply.ts"
import { binaryInstall, binaryUninstall, SELF_MARK } from "./install/Binary.ts"
import {
  type Changes,
  type Options,
  type PlanContext,
  planContext,
  RUNTIMES,
  type RuntimeName
} from "./install/Core.ts"
import { ENGINES } from "./install/Engine.ts"
import { type Change, current, type InstallError, orFail } from "./install/Files.ts"
import { hostUnitsInstall, hostUnitsUninstall, unitsHint } from "./install/HostUnits.ts"
import { prepareAdminRun, releaseAdminRun } from "./install/Lock.ts"
import {
  baseListInstall,
  baseListUninstall,
  gateArgsOf,
  runtimeConfInstall,
  runtimeConfUninstall
} from "./install/Settings.ts"

export { type Options, RUNTIMES, type RuntimeName } from "./install/Core.ts"
export { ENGINES } from "./install/Engine.ts"
export { hooksdJson } from "./install/Hooksd.ts"
export { BASE_LIST, defaultBaseList } from "./install/Settings.ts"
export { SELF_MARK }

const FLAGS: ReadonlyArray<Flag> = [
  { name: "--runtime", value: "NAME", oneOf: RUNTIMES, repeat: true, help: "register with this engine" },
  { name: "--default-runtime", help: "make ascend the default runtime of docker / containerd / CRI-O" },
  { name: "--prefix", value: "DIR", absolute: true, help: "where bin/ goes (default /usr/local)" },
  { name: "--root", value: "DIR", absolute: true, help: "act on a tree rooted at DIR instead of / (images, tests)" },
  {
    name: "--cli-protocol",
    value: "P",
    oneOf: ["2021", "2023"],
    help: "the CLI's protocol (default: read from the ascend-docker-cli in PREFIX/bin)"
  },
  {
    name: "--mode",
    value: "M",
    oneOf: ["hook", "cdi"],
    help: "how the wrapper gives NPUs: the hook (default) or CDI edits with no hook or CLI (runtime.conf)"
  },
  {
    name: "--unprivileged-env",
    value: "P",
    oneOf: ["accept", "ignore", "refuse"],
    help: "what an ASCEND_VISIBLE_DEVICES from a container without CAP_SYS_ADMIN gets (runtime.conf, hooks.d args)"
  },
  {
    name: "--dev-root",
    value: "DIR",
    absolute: true,
    help: "where the device nodes are, for the CDI spec Podman gets with a 2023 CLI (default /dev)"
  },
  {
    name: "--cdi-refresh",
    help: "systemd units that regenerate the CDI spec (into /var/run/cdi) at boot and when the driver changes"
  },
  { name: "--dev-char-links", help: "a systemd unit that makes the /dev/char links of the NPU nodes at boot" },
  { name: "--force", help: "replace files and entries at our paths that are not ours (a backup of each is kept)" },
  { name: "--dry-run", help: "print every change, write nothing" },
  { name: "--help", help: "this text" }
]

export const INSTALL_USAGE = `${SELF_MARK} [--runtime NAME]... [--default-runtime] [--prefix DIR]
                                             [--root DIR] [--cli-protocol P] [--force] [--dry-run]

install places ascend-docker-hook (and ascend-docker-runtime, a link to it) in PREFIX/bin, a default
/etc/ascend-docker-runtime.d/base.list if there is none, and registers with each engine named:
  docker      /etc/docker/daemon.json: runtimes.ascend spliced in, every other byte kept
  containerd  /etc/containerd/conf.d/99-ascend.toml (the runtime), and one entry in config.toml's imports;
              k3s / RKE2: their config.toml.tmpl (config-v3.toml.tmpl) gets the runtime after {{ template "base" . }}
  crio        /etc/crio/crio.conf.d/99-ascend.conf (runtime handler ascend, the wrapper), and with a 2021 CLI
              /usr/share/containers/oci/hooks.d/ascend-docker-hook.json
  podman      /etc/containers/oci/hooks.d/ascend-docker-hook.json (2021 CLI); with a 2023 CLI the CDI spec
              /etc/cdi/ascend.com-npu.json instead, as cdi generate makes it (not with --root);
              uninstall removes it only when it is exactly what cdi generate makes then
With --mode, --cli-protocol or --unprivileged-env it also writes /etc/ascend-docker-runtime.d/runtime.conf,
the wrapper's settings (the daemon's env still wins), and gives the hooks.d hook the same policy.
With --cdi-refresh (the CDI route) and --dev-char-links it writes and enables systemd units in
/etc/systemd/system (see README, "When the host changes"); uninstall removes every unit of ours.
Each file it changes keeps its mode, owner and group, and is first backed up as FILE.ascend-backup-<time>
(as private as the file). Files and entries at these paths that are not ours are left alone (--force
replaces them, keeping a backup). Nothing is written unless every change can be made. uninstall undoes
exactly that: a file install changed and nobody edited since is restored from its backup; one edited since
loses only our entries. Installing twice changes nothing.

${flagHelp(FLAGS)}

With a 2023 CLI (every CLI shipped since March 2023) device nodes must come from the wrapper (docker,
containerd, CRI-O's ascend handler: it detects the protocol itself) or from CDI; a hooks.d hook cannot add them.`

/** Works out every change, reading through `fs` and writing nothing. Paths in the result are under the root. */
export const plan = (fs: FileSystem.FileSystem, o: Options): Effect.Effect<ReadonlyArray<Change>, InstallError> =>
  Effect.gen(function* () {
    const ctx = planContext(fs, o, yield* protocolOf(fs, o), yield* gateArgsOf(fs, o))
    const parts: ReadonlyArray<(ctx: PlanContext) => Changes> =
      o.mode === "install"
        ? [
            binaryInstall,
            baseListInstall,
            runtimeConfInstall,
            hostUnitsInstall,
            ...o.runtimes.map((r) => ENGINES[r].install)
          ]
        : [
            binaryUninstall,
            baseListUninstall,
            runtimeConfUninstall,
            hostUnitsUninstall,
            ...o.runtimes.map((r) => ENGINES[r].uninstall)
          ]
    const changes: Array<Change> = []
    for (const part of parts) changes.push(...(yield* part(ctx)))
    return changes
  })

/** The protocol install works with: --cli-protocol, else read from the CLI in PREFIX/bin under the root. */
export const protocolOf = (fs: FileSystem.FileSystem, o: Options): Effect.Effect<CliProtocol, InstallError> => {
  if (o.cliProtocol !== undefined) return Effect.succeed(o.cliProtocol)
  const cli = `${o.root === "/" ? "" : o.root.replace(/\/+$/, "")}${o.prefix.replace(/\/+$/, "")}/bin/ascend-docker-cli`
  return Effect.flatMap(
    current(fs, cli),
    (now): Effect.Effect<CliProtocol, InstallError> =>
      now.kind === "file"
        ? Effect.succeed(cliProtocolOf(now.bytes))
        : now.kind === "large"
          ? Effect.map(orFail(fs.readFile(cli), cli), cliProtocolOf)
          : Effect.succeed("2021")
  )
}

/** Where the binary to install comes from: this very executable, or the one built next to the bundle (read later, streamed). */
const sourceBinary = (): { path: string } | undefined => {
  const fs = nodeFs()
  const path = process.getBuiltinModule("node:path")
  const file = isBinary() ? fs.realpathSync(process.execPath) : path.join(selfDir(), "ascend-docker-hook")
  return fs.existsSync(file) ? { path: file } : undefined
}

/** How a change is printed; paths as the host will see them (the root taken off). */
export const describeChange = (c: Change, root: string, dryRun: boolean): string => {
  const shown = root === "/" ? c.path : c.path.slice(root.replace(/\/+$/, "").length) || "/"
  return `${dryRun ? "would " : ""}${c.action.padEnd(9)} ${shown}  (${c.why})`
}

/** The options of a command line that parsed. */
const optionsOf = (mode: Options["mode"], flags: Exclude<ReturnType<typeof parseFlags>, string>): Options => ({
  mode,
  runtimes: flags.all("--runtime") as ReadonlyArray<RuntimeName>,
  makeDefault: flags.has("--default-runtime"),
  prefix: flags.one("--prefix") ?? "/usr/local",
  root: flags.one("--root") ?? "/",
  cliProtocol: flags.one("--cli-protocol") as CliProtocol | undefined,
  wrapperMode: flags.one("--mode") as Options["wrapperMode"],
  unprivilegedEnv: flags.one("--unprivileged-env") as Options["unprivilegedEnv"],
  force: flags.has("--force"),
  cdiRefresh: flags.has("--cdi-refresh"),
  devCharLinks: flags.has("--dev-char-links"),
  source: mode === "install" ? sourceBinary() : undefined,
  now: new Date()
})

type Out = (line: string) => void

/**
 * Podman's CDI spec (a file of cdi generate's, not in the plan), as install makes it with a 2023 CLI and
 * uninstall judges it: with cdi generate's defaults and this dev root.
 */
const podmanSpec = (options: Options, devRoot: string) => {
  const files = nodeFs()
  const generate = ["generate", "--dev-root", devRoot]
  const cdi = () => require("./Cdi.ts") as typeof import("./Cdi.ts")
  return {
    /** Whether a spec is there, and whether it is exactly what cdi generate makes on this host now. */
    judge: (): { readonly file: string; readonly ours: boolean } | undefined => {
      const host = hostFiles(SyncFileSystem.make(files))
      const file = `${options.root === "/" ? "" : options.root.replace(/\/+$/, "")}/etc/cdi/ascend.com-npu.json`
      if (!host.exists(file)) return undefined
      const made = options.root === "/" ? cdi().generatedSpec(generate.slice(1), host) : undefined
      return { file, ours: typeof made === "object" && made.output === file && host.readText(file) === made.text }
    },
    /** Made from the mount lists just installed (a spec already there that differs is kept as a backup by cdi generate itself). */
    generate: (out: Out, dryRun: boolean) => {
      if (dryRun) return out("podman: would generate the CDI spec (ascend-docker-hook cdi generate) after the files")
      if (cdi().runCdi(generate) !== 0)
        out(
          "podman: no CDI spec yet (see above); run ascend-docker-hook cdi generate once the NPUs and driver are in place"
        )
      else out("podman: podman run --device ascend.com/npu=0 ... (rerun cdi generate after a driver update)")
    },
    /** uninstall: the judged spec removed when it is what cdi generate makes, else left in place saying why. */
    remove: (judged: { readonly file: string; readonly ours: boolean }, out: Out, dryRun: boolean) => {
      const { file, ours } = judged
      if (!ours)
        out(
          `podman: ${file} left in place: it is not what cdi generate makes on this host now (edited, or the ` +
            "devices or driver changed); remove it if Podman should no longer offer ascend.com/npu devices"
        )
      else if (dryRun) out(`podman: would remove ${file} (what cdi generate makes on this host)`)
      else {
        files.rmSync(file)
        files.rmSync(cdi().generatedRecord(file), { force: true })
        out(`podman: removed ${file} (what cdi generate makes on this host)`)
      }
    }
  }
}

/** Plans, prints each change and (unless a dry run) applies them all or none, on the real file system. */
const planAndApply = (options: Options, out: Out, dryRun: boolean) =>
  Effect.runSync(
    Effect.result(
      Effect.provide(
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const protocol = yield* protocolOf(fs, options)
          const changes = yield* plan(fs, options)
          for (const c of changes) out(describeChange(c, options.root, dryRun))
          if (!dryRun) yield* apply(fs, changes)
          return { changes, protocol }
        }),
        SyncFileSystem.layer
      )
    )
  )

/** `install` / `uninstall`: prints each change (`create`, `update`, `remove`, `unchanged`, `keep`), then makes them all or none. */
export const runInstaller = (mode: "install" | "uninstall", args: ReadonlyArray<string>): number => {
  const files = nodeFs()
  const out = (line: string) => files.writeSync(1, `${line}\n`)
  const err = (line: string) => files.writeSync(2, `ascend-docker-hook ${mode}: ${line}\n`)
  if (args.includes("--help")) {
    out(INSTALL_USAGE)
    return 0
  }
  const flags = parseFlags(args, FLAGS)
  if (typeof flags === "string") {
    err(flags)
    return 1
  }
  const options = optionsOf(mode, flags)
  const dryRun = flags.has("--dry-run")
  if (!dryRun && !prepareAdminRun(options.root, options.prefix, err)) return 1
  // The lock is let go when the run is done, not when the process ends: node-setup stays up between its install
  // and its uninstall, and a second installer (a rolling update's new pod, an admin) must get it meanwhile.
  try {
    return finishRun(mode, options, flags, out, err, dryRun)
  } finally {
    releaseAdminRun()
  }
}

/** The run under the lock: plan, apply, and what to tell the admin. */
const finishRun = (
  mode: "install" | "uninstall",
  options: Options,
  flags: Exclude<ReturnType<typeof parseFlags>, string>,
  out: Out,
  err: Out,
  dryRun: boolean
): number => {
  const spec = podmanSpec(options, flags.one("--dev-root") ?? "/dev")
  // Judged before the plan runs, while the mount lists the spec was made from are still there.
  const judged = mode === "uninstall" && options.runtimes.includes("podman") ? spec.judge() : undefined
  const result = planAndApply(options, out, dryRun)
  if (result._tag === "Failure") {
    err(result.failure.message)
    return 1
  }
  const { changes, protocol } = result.success
  const changed = changes.filter((c) => c.action !== "unchanged" && c.action !== "keep").length
  out(
    `${mode}: ${changed === 0 ? "nothing to change" : `${changed} change${changed === 1 ? "" : "s"}${dryRun ? " (dry run, nothing written)" : ""}`}`
  )
  if (mode === "install" && options.runtimes.includes("podman") && protocol === "2023") spec.generate(out, dryRun)
  if (judged !== undefined) spec.remove(judged, out, dryRun)
  const hint = unitsHint(options, changes)
  if (!dryRun && hint !== undefined) out(hint)
  if (mode === "install" && !dryRun && changed > 0)
    for (const r of options.runtimes) {
      const daemon = ENGINES[r].restart
      if (daemon !== undefined) out(`${r}: restart ${daemon} (or k3s / rke2) to pick up the runtime`)
    }
  return 0
}
