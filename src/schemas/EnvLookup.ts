import { trimSpace } from "./Text.ts"

/**
 * The env facts the wrapper's every-container path needs, in a module that imports no Effect: deciding that
 * a container asks for nothing must not load Effect's modules (wrapper/NoRequest.ts). AscendEnv.ts and
 * ContainerEnv.ts re-export them.
 */

/** The container env variable that asks for NPUs. */
export const VISIBLE_DEVICES = "ASCEND_VISIBLE_DEVICES"
/** The value of ASCEND_VISIBLE_DEVICES that means "no NPU" (upstream's wrapper and device plugin use it). */
export const NO_DEVICES = "void"

/**
 * The value of `key` in an env list: the first entry `key=...` wins; an entry without `=` is skipped
 * (the seed panicked on it).
 */
export const lookupEnv = (env: ReadonlyArray<string>, key: string): string | undefined => {
  const prefix = `${key}=`
  for (const entry of env) if (entry.startsWith(prefix)) return entry.slice(prefix.length)
  return undefined
}

/** True when ASCEND_VISIBLE_DEVICES asks for no NPU: unset, blank, or `void`. */
export const asksForNothing = (visible: string | undefined): boolean =>
  visible === undefined || trimSpace(visible) === "" || trimSpace(visible) === NO_DEVICES

/** The mark the wrapper gives every container it creates (the Ascend device plugin looks for it), as key and value. */
export const WRAPPER_MARK_KEY = "ASCEND_DOCKER_RUNTIME"
export const WRAPPER_MARK_VALUE = "True"
