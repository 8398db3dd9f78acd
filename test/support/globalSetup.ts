import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { buildRecordingCli, HOOK, ROOT } from "./fixtures.ts"

/** Builds the recording CLI, and the hook bundle when `vitest` runs without `npm test` having built it. */
export default function setup() {
  if (!fs.existsSync(HOOK)) execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, stdio: "inherit" })
  buildRecordingCli()
}
