/**
 * The seed's defaults; the CLI path default depends on where the hook lives, so bin/hook.ts computes it.
 * A module of plain constants, importing nothing: the wrapper's pass-through (bin/runtime.ts) needs them,
 * and importing them from HookConfig.ts (an Effect service) would load Effect's modules for every runc
 * call Docker or containerd makes through the wrapper.
 */
export const DEFAULT_CONFIG_DIR = "/etc/ascend-docker-runtime.d"
export const STDIN_PATH = "/dev/stdin"
export const CLI_NAME = "ascend-docker-cli"
