import { Limits } from "../Limits.ts"
import { type ContainerConfig, configOf } from "../schemas/ContainerConfigShape.ts"
import { isRecord } from "../schemas/Issue.ts"
import { jsonShapeProblem } from "../schemas/JsonShape.ts"
import { joinPath } from "../schemas/Paths.ts"

/**
 * A bundle's config.json read and decoded without Effect, for the paths that decide "asks for nothing"
 * before anything else loads: the wrapper's first look (NoRequest.ts) and the hook's (PlannedHook.ts). It
 * decodes as SpecParser does (the same modules) and reads as strictly or more; whatever it is not sure of
 * is undefined, and the full path then reads it and says why.
 */

/**
 * The container's config from config.json's text, when SpecParser would decode it to exactly this (the same
 * pre-scan, JSON.parse, shape and rootfs rules, from the same modules); undefined when it would refuse it.
 */
export const decodeConfigText = (text: string, bundle: string): ContainerConfig | undefined => {
  if (jsonShapeProblem(text) !== undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isRecord(value)) return undefined
  const decoded = configOf(value, bundle)
  return "config" in decoded ? decoded.config : undefined
}

/** config.json's text through an fd opened without following a link: undefined unless a regular file within the limit. */
const readConfig = (fs: typeof import("node:fs"), path: string): string | undefined => {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile() || st.size > Limits.specBytes) return undefined
    const bytes = Buffer.allocUnsafe(st.size + 1)
    let total = 0
    for (let n = 1; n > 0 && total < bytes.length; total += n)
      n = fs.readSync(fd, bytes, total, bytes.length - total, null)
    if (total > st.size) return undefined
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes.subarray(0, total))
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * config.json in `bundle`, read without following a link (no link, a regular file within the limit) and decoded
 * as SpecParser decodes it; undefined when anything is otherwise (the full path then reads it and says why).
 */
export const configAt = (
  fs: typeof import("node:fs"),
  bundle: string
): { readonly text: string; readonly config: ContainerConfig; readonly st: import("node:fs").Stats } | undefined => {
  const path = joinPath(bundle, "config.json")
  try {
    const st = fs.lstatSync(path)
    if (!st.isFile()) return undefined
    const text = readConfig(fs, path)
    const config = text === undefined ? undefined : decodeConfigText(text, bundle)
    return text === undefined || config === undefined ? undefined : { text, config, st }
  } catch {
    return undefined
  }
}
