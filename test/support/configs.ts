// config.json texts for the tests of the Effect-free first looks (the wrapper's and the hook's), and the
// shortcut they must not take.

/** config.json text around an env list (written as given, escapes and all) and optional annotations. */
export const doc = (env: string, annotations = "") =>
  `{"ociVersion":"1.0.2","process":{"env":${env}},"root":{"path":"rootfs"}${annotations === "" ? "" : `,"annotations":${annotations}`}}`

/**
 * A check of the text alone, the shortcut that must not be taken: the key as we spell it, the value after its
 * last occurrence, annotations not looked at.
 */
export const naiveAsksForNothing = (text: string): boolean => {
  const at = text.lastIndexOf("ASCEND_VISIBLE_DEVICES=")
  return at === -1 || text.startsWith("ASCEND_VISIBLE_DEVICES=void", at)
}
