/** Where this program's own executable lives: the SEA binary, or the bundle run by node (links resolved). */
export const selfDir = (): string => {
  const fs = process.getBuiltinModule("node:fs")
  const path = process.getBuiltinModule("node:path")
  const sea = process.getBuiltinModule("node:sea") as { isSea?: () => boolean } | undefined
  if (sea?.isSea?.() === true) return path.dirname(fs.realpathSync(process.execPath))
  return path.dirname(fs.realpathSync(process.argv[1] ?? process.execPath))
}
