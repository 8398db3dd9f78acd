import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Hook from "../Hook.ts"
import { CLI_NAME, DEFAULT_CONFIG_DIR } from "../HookConfig.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import * as NodePlatform from "../platform/NodePlatform.ts"
import { selfDir } from "../platform/Self.ts"
import { RUNTIME_MOUNTS, RUNTIME_OPTIONS, VISIBLE_DEVICES } from "../schemas/AscendEnv.ts"
import { conflictingDuplicates, lookupEnv } from "../schemas/ContainerEnv.ts"
import { CliLauncher } from "../services/CliLauncher.ts"
import { EnvDecoder } from "../services/EnvDecoder.ts"
import { MountResolver } from "../services/MountResolver.ts"
import { SpecParser } from "../services/SpecParser.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"

const EXPLAIN_FLAGS: ReadonlyArray<Flag> = [
  { name: "--bundle", value: "DIR", help: "the container's bundle (its config.json); required" },
  { name: "--config-dir", value: "DIR", help: "the mount lists' dir (default /etc/ascend-docker-runtime.d)" },
  { name: "--cli", value: "PATH", help: "the native CLI (default: ascend-docker-cli next to this program)" },
  { name: "--help", help: "this text" }
]

export const EXPLAIN_USAGE = `usage: ascend-docker-hook explain --bundle DIR [--config-dir DIR] [--cli PATH]

Says, for an admin, what the hook would do for the container in bundle DIR and why: what its env asks
for, which mount-list lines are taken or skipped (and the reason for each), whether the CLI is trusted,
and the argv it would exec. Reads only; runs nothing.

${flagHelp(EXPLAIN_FLAGS)}`

const show = (value: string | undefined) => (value === undefined ? "(unset)" : JSON.stringify(value))

/** The explain program: the hook's own stages, reporting as they go. Exit 0 when the hook would succeed. */
export const explain = (args: ReadonlyArray<string>): number => {
  const fs = nodeFs()
  const path = process.getBuiltinModule("node:path")
  const out = (line: string) => fs.writeSync(1, `${line}\n`)
  if (args.includes("--help")) {
    out(EXPLAIN_USAGE)
    return 0
  }
  const parsed = parseFlags(args, EXPLAIN_FLAGS)
  if (typeof parsed === "string") {
    fs.writeSync(2, `ascend-docker-hook explain: ${parsed}\n`)
    return 1
  }
  const flags: Record<string, string | undefined> = {
    "--bundle": parsed.one("--bundle"),
    "--config-dir": parsed.one("--config-dir"),
    "--cli": parsed.one("--cli")
  }
  if (flags["--bundle"] === undefined || flags["--bundle"] === "") {
    fs.writeSync(2, "ascend-docker-hook explain: --bundle DIR is required\n")
    return 1
  }
  const bundle = path.resolve(flags["--bundle"]!)
  const settings = {
    configDir: path.resolve(flags["--config-dir"] ?? DEFAULT_CONFIG_DIR),
    cliPath: path.resolve(flags["--cli"] ?? path.join(selfDir(), CLI_NAME)),
    statePath: "/dev/null",
    uid: process.getuid?.() ?? 0
  }
  const program = Effect.gen(function* () {
    out(`bundle ${bundle}`)
    const config = yield* (yield* SpecParser).parse(bundle)
    out(`  config.json: rootfs ${config.rootfs}, ${config.env.length} env entries`)
    out(`  ${VISIBLE_DEVICES}=${show(lookupEnv(config.env, VISIBLE_DEVICES))}`)
    out(`  ${RUNTIME_MOUNTS}=${show(lookupEnv(config.env, RUNTIME_MOUNTS))}`)
    out(`  ${RUNTIME_OPTIONS}=${show(lookupEnv(config.env, RUNTIME_OPTIONS))}`)
    for (const d of conflictingDuplicates(config.env)) {
      out(
        `  note: ${d.key} is set ${d.others.length + 1} times with different values; the first, ${show(d.used)}, is used ` +
          `(as the container's own getenv sees it), not ${d.others.map(show).join(", ")}`
      )
    }
    const request = yield* (yield* EnvDecoder).decode(config.env)
    if (Option.isNone(request)) {
      out("not an NPU container: the hook exits 0 at once, reads no mount list and runs nothing")
      return 0
    }
    const { devices, mountLists, options } = request.value
    out(
      `asks for NPUs ${devices.join(",")}; mount lists ${mountLists.join(", ")}; options ${options.join(",") || "none"}`
    )
    out(`config dir ${settings.configDir}`)
    const decisions = yield* (yield* MountResolver).inspect(mountLists)
    for (const d of decisions) {
      const what =
        d.outcome === "file"
          ? "taken: --mount-file"
          : d.outcome === "dir"
            ? "taken: --mount-dir"
            : d.outcome === "duplicate"
              ? "skipped: already taken from an earlier line"
              : `skipped: ${d.why ?? "not a file, socket or directory"}`
      out(`  ${path.basename(d.list)}:${d.line} ${d.path}  ${what}`)
    }
    if (decisions.length === 0) out("  (the lists name no path)")
    const mounts = {
      files: decisions.filter((d) => d.outcome === "file").map((d) => d.path),
      dirs: decisions.filter((d) => d.outcome === "dir").map((d) => d.path)
    }
    const argv = yield* (yield* CliLauncher).prepare({ devices, pid: 1, rootfs: config.rootfs, mounts, options })
    out(`CLI ${settings.cliPath}: trusted (owner, mode, parents), executable`)
    const shown = argv.map((a, i) => (argv[i - 1] === "--pid" ? "<container pid>" : a))
    out(`the hook would exec:\n  ${shown.join(" ")}`)
    return 0
  })
  const exit = Effect.runSyncExit(
    program.pipe(Effect.provide(Hook.layer.pipe(Layer.provide(NodePlatform.layer(settings)))))
  )
  if (Exit.isSuccess(exit)) return exit.value
  out(`the hook would refuse this container: ${NodePlatform.failureMessage(exit.cause)}`)
  return 1
}
