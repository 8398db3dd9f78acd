/**
 * The wrapper's settings file, `<config dir>/runtime.conf`: the same keys as its environment variables,
 * for engines whose runtime entry carries no env (Docker's daemon.json, containerd's runtime options), and
 * what `install --mode/--cli-protocol/--unprivileged-env` writes. `KEY=VALUE` a line, `#` comments, blank
 * lines skipped; the environment wins over the file. It decides what every container gets, so it is read
 * only when it is a regular file of root's (or the wrapper's own user's) that nobody else may write, as
 * FileTrust asks of the mount lists.
 */

export const RUNTIME_CONF = "runtime.conf"

/**
 * The keys the file may set. Not ASCEND_DOCKER_RUNTIME_CONFIG_DIR (where the file is), nor
 * ASCEND_DOCKER_RUNTIME_RUNC: the file is read on create and run only, and every command of a container
 * must reach the same runc.
 */
export const RUNTIME_CONF_KEYS = [
  "ASCEND_DOCKER_RUNTIME_HOOK",
  "ASCEND_DOCKER_RUNTIME_HOOK_ARGS",
  "ASCEND_DOCKER_RUNTIME_MODE",
  "ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL",
  "ASCEND_DOCKER_RUNTIME_DEV_ROOT",
  "ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV"
] as const
export type RuntimeConfKey = (typeof RUNTIME_CONF_KEYS)[number]

export const RUNTIME_CONF_MAX_BYTES = 65536

/** Parses the file's text; a string is the one-line reason it is refused (`runtime.conf:LINE: ...`). */
export const parseRuntimeConf = (text: string): Partial<Record<RuntimeConfKey, string>> | string => {
  const out: Partial<Record<RuntimeConfKey, string>> = {}
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === "" || line.startsWith("#")) continue
    const eq = line.indexOf("=")
    const where = `${RUNTIME_CONF}:${i + 1}`
    if (eq <= 0) return `${where}: not KEY=VALUE`
    const key = line.slice(0, eq).trim()
    if (!(RUNTIME_CONF_KEYS as ReadonlyArray<string>).includes(key))
      return `${where}: unknown setting ${JSON.stringify(key.slice(0, 64))} (known: ${RUNTIME_CONF_KEYS.join(", ")})`
    if ((out as Record<string, string>)[key] !== undefined) return `${where}: ${key} set twice`
    out[key as RuntimeConfKey] = line.slice(eq + 1).trim()
  }
  return out
}

/** The file's text for the settings given (install writes it; uninstall removes it when it is ours). */
export const renderRuntimeConf = (settings: Partial<Record<RuntimeConfKey, string>>): string =>
  `# ascend-docker-runtime's settings (written by ascend-docker-hook install; the daemon's env wins).\n${RUNTIME_CONF_KEYS.filter(
    (k) => settings[k] !== undefined
  )
    .map((k) => `${k}=${settings[k]}\n`)
    .join("")}`
