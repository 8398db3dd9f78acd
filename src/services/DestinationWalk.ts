import { joinPath, normalizeAbsolute } from "../schemas/Paths.ts"

/**
 * The walk behind MountSafety's destination check, written once over the two lookups it makes, so that the
 * hook's Effect pipeline (MountSafety.destinationProblem, over FileSystem) and the wrapper's planned hook
 * (wrapper/PlannedHook.ts, over node:fs, without loading Effect) run the same check. Imports no Effect.
 */

/** A lookup the walk needs: is `lstat` a symbolic link (undefined: it does not exist), or what `readLink` says. */
export type Lookup = { readonly lstat: string } | { readonly readLink: string }

/** What a lookup answers: for lstat, "link", "other" or undefined (missing, or not inspectable); for readLink, the target ("" when unreadable). */
export type Answer = "link" | "other" | string | undefined

/** Symbolic links followed inside the image at most, as the kernel's limit. */
const MAX_LINKS = 40

/**
 * Where `<rootfs><path>` leads when the host resolves it component by component (as the CLI's mount will):
 * undefined while it stays inside the rootfs, else the symlink in the image that leads out (absolute
 * targets are the host's, `..` can climb past the rootfs). A component that does not exist yet ends the
 * walk: what the CLI creates there is inside. `missing` collects lexical prefixes known to be missing, for
 * the sources of one container.
 */
export function* destinationWalk(
  rootfs: string,
  path: string,
  missing: Set<string>
): Generator<Lookup, string | undefined, Answer> {
  const root = normalizeAbsolute(rootfs)
  const inside = (p: string) => p === root || p.startsWith(`${root}/`)
  let pending = normalizeAbsolute(path)
    .split("/")
    .filter((c) => c !== "")
  // A first component the image does not have: nothing below it can be a link (the common case).
  if (pending.length > 0 && missing.has(`/${pending[0]}`)) return undefined
  let at = root
  let hops = 0
  let lexical = ""
  while (pending.length > 0) {
    const part = pending.shift()!
    const next = joinPath(at, part)
    lexical = hops === 0 ? `${lexical}/${part}` : ""
    const kind = yield { lstat: next }
    if (kind === undefined) {
      if (lexical !== "") missing.add(lexical)
      return undefined
    }
    if (kind !== "link") {
      at = next
      continue
    }
    if (++hops > MAX_LINKS) return `${next.slice(root.length)} in the image: too many levels of symbolic links`
    const target = (yield { readLink: next }) ?? ""
    const resolved = target.startsWith("/") ? normalizeAbsolute(target) : joinPath(at, target)
    if (!inside(resolved)) {
      return `${next.slice(root.length)} in the image is a symbolic link to ${JSON.stringify(target)}, which leads out of the rootfs (to ${resolved})`
    }
    // Walk on from the link's target, which is inside: re-split it below the rootfs.
    pending = [
      ...resolved
        .slice(root.length)
        .split("/")
        .filter((c) => c !== ""),
      ...pending
    ]
    at = root
  }
  return undefined
}

/** Runs the walk with synchronous lookups (node:fs in the planned hook). */
export const destinationProblemSync = (
  look: (lookup: Lookup) => Answer,
  rootfs: string,
  path: string,
  missing: Set<string>
): string | undefined => {
  const walk = destinationWalk(rootfs, path, missing)
  let step = walk.next(undefined)
  while (!step.done) step = walk.next(look(step.value))
  return step.value
}
