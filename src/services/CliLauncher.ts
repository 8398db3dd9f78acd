import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type CliProtocol, HookConfig } from "../HookConfig.ts"
import { Limits } from "../Limits.ts"
import { Exec, type ExecError } from "../platform/Exec.ts"
import type { RuntimeOption } from "../schemas/AscendEnv.ts"
import { formatDeviceList } from "../schemas/DeviceList.ts"
import { absolutePathProblem } from "../schemas/Paths.ts"
import { quote, utf8Length } from "../schemas/Text.ts"
import { FileTrust, type TrustError } from "./FileTrust.ts"
import type { ResolvedMounts } from "./MountResolver.ts"

/** Why the CLI's argv could not be built. */
export class LaunchError extends Data.TaggedError("LaunchError")<{
  readonly reason: "BadCliPath" | "ArgTooLong" | "ArgvTooLong" | "BadArg"
  readonly detail: string
}> {
  override get message(): string {
    return `ascend-docker-cli: ${this.detail}`
  }
}

/** Everything the CLI is told. */
export interface LaunchRequest {
  /** For the 2021 CLI's --devices; the 2023 CLI gets none (the wrapper adds the nodes). */
  readonly devices: ReadonlyArray<number>
  /** The 2023 CLI's --allow-link. */
  readonly allowLink?: boolean
  readonly pid: number
  readonly rootfs: string
  readonly mounts: ResolvedMounts
  readonly options: ReadonlyArray<RuntimeOption>
}

/**
 * The CLI's argv. 2021, exactly as the seed builds it:
 * `<cli> --devices 0,1 --pid P --rootfs R [--mount-file F]... [--mount-dir D]... [--options O]`;
 * 2023, as today's hook builds it:
 * `<cli> --allow-link True|False --pid P --rootfs R [--mount-file F]... [--mount-dir D]... [--options O]`.
 */
export const buildArgv = (
  cliPath: string,
  request: LaunchRequest,
  protocol: CliProtocol = "2021"
): ReadonlyArray<string> => {
  const argv =
    protocol === "2021"
      ? [cliPath, "--devices", formatDeviceList(request.devices)]
      : [cliPath, "--allow-link", request.allowLink === true ? "True" : "False"]
  argv.push("--pid", String(request.pid), "--rootfs", request.rootfs)
  for (const f of request.mounts.files) argv.push("--mount-file", f)
  for (const d of request.mounts.dirs) argv.push("--mount-dir", d)
  if (request.options.length > 0) argv.push("--options", request.options.join(","))
  return argv
}

/** Checks an argv against what execve accepts, before exec rather than after. */
export const checkArgv = (argv: ReadonlyArray<string>): LaunchError | undefined => {
  let total = 0
  for (const arg of argv) {
    if (arg.includes("\u0000"))
      return new LaunchError({ reason: "BadArg", detail: `argument ${quote(arg)} holds a NUL` })
    const bytes = utf8Length(arg) + 1
    if (bytes > Limits.argBytes) {
      const detail = `argument ${quote(arg)} is longer than ${Limits.argBytes} bytes`
      return new LaunchError({ reason: "ArgTooLong", detail })
    }
    total += bytes
  }
  return total > Limits.argvBytes
    ? new LaunchError({
        reason: "ArgvTooLong",
        detail: `argv of ${argv.length} arguments is ${total} bytes, more than ${Limits.argvBytes}`
      })
    : undefined
}

/** Stage 5: checks the native CLI, builds its argv, and becomes it. */
export class CliLauncher extends Context.Service<
  CliLauncher,
  {
    /** The argv the CLI would get, after checking the CLI file itself (trust, regular, executable). */
    readonly prepare: (request: LaunchRequest) => Effect.Effect<ReadonlyArray<string>, LaunchError | TrustError>
    /** Replaces the hook with the CLI; where that is impossible, runs it and gives its exit status. */
    readonly launch: (argv: ReadonlyArray<string>) => Effect.Effect<number, ExecError>
  }
>()("ascend-docker-hook/CliLauncher") {
  /** Uses FileTrust for the CLI file and Exec to become it. */
  static readonly layer = Layer.effect(
    CliLauncher,
    Effect.gen(function* () {
      const trust = yield* FileTrust
      const exec = yield* Exec
      const { cliPath, protocol } = yield* HookConfig
      return CliLauncher.of({
        prepare: Effect.fn("CliLauncher.prepare")(function* (request: LaunchRequest) {
          const problem = absolutePathProblem(cliPath)
          if (problem !== undefined) {
            return yield* new LaunchError({ reason: "BadCliPath", detail: `CLI path ${quote(cliPath)} ${problem}` })
          }
          yield* trust.file(cliPath, "CLI", { executable: true })
          const argv = buildArgv(cliPath, request, protocol)
          const bad = checkArgv(argv)
          if (bad !== undefined) return yield* bad
          return argv
        }),
        launch: (argv) => exec.replace(argv[0] ?? cliPath, argv)
      })
    })
  )
}
