/**
 * The seed's defaults; the CLI path default depends on where the hook lives, so bin/hook.ts computes it.
 * A module of plain constants, importing nothing: the wrapper's pass-through (bin/runtime.ts) needs them,
 * and importing them from HookConfig.ts (an Effect service) would load Effect's modules for every runc
 * call Docker or containerd makes through the wrapper.
 */
export const DEFAULT_CONFIG_DIR = "/etc/ascend-docker-runtime.d"
export const STDIN_PATH = "/dev/stdin"
export const CLI_NAME = "ascend-docker-cli"

/**
 * The explicit env of every hook entry this project writes (hooks.d files, the wrapper's config.json
 * edit): a runtime passes a hook exactly its `env`, so nothing of the daemon's (LD_PRELOAD, BUN_OPTIONS,
 * NODE_OPTIONS) can reach it.
 */
export const HOOK_ENV: ReadonlyArray<string> = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
