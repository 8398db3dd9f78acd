import type { ContainerConfig } from "../schemas/ContainerConfigShape.ts"
import { asksForNothing, lookupEnv, VISIBLE_DEVICES } from "../schemas/EnvLookup.ts"
import { joinPath } from "../schemas/Paths.ts"
import { isOurTemp, tempName } from "./BundleTemp.ts"
import { configAt, decodeConfigText } from "./ConfigRead.ts"
import { applyEdits } from "./ContainerEdits.ts"

export { decodeConfigText }

/**
 * The wrapper's work for a container that asks for no NPU, which is most containers where the wrapper is the
 * default runtime: the mark and nothing else, without Effect (whose modules alone cost more than the rest of
 * this path). Imports no Effect module, directly or not. Whatever it is not sure of goes to the full path
 * (WrapperMain.prepareBundle), which then decides, edits or refuses in its own words: this path never refuses.
 */

/** The CDI kinds whose annotated devices are Ascend NPUs (today's name, and the older one). */
export const NPU_KINDS: ReadonlyArray<string> = ["ascend.com/npu", "huawei.com/npu"]

/** The ids of the Ascend devices named in CDI annotations, as an ASCEND_VISIBLE_DEVICES value; none: undefined. */
export const annotatedDevices = (names: ReadonlyArray<string>): string | undefined => {
  // A plain loop: this runs on every container's create, where flatMap's first call alone costs more.
  let ids: string | undefined
  for (const n of names) {
    const eq = n.indexOf("=")
    if (eq > 0 && NPU_KINDS.includes(n.slice(0, eq)))
      ids = ids === undefined ? n.slice(eq + 1) : `${ids},${n.slice(eq + 1)}`
  }
  return ids
}

/**
 * True when the container asks for no NPU in any way the wrapper honours: no CDI annotation names an Ascend
 * kind, and ASCEND_VISIBLE_DEVICES (its first entry, as every stage reads it) is unset, blank or `void`. Read
 * from the decoded config, never from the text: an escaped key (`ASCEND\u005fVISIBLE_DEVICES`) is the same key.
 */
export const asksForNoNpu = (config: ContainerConfig): boolean =>
  annotatedDevices(config.cdiDevices) === undefined && asksForNothing(lookupEnv(config.env, VISIBLE_DEVICES))

/**
 * What the first look found: the mark made (or already there) for a container that asks for nothing; a
 * request, with the config as SpecParser decodes it (read as it reads it, or stricter), for the full path to
 * go on from; or `full`: anything not as expected, which the full path then reads and judges itself.
 */
export type FirstLook = "edited" | "unchanged" | "full" | { readonly asks: ContainerConfig }

/**
 * For a container that asks for no NPU, adds the mark to its config.json exactly as BundleEditor does (the
 * same splice, temp file, mode, owner, group, syncs and rename) and says so; for one that asks, its decoded
 * config; `full` when anything is not as expected (a link, not a regular file, too large, not decodable, an
 * I/O error): the full path then runs from the start. Nothing is written unless the answer is certain.
 */
export const markIfNoRequest = (fs: typeof import("node:fs"), bundle: string): FirstLook => {
  const path = joinPath(bundle, "config.json")
  const found = configAt(fs, bundle)
  if (found === undefined) return "full"
  const { text, config, st } = found
  if (!asksForNoNpu(config)) return { asks: config }
  let tmp: string | undefined
  try {
    for (const name of fs.readdirSync(bundle)) if (isOurTemp(name)) fs.rmSync(joinPath(bundle, name), { force: true })
    const next = applyEdits(text, { deviceNodes: [], mounts: [], env: [] }, { mark: true })
    if (typeof next !== "string") return "full"
    if (next === text) return "unchanged"
    const mode = st.mode & 0o7777
    tmp = joinPath(bundle, tempName())
    fs.writeFileSync(tmp, next, { flag: "wx", mode })
    fs.chmodSync(tmp, mode)
    fs.chownSync(tmp, st.uid, st.gid)
    syncPath(fs, tmp)
    fs.renameSync(tmp, path)
    tmp = undefined
    syncPath(fs, bundle)
    return "edited"
  } catch {
    if (tmp !== undefined) fs.rmSync(tmp, { force: true })
    return "full"
  }
}

const syncPath = (fs: typeof import("node:fs"), path: string) => {
  const fd = fs.openSync(path, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
