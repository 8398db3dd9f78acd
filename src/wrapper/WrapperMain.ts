import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { HOOK_ENV } from "../HookConfig.ts"
import { failureMessage } from "../platform/NodePlatform.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { HookInjector, WrapperConfig } from "./HookInjector.ts"

/** What the wrapper needs to edit one bundle: where it is and which hook to add. */
export interface BundleRequest {
  readonly bundle: string
  readonly hook: { readonly path: string; readonly args: ReadonlyArray<string> }
}

/**
 * The wrapper's work on `create`/`run`, loaded only for those: edits the bundle's config.json on the host
 * filesystem. Returns undefined when runc may go ahead, else the one-line reason it must not.
 */
export const prepareBundle = (request: BundleRequest): string | undefined => {
  const config = Layer.succeed(WrapperConfig, { hook: { ...request.hook, env: HOOK_ENV } })
  const layer = HookInjector.layer.pipe(Layer.provide(Layer.mergeAll(SyncFileSystem.layer, config)))
  const exit = Effect.runSyncExit(
    HookInjector.use((injector) => injector.inject(request.bundle)).pipe(Effect.provide(layer))
  )
  return Exit.isSuccess(exit) ? undefined : failureMessage(exit.cause)
}
