import { dirnameOf } from "../schemas/Paths.ts"
import { nodeFs } from "./NodeFs.ts"

/**
 * Where this program's own executable lives, links resolved: the compiled binary (Bun reports its
 * embedded entry, /$bunfs/root/..., as argv[1]) or the bundle run by node.
 */
export const selfDir = (): string => dirnameOf(nodeFs().realpathSync(isBinary() ? process.execPath : process.argv[1]!))

/** True in the self-contained binary, whose bundled entry Bun reports as /$bunfs/root/... */
export const isBinary = (): boolean => process.argv[1] === undefined || process.argv[1].startsWith("/$bunfs/")
