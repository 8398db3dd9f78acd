import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { appendRunLog, formatRunRecord, type RunRecord } from "../platform/RunLog.ts"

/** One run's outcome as the pipeline reports it; the layer adds the time and duration. */
export type RunEntry = Omit<RunRecord, "durationMs">

/** What the pipeline reports to: a tap that never fails and never changes the outcome. */
export interface RunLogShape {
  readonly record: (entry: RunEntry) => Effect.Effect<void>
}

/**
 * Where the pipeline reports each run. A reference: by default nothing is recorded, so a program that
 * embeds the pipeline need not provide it; the hook's `--log FILE` provides `layerFile`.
 */
export const RunLog: Context.Reference<RunLogShape> = Context.Reference<RunLogShape>("ascend-docker-hook/RunLog", {
  defaultValue: () => ({ record: () => Effect.void })
})

/** Appends one line per run to `file` (platform/RunLog.ts: rotation, modes, never failing the container). */
export const layerFile = (file: string, map: (entry: RunEntry) => RunEntry = (e) => e): Layer.Layer<never> =>
  Layer.succeed(RunLog, {
    record: (entry) =>
      Effect.sync(() => {
        appendRunLog(file, formatRunRecord({ ...map(entry), durationMs: performance.now() }, new Date()))
      })
  })
