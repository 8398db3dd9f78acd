import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as PlatformError from "effect/PlatformError"

/** File.readAlloc on top of a File's `read`: a fresh buffer of `size`, None at end of file. Shared by our layers. */
export const readAllocWith =
  (
    read: (
      buffer: Uint8Array,
      options?: { readonly position?: bigint | undefined }
    ) => Effect.Effect<number, PlatformError.PlatformError>
  ) =>
  (size: number, options?: { readonly position?: bigint | undefined }) =>
    Effect.map(
      Effect.suspend(() => {
        const buffer = new Uint8Array(size)
        return Effect.map(read(buffer, options), (n) => ({ buffer, n }))
      }),
      ({ buffer, n }) => (n === 0 ? Option.none() : Option.some(n === size ? buffer : buffer.subarray(0, n)))
    )
