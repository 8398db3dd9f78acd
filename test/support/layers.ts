import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Hook from "../../src/Hook.ts"
import { HookConfig, type HookSettings } from "../../src/HookConfig.ts"
import { Exec } from "../../src/platform/Exec.ts"
import * as MemoryFileSystem from "../../src/platform/MemoryFileSystem.ts"

/** One recorded exec. */
export interface ExecCall {
  readonly file: string
  readonly argv: ReadonlyArray<string>
}

/** An Exec that records instead of replacing the process, and reports `status`. */
export const recordingExec = (calls: Array<ExecCall>, status = 0) =>
  Layer.succeed(Exec, {
    replace: (file, argv) =>
      Effect.sync(() => {
        calls.push({ file, argv })
        return status
      })
  })

export const SETTINGS: HookSettings = {
  configDir: "/etc/ascend-docker-runtime.d",
  cliPath: "/usr/local/bin/ascend-docker-cli",
  statePath: "/dev/stdin",
  uid: 0
}

/** A host made of an in-memory tree: the trusted defaults plus what the test adds. */
export const baseTree = (): Record<string, MemoryFileSystem.MemoryNode> => ({
  "/etc/ascend-docker-runtime.d": MemoryFileSystem.dir(),
  "/etc/ascend-docker-runtime.d/base.list": MemoryFileSystem.file(
    "/usr/local/Ascend/driver/lib64\n/usr/local/bin/npu-smi\n"
  ),
  "/usr/local/Ascend/driver/lib64": MemoryFileSystem.dir(),
  "/usr/local/bin/npu-smi": MemoryFileSystem.file("", { mode: 0o755 }),
  "/usr/local/bin/ascend-docker-cli": MemoryFileSystem.file("\x7fELF", { mode: 0o755 }),
  "/run/c1/config.json": MemoryFileSystem.file(
    JSON.stringify({ process: { env: ["ASCEND_VISIBLE_DEVICES=0,1"] }, root: { path: "rootfs" } })
  ),
  "/run/c1/rootfs": MemoryFileSystem.dir(),
  "/dev/stdin": MemoryFileSystem.file(JSON.stringify({ pid: 123, bundle: "/run/c1" }))
})

/** The whole hook over an in-memory host and a recording exec. */
export const memoryHook = (
  tree: Record<string, MemoryFileSystem.MemoryNode>,
  calls: Array<ExecCall> = [],
  settings: Partial<HookSettings> = {}
) =>
  Hook.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(MemoryFileSystem.layer(tree), recordingExec(calls), HookConfig.layer({ ...SETTINGS, ...settings }))
    )
  )
