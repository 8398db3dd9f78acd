/**
 * The admin commands (explain, install/uninstall, cdi, doctor), apart from the hook: the plain bundle
 * loads them from a file of their own (dist/ascend-docker-hook-admin.cjs) only when one is asked for, so
 * the hook's start-up never parses them. The binary has them in its snapshot.
 */
export { runCdi } from "./commands/Cdi.ts"
export { runDoctor } from "./commands/Doctor.ts"
export { explain } from "./commands/Explain.ts"
export { runInstaller } from "./commands/Install.ts"
