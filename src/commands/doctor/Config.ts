import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { type MountListEntry, parseMountList } from "../../schemas/MountList.ts"
import { contentsProblem, safetyCache, sourceProblem } from "../../services/MountSafety.ts"
import { parseRuntimeConf, RUNTIME_CONF } from "../../wrapper/RuntimeConf.ts"
import type { HostStat } from "../HostFiles.ts"
import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/**
 * The config dir and what is in it: the dir itself, base.list, the wrapper's runtime.conf and each mount
 * list with every path it names, judged as the hook and the native CLI will judge them.
 */

const joined = (dir: string, name: string) => process.getBuiltinModule("node:path").join(dir, name)

/** The config dir: trusted as the hook trusts it (owner, mode, parents). */
export const configDir: DoctorCheck = {
  name: "config dir",
  looksAt: "the mount lists' dir: owner root, not writable by others, nor any parent",
  run: (ctx) => [
    ctx.trusted("config-dir", `config dir ${ctx.configDir}: trusted`, (t) => t.directory(ctx.configDir, "config dir"))
      .line
  ]
}

/** The lists in a trusted config dir, by name. */
const lists = (ctx: DoctorContext) =>
  ctx.configDirTrusted() ? [...ctx.host.readDirectory(ctx.configDir)].filter((f) => f.endsWith(".list")).sort() : []

/** base.list: every NPU container asks for it. */
export const baseList: DoctorCheck = {
  name: "base list",
  looksAt: "base.list in the config dir",
  run: (ctx) =>
    !ctx.configDirTrusted() || lists(ctx).includes("base.list")
      ? []
      : [
          {
            id: "base-list",
            status: "fail",
            message: `${ctx.configDir}/base.list is missing: every NPU container asks for it unless ASCEND_RUNTIME_MOUNTS says otherwise`,
            fix: "ascend-docker-hook install (writes the default), or create it"
          }
        ]
}

/** runtime.conf: what install set, or what an admin wrote; refused at create when untrusted. */
export const runtimeConf: DoctorCheck = {
  name: "wrapper settings",
  looksAt: "runtime.conf in the config dir: trusted, every line a setting the wrapper knows",
  run: (ctx) => {
    const conf = joined(ctx.configDir, RUNTIME_CONF)
    if (!ctx.configDirTrusted() || !ctx.host.exists(conf)) return []
    const trust = ctx.trusted("runtime-conf", `wrapper settings ${conf}: trusted`, (t) =>
      t.file(conf, "wrapper settings")
    )
    if (!trust.ok) return [trust.line]
    const parsed = parseRuntimeConf(ctx.host.readText(conf))
    if (typeof parsed !== "string") return [trust.line]
    const bad: Check = {
      id: "runtime-conf",
      status: "fail",
      message: `${ctx.configDir}/${parsed}: every NPU container will fail`,
      fix: "fix that line"
    }
    return [trust.line, bad]
  }
}

type Rules = { readonly allowLinks: boolean; readonly linkedParents: boolean }

/** One listed path: exists, and would the native CLI accept it (MountSafety, what the hook runs before the CLI). */
const entryLine = (
  ctx: DoctorContext,
  list: string,
  entry: MountListEntry,
  rules: Rules,
  cache: ReturnType<typeof safetyCache>
): Check => {
  const id = `path:${list}:${entry.line}`
  const where = `${list}:${entry.line} ${entry.path}`
  const real = ctx.at(entry.path)
  let lst: HostStat | undefined
  try {
    lst = ctx.host.lstat(real)
  } catch {}
  if (lst === undefined)
    return {
      id,
      status: "warn",
      message: `${where}: does not exist; the hook skips it`,
      fix: "install the driver part it names, or drop the line"
    }
  if (lst.isSymbolicLink() && !rules.allowLinks)
    return {
      id,
      status: "warn",
      message: `${where}: is a symbolic link; today's CLI refuses it unless the container sets ASCEND_ALLOW_LINK=True`,
      fix: `list the target, ${ctx.host.realPath(real)}`
    }
  const sync = ctx.host.fs
  const problem = Effect.runSync(
    Effect.flatMap(sync.lstat(real), (info) => sourceProblem(sync, real, info, rules, cache)).pipe(
      Effect.orElseSucceed(() => undefined)
    )
  )
  if (problem !== undefined)
    return { id, status: "fail", message: `${where}: ${problem.detail}`, fix: problem.detail.replace(/^.*fix: /, "") }
  if (!ctx.host.stat(real).isDirectory()) return { id, status: "ok", message: `${where}: mountable` }
  const inside = Effect.runSync(contentsProblem(sync, real, rules.allowLinks))
  if (inside.problem !== undefined)
    return { id, status: "fail", message: `${where}: inside it, ${inside.problem}`, fix: "fix or remove that entry" }
  return {
    id,
    status: inside.complete ? "ok" : "warn",
    message: `${where}: mountable${inside.complete ? `, ${inside.walked} entries inside checked` : `; only the first ${inside.walked} entries inside checked`}`
  }
}

/** Each mount list: trusted, every line parses, every path mountable. */
export const mountLists: DoctorCheck = {
  name: "mount lists",
  looksAt: "each *.list in the config dir, and every path it names",
  run: (ctx) => {
    const out: Array<Check> = []
    const cache = safetyCache()
    // By the CLI's protocol: today's refuses symlinked parents, and a symlinked source unless the container
    // sets ASCEND_ALLOW_LINK.
    const rules: Rules =
      ctx.cliProtocol === "2023"
        ? { allowLinks: false, linkedParents: false }
        : { allowLinks: true, linkedParents: true }
    for (const list of lists(ctx)) {
      const file = joined(ctx.configDir, list)
      const trust = ctx.trusted(`list:${list}`, `mount list ${file}: trusted`, (t) => t.file(file, "mount list"))
      out.push(trust.line)
      if (!trust.ok) continue
      const parsed = parseMountList(ctx.host.readText(file), file)
      if (Result.isFailure(parsed)) {
        out.push({ id: `lines:${list}`, status: "fail", message: parsed.failure.message, fix: "fix that line" })
        continue
      }
      for (const entry of parsed.success) out.push(entryLine(ctx, list, entry, rules, cache))
    }
    return out
  }
}

/** The config dir's checks, in the order doctor reports them. */
export const CONFIG_CHECKS: ReadonlyArray<DoctorCheck> = [configDir, baseList, runtimeConf, mountLists]
