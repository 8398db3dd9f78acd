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
   * else spawn, wait, and pass on the exit status (128+signal for a signal). Node aborts the whole
   * process, with a multi-line dump, when execve itself fails; so what would make it fail is checked
   * first (see `preflight`) and reported as an ExecError instead.
   */
  static readonly layerNode = (options: { readonly execve?: boolean } = {}): Layer.Layer<Exec> =>
    Layer.succeed(Exec, {
      replace: (file, argv) =>
        Effect.try({
          try: () => {
            const execve = options.execve === false ? undefined : process.execve
            if (execve === undefined) return spawnAndWait(file, argv)
            preflight(file)
            return execve.call(process, file, [...argv], process.env)
          },
          catch: (e) => new ExecError({ path: file, detail: e instanceof Error ? e.message : String(e) })
        })
    })
}

/**
 * What the kernel would refuse, checked before execve: the file must be executable by us on a mount that
 * allows exec (access X_OK), and be an ELF binary or a `#!` script whose interpreter is executable
 * (otherwise ENOEXEC). Anything else execve might still hit (ENOMEM, ETXTBSY) is beyond a check.
 */
export const preflight = (file: string): void => {
  const fs = process.getBuiltinModule("node:fs")
  fs.accessSync(file, fs.constants.X_OK)
  const head = new Uint8Array(256)
  const fd = fs.openSync(file, "r")
  let n: number
  try {
    n = fs.readSync(fd, head, 0, head.length, 0)
  } finally {
    fs.closeSync(fd)
  }
  if (n >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) return
  if (n >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const line = new TextDecoder().decode(head.subarray(2, n)).split("\n")[0]!
    const interpreter = line.trim().split(/[ \t]/)[0] ?? ""
    if (!interpreter.startsWith("/"))
      throw new Error(`script interpreter ${JSON.stringify(interpreter)} is not absolute`)
    fs.accessSync(interpreter, fs.constants.X_OK)
    return
  }
  throw new Error("is neither an ELF executable nor a #! script (execve would fail with ENOEXEC)")
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
