import { nodeFs } from "./NodeFs.ts"

/**
 * What the kernel would refuse: the file must be executable by us on a mount that allows exec (access
 * X_OK), and be an ELF binary or a `#!` script whose interpreter is executable (otherwise ENOEXEC). Node
 * aborts the whole process, with a multi-line dump, when execve itself fails; checked before, this turns
 * the foreseeable failures into an error instead. ENOMEM or ETXTBSY are beyond a check.
 */
export const preflight = (file: string): void => {
  const fs = nodeFs()
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

const spawnAndWait = (file: string, argv: ReadonlyArray<string>, env: Readonly<Record<string, string>>): number => {
  const childProcess = process.getBuiltinModule("node:child_process")
  const os = process.getBuiltinModule("node:os")
  const result = childProcess.spawnSync(file, argv.slice(1), { argv0: argv[0] ?? file, stdio: "inherit", env })
  if (result.error !== undefined) throw result.error
  if (result.status !== null) return result.status
  return 128 + (result.signal === null ? 0 : os.constants.signals[result.signal])
}

/**
 * Replaces this process with `file` (execve, same pid, on Node >= 22.15 and Bun), with exactly `env`.
 * Without `process.execve`, runs it with inherited stdio and returns its exit status (128+signal for a
 * signal). Throws what preflight or the spawn found. Plain code, no Effect, in a module of its own:
 * the wrapper's pass-through path uses it without loading Effect at all.
 */
export const replaceProcess = (
  file: string,
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  options: { readonly execve?: boolean } = {}
): number => {
  const execve = options.execve === false ? undefined : process.execve
  if (execve === undefined) return spawnAndWait(file, argv, env)
  // Node aborts where execve fails, so what the kernel would refuse is checked before. Bun throws instead:
  // there the check runs only after a failure, to say why in the same words, and a start that succeeds
  // does not pay for loading node:fs. (Bun also schedules a warning on the failure: the entries exit
  // synchronously, before it is printed.)
  if (process.versions.bun === undefined) preflight(file)
  try {
    execve.call(process, file, [...argv], env)
  } catch (e) {
    preflight(file)
    throw e
  }
  return 0
}
