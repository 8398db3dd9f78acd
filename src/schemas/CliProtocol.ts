import type { CliProtocol } from "../HookConfig.ts"

/** Bytes of a CLI read to find its option table; the real one is ~1 MB. */
export const CLI_SCAN_BYTES = 64 * 1024 * 1024
const ALLOW_LINK_OPTION = new TextEncoder().encode("allow-link")

/**
 * The protocol an ascend-docker-cli binary speaks, from its bytes: 2023 when its getopt_long table names
 * `allow-link` (every CLI shipped since March 2023), else 2021 (the seed's, with `--devices`).
 */
export const cliProtocolOf = (bytes: Uint8Array): CliProtocol => {
  const first = ALLOW_LINK_OPTION[0]!
  for (
    let i = bytes.indexOf(first);
    i !== -1 && i <= bytes.length - ALLOW_LINK_OPTION.length;
    i = bytes.indexOf(first, i + 1)
  ) {
    let j = 1
    while (j < ALLOW_LINK_OPTION.length && bytes[i + j] === ALLOW_LINK_OPTION[j]) j++
    if (j === ALLOW_LINK_OPTION.length) return "2023"
  }
  return "2021"
}
