import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Hook from "./Hook.ts"
import { HookConfig } from "./HookConfig.ts"
import { Exec } from "./platform/Exec.ts"
import * as MemoryFileSystem from "./platform/MemoryFileSystem.ts"
import * as SyncFileSystem from "./platform/SyncFileSystem.ts"
import { parseInvocation } from "./schemas/Invocation.ts"

const { dir, file, special, symlink } = MemoryFileSystem

const CONFIG_DIR = "/etc/ascend-docker-runtime.d"
const CLI = "/usr/local/bin/ascend-docker-cli"

const host = (env: ReadonlyArray<string>) =>
  MemoryFileSystem.layer({
    [`${CONFIG_DIR}/base.list`]: file("# driver\n/usr/local/Ascend/driver/lib64\n/usr/local/bin/npu-smi\n/missing\n\n"),
    [`${CONFIG_DIR}/extra.list`]: file("/sock\n/dev/null\n/link\n"),
    "/usr/local/Ascend/driver/lib64": dir(),
    "/usr/local/bin/npu-smi": file("", { mode: 0o755 }),
    "/sock": special("Socket"),
    "/dev/null": special("CharacterDevice"),
    "/link": symlink("/usr/local/bin/npu-smi"),
    [CLI]: file("\x7fELF", { mode: 0o755 }),
    "/run/c1/config.json": file(JSON.stringify({ process: { env }, root: { path: "rootfs" } })),
    "/dev/stdin": file(JSON.stringify({ ociVersion: "1.0.2", id: "c1", status: "creating", pid: 1, bundle: "/run/c1" }))
  })

const settings = HookConfig.layer({ configDir: CONFIG_DIR, cliPath: CLI, statePath: "/dev/stdin", uid: 0 })

/**
 * Runs the real pipeline on sample input, in memory, so that a startup snapshot taken afterwards holds
 * its lazily initialised and compiled parts: the success path, the no-NPU path and an error path. Then
 * touches the node:fs layer on a path that exists everywhere. Nothing here reads env, argv or stdin.
 */
export const warmUp = (): void => {
  parseInvocation(["--config-dir", "/x", "--cli=/y", "--state", "/z", "--dry-run"])
  const envs: ReadonlyArray<ReadonlyArray<string>> = [
    [
      "PATH=/bin",
      "ASCEND_VISIBLE_DEVICES=0-3,Ascend910-5, 7",
      "ASCEND_RUNTIME_MOUNTS=base,extra",
      "ASCEND_RUNTIME_OPTIONS=VIRTUAL,NODRV"
    ],
    ["PATH=/bin"],
    ["ASCEND_VISIBLE_DEVICES=x"]
  ]
  for (const env of envs) {
    for (let i = 0; i < 3; i++) {
      Effect.runSyncExit(
        Hook.plan.pipe(
          Effect.provide(Hook.layer.pipe(Layer.provide(Layer.mergeAll(host(env), settings, Exec.layerNode()))))
        )
      )
    }
  }
  Effect.runSyncExit(
    Effect.gen(function* () {
      const fs = SyncFileSystem.make(process.getBuiltinModule("node:fs"))
      yield* fs.stat("/")
      yield* fs.lstat("/")
      yield* fs.realPath("/")
    })
  )
}
