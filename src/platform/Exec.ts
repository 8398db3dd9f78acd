import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

/** Why the CLI could not be started. */
export class ExecError extends Schema.TaggedError<ExecError>()("ExecError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `exec ${this.path}: ${this.detail}`
  }
}

/**
 * Becomes another program. `replace` never returns where the process can execve; otherwise it runs the
 * program with inherited stdio and succeeds with the exit status the hook should end with.
 */
export class Exec extends Context.Service<
  Exec,
  {
    readonly replace: (file: string, argv: ReadonlyArray<string>) => Effect.Effect<number, ExecError>
  }
>()("ascend-docker-hook/Exec") {
  /**
   * The real thing: `process.execve` with the hook's own environment where Node has it (>= 22.15),
   * else spawn, wait, and pass on the exit status (128+signal for a signal).
   */
  static readonly layerNode = (options: { readonly execve?: boolean } = {}): Layer.Layer<Exec> =>
    Layer.succeed(Exec, {
      replace: (file, argv) =>
        Effect.try({
          try: () => {
            const execve = options.execve === false ? undefined : process.execve
            if (execve !== undefined) execve.call(process, file, [...argv], process.env)
            return spawnAndWait(file, argv)
          },
          catch: (e) => new ExecError({ path: file, detail: e instanceof Error ? e.message : String(e) })
        })
    })
}

const spawnAndWait = (file: string, argv: ReadonlyArray<string>): number => {
  const childProcess = process.getBuiltinModule("node:child_process")
  const os = process.getBuiltinModule("node:os")
  const result = childProcess.spawnSync(file, argv.slice(1), {
    argv0: argv[0] ?? file,
    stdio: "inherit",
    env: process.env
  })
  if (result.error !== undefined) throw result.error
  if (result.status !== null) return result.status
  return 128 + (result.signal === null ? 0 : os.constants.signals[result.signal])
}
