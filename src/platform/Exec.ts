import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"

/** Why a program could not be started. */
export class ExecError extends Data.TaggedError("ExecError")<{
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `exec ${this.path}: ${this.detail}`
  }
}

/**
 * Becomes another program. `replace` never returns where the process can execve; otherwise it runs the
 * program with inherited stdio and succeeds with the exit status to end with. Implementations:
 * NodeExec.layer (execve, on Node and Bun alike) and test layers that record the argv.
 */
export class Exec extends Context.Service<
  Exec,
  {
    readonly replace: (file: string, argv: ReadonlyArray<string>) => Effect.Effect<number, ExecError>
  }
>()("ascend-docker-hook/Exec") {}
