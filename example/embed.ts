// Embedding: run the hook's stages inside your own Effect program, with your own layers.
// Here the host is an in-memory tree and nothing is exec'd: `Hook.plan` says what the hook would run.

import { EnvDecoder, Hook, HookConfig, MemoryFileSystem, NodeExec } from "ascend-docker-hook"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const { dir, file } = MemoryFileSystem
const host = MemoryFileSystem.layer({
  "/etc/ascend-docker-runtime.d/base.list": file("/usr/local/Ascend/driver/lib64\n/usr/local/bin/npu-smi\n"),
  "/usr/local/Ascend/driver/lib64": dir(),
  "/usr/local/bin/npu-smi": file("", { mode: 0o755 }),
  "/usr/local/bin/ascend-docker-cli": file("", { mode: 0o755 }),
  "/run/c1/config.json": file(
    JSON.stringify({ process: { env: ["ASCEND_VISIBLE_DEVICES=1,0"] }, root: { path: "rootfs" } })
  ),
  "/state.json": file(JSON.stringify({ pid: 42, bundle: "/run/c1" }))
})

const settings = HookConfig.layer({
  configDir: "/etc/ascend-docker-runtime.d",
  cliPath: "/usr/local/bin/ascend-docker-cli",
  statePath: "/state.json",
  uid: 0
})

/** What the hook would exec for that container, and what one stage says of another env. */
export const program = Effect.gen(function* () {
  const argv = yield* Hook.plan
  const other = yield* (yield* EnvDecoder).decode(["ASCEND_VISIBLE_DEVICES=Ascend910-7"])
  return { argv: Option.getOrNull(argv), otherDevices: Option.map(other, (r) => r.devices) }
}).pipe(Effect.provide(Hook.layer), Effect.provide(Layer.mergeAll(host, settings, NodeExec.layer({}))))

// Effect.runSync(program).argv
// => ["/usr/local/bin/ascend-docker-cli", "--devices", "0,1", "--pid", "42", "--rootfs", "/run/c1/rootfs",
//     "--mount-file", "/usr/local/bin/npu-smi", "--mount-dir", "/usr/local/Ascend/driver/lib64"]
