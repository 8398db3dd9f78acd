import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Exec, ExecError } from "./Exec.ts"
import { replaceProcess } from "./execve.ts"

/** Exec over replaceProcess, with the env the entry decided (loader variables already removed). */
export const layer = (
  env: Readonly<Record<string, string>>,
  options: { readonly execve?: boolean } = {}
): Layer.Layer<Exec> =>
  Layer.succeed(Exec, {
    replace: (file, argv) =>
      Effect.try({
        try: () => replaceProcess(file, argv, env, options),
        catch: (e) => new ExecError({ path: file, detail: e instanceof Error ? e.message : String(e) })
      })
  })
