/**
 * The temp files the wrapper writes config.json through (BundleEditor, and NoRequest's copy of its steps):
 * `config.json.ascend-<6-12 of [0-9a-z]>.tmp` in the bundle dir. Imports nothing: the no-request path uses it.
 */

const HEAD = "config.json.ascend-"
const TAIL = ".tmp"

/** A fresh temp name (8 random base-36 characters). */
export const tempName = (): string => `${HEAD}${Math.random().toString(36).slice(2, 10).padEnd(8, "0")}${TAIL}`

/**
 * True for one of our temp names (a killed wrapper's leftover, removed before the next edit), and for nothing
 * else in a bundle dir. Checked character by character, not with a regex: a regex's first use in a process
 * costs its compile, on every container's create.
 */
export const isOurTemp = (name: string): boolean => {
  if (!name.startsWith(HEAD) || !name.endsWith(TAIL)) return false
  const end = name.length - TAIL.length
  if (end - HEAD.length < 6 || end - HEAD.length > 12) return false
  for (let i = HEAD.length; i < end; i++) {
    const c = name.charCodeAt(i)
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a))) return false
  }
  return true
}
