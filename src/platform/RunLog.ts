/** One run of the hook, as the optional run log records it. */
export interface RunRecord {
  readonly id?: string | undefined
  readonly devices?: ReadonlyArray<number> | undefined
  readonly mounts?: number | undefined
  readonly options?: ReadonlyArray<string> | undefined
  /** ASCEND_ variables set more than once with different values; the first was used. */
  readonly duplicates?: ReadonlyArray<string> | undefined
  /** `exec`, `dry-run`, `not-npu`, or `error:<Tag>:<reason>`. */
  readonly outcome: string
  readonly durationMs: number
}

/** Rotation: at 2 MiB the log moves to .1 (and .1 to .2); two old logs are kept. */
export const RUN_LOG_MAX_BYTES = 2 * 1024 * 1024
export const RUN_LOG_KEEP = 2

const word = (s: string) => (/^[A-Za-z0-9._:,/-]*$/.test(s) && s !== "" ? s : JSON.stringify(s))

/** One line: time, container id, devices, mounts count, options, outcome, duration. Values from the runtime are quoted. */
export const formatRunRecord = (r: RunRecord, now: Date): string =>
  [
    now.toISOString(),
    `id=${r.id === undefined ? "-" : word(r.id.slice(0, 128))}`,
    `devices=${r.devices === undefined || r.devices.length === 0 ? "-" : r.devices.join(",")}`,
    `mounts=${r.mounts ?? 0}`,
    `options=${r.options === undefined || r.options.length === 0 ? "-" : r.options.join(",")}`,
    `outcome=${word(r.outcome)}`,
    ...(r.duplicates === undefined || r.duplicates.length === 0
      ? []
      : [`duplicates=${r.duplicates.join(",")}(first used)`]),
    `duration_ms=${r.durationMs.toFixed(1)}`
  ].join(" ")

/**
 * Appends a line to the run log (mode 0640; its directory, if missing, made 0750), rotating first when it
 * would pass RUN_LOG_MAX_BYTES. Logging never fails the container: an error is returned, not thrown.
 */
export const appendRunLog = (file: string, line: string): string | undefined => {
  const fs = process.getBuiltinModule("node:fs")
  const path = process.getBuiltinModule("node:path")
  try {
    // Only the log's own directory is made (not a chain: recursive mkdir spins forever under /proc).
    if (!fs.existsSync(path.dirname(file))) fs.mkdirSync(path.dirname(file), { mode: 0o750 })
    let size = 0
    try {
      size = fs.statSync(file).size
    } catch {}
    if (size > 0 && size + line.length + 1 > RUN_LOG_MAX_BYTES) {
      for (let i = RUN_LOG_KEEP - 1; i >= 1; i--) {
        try {
          fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`)
        } catch {}
      }
      fs.renameSync(file, `${file}.1`)
    }
    const fd = fs.openSync(
      file,
      fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW,
      0o640
    )
    try {
      fs.writeSync(fd, `${line}\n`)
    } finally {
      fs.closeSync(fd)
    }
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}
