/**
 * The two Bun globals the wrapper's pass-through uses instead of node:fs, whose loading alone costs ~1 ms
 * in the binary even through `require` (measured: as much as everything else the pass-through does).
 * Undefined on Node.
 */
export interface BunNative {
  /** The first executable regular file named `command` in `PATH`, or null. */
  readonly which: (command: string, options: { readonly PATH: string }) => string | null
  /** A lazy handle on a file; `size` stats it (0 when it cannot), reading nothing. */
  readonly file: (path: string) => { readonly size: number }
}

export const bunNative = (): BunNative | undefined => (globalThis as { readonly Bun?: BunNative }).Bun
