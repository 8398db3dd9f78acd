/**
 * ascend-docker-hook as a library: the five stages, their layers and errors, the pure parsers, and the
 * pipeline, for larger Effect programs that bring their own FileSystem, Exec and HookConfig.
 */

export type { HookError, Stages } from "./Hook.ts"
export * as Hook from "./Hook.ts"
export { CLI_NAME, DEFAULT_CONFIG_DIR, HookConfig, type HookSettings, STDIN_PATH } from "./HookConfig.ts"
export { Limits } from "./Limits.ts"
export { Exec, ExecError } from "./platform/Exec.ts"
export * as MemoryFileSystem from "./platform/MemoryFileSystem.ts"
export * as NodeExec from "./platform/NodeExec.ts"
export * as SyncFileSystem from "./platform/SyncFileSystem.ts"
export {
  type AscendRequest,
  type AscendVariable,
  EnvError,
  RUNTIME_MOUNTS,
  RUNTIME_OPTIONS,
  type RuntimeOption,
  VISIBLE_DEVICES
} from "./schemas/AscendEnv.ts"
export { decodeAscendEnv, lookupEnv } from "./schemas/ContainerEnv.ts"
export { type ContainerConfig, decodeContainerConfig, SpecError } from "./schemas/ContainerSpec.ts"
export { type ContainerState, decodeContainerState, StateError } from "./schemas/ContainerState.ts"
export { formatDeviceList, parseDeviceList } from "./schemas/DeviceList.ts"
export { MountError, type MountListEntry, parseMountList, parseMountListLine } from "./schemas/MountList.ts"
export { DEFAULT_MOUNT_LIST, parseMountListNames } from "./schemas/MountListNames.ts"
export { parseRuntimeOptions } from "./schemas/RuntimeOptions.ts"
export * as Schemas from "./schemas/Schemas.ts"
export { buildArgv, CliLauncher, LaunchError, type LaunchRequest } from "./services/CliLauncher.ts"
export { EnvDecoder } from "./services/EnvDecoder.ts"
export { FileTrust, TrustError } from "./services/FileTrust.ts"
export { type MountDecision, MountResolver, type ResolvedMounts } from "./services/MountResolver.ts"
export * as RunLog from "./services/RunLog.ts"
export { SpecParser } from "./services/SpecParser.ts"
export { StateReader } from "./services/StateReader.ts"
