import * as Effect from "effect/Effect"
import { jsonSyntaxError } from "../../schemas/Json.ts"
import { removeMember, setMember, valueAt } from "../../wrapper/JsonSplice.ts"
import { DOCKER_CHECKS } from "../doctor/Docker.ts"
import {
  attempt,
  type Edit,
  editInstall,
  editUninstall,
  FORCE_HINT,
  fail,
  type PlanContext,
  ROOT_OWNED
} from "./Core.ts"
import type { Engine } from "./Engine.ts"
import { current, textOf } from "./Files.ts"

/**
 * Docker's daemon.json: `runtimes.ascend` (and `default-runtime` when asked) spliced into the admin's text,
 * every other byte kept (key order, spacing, numbers JSON.parse would round). The admin's file is parsed
 * only to decide; it is never re-serialised.
 */

export const DAEMON_JSON = "/etc/docker/daemon.json"
export const RUNTIME_NAME = "ascend"

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

const must = (r: string | { readonly refused: string }): string => {
  if (typeof r !== "string") throw new Error(`${DAEMON_JSON}: ${r.refused}`)
  return r
}

/** Parses daemon.json to decide; a string is the reason it is refused. */
const decide = (text: string): Json => {
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch {
    throw new Error(`${DAEMON_JSON}: not valid JSON (${jsonSyntaxError(text)})`)
  }
  if (!isObject(config)) throw new Error(`${DAEMON_JSON}: not a JSON object`)
  if (config.runtimes !== undefined && !isObject(config.runtimes))
    throw new Error(`${DAEMON_JSON}: "runtimes" is not an object`)
  return config
}

/**
 * An `ascend` runtime already there that points elsewhere (Huawei's own wrapper, say): not ours. Its path,
 * or undefined when there is none or it is ours.
 */
export const foreignDockerEntry = (text: string | undefined, runtimePath: string): string | undefined => {
  if (text === undefined || text.trim() === "") return undefined
  const entry = (decide(text).runtimes as Json | undefined)?.[RUNTIME_NAME]
  if (entry === undefined) return undefined
  const path = isObject(entry) ? entry.path : undefined
  return path === runtimePath ? undefined : String(path)
}

/** daemon.json with runtimes.ascend (and default-runtime if asked). */
export const dockerInstall = (text: string | undefined, runtimePath: string, makeDefault: boolean): string => {
  if (text === undefined || text.trim() === "") {
    const fresh: Json = { runtimes: { [RUNTIME_NAME]: { path: runtimePath } } }
    if (makeDefault) fresh["default-runtime"] = RUNTIME_NAME
    return `${JSON.stringify(fresh, null, 2)}\n`
  }
  const config = decide(text)
  let next = text
  const entry = (config.runtimes as Json | undefined)?.[RUNTIME_NAME]
  if (!(isObject(entry) && entry.path === runtimePath && Object.keys(entry).length === 1))
    next = must(setMember(next, ["runtimes", RUNTIME_NAME], { path: runtimePath }))
  if (makeDefault && config["default-runtime"] !== RUNTIME_NAME)
    next = must(setMember(next, ["default-runtime"], RUNTIME_NAME))
  return next
}

/**
 * daemon.json without what install added: runtimes.ascend out (and `runtimes` if install made it), the
 * default runtime back to the one `before` (the backup) had. Undefined: the file should go (install made it).
 */
export const dockerUninstall = (text: string, before: string | undefined): string | undefined => {
  const config = decide(text)
  const old = before === undefined || before.trim() === "" ? {} : decide(before)
  let next = must(removeMember(text, ["runtimes", RUNTIME_NAME]))
  const runtimes = valueAt(next, ["runtimes"])
  if (runtimes.found && isObject(runtimes.value) && Object.keys(runtimes.value).length === 0 && !isObject(old.runtimes))
    next = must(removeMember(next, ["runtimes"]))
  if (config["default-runtime"] === RUNTIME_NAME) {
    next =
      old["default-runtime"] === undefined
        ? must(removeMember(next, ["default-runtime"]))
        : must(setMember(next, ["default-runtime"], old["default-runtime"]))
  }
  const left = JSON.parse(next) as Json
  return Object.keys(left).length === 0 && before === undefined ? undefined : next
}

const daemonJson = (ctx: PlanContext): Edit => ({
  path: DAEMON_JSON,
  why: "docker: runtimes.ascend",
  installed: (makeDefault) => (text) => dockerInstall(text, ctx.runtimePath, makeDefault),
  uninstalled: dockerUninstall,
  fresh: ROOT_OWNED
})

/** Docker: runtimes.ascend in daemon.json; an `ascend` runtime of someone else's refused without --force. */
export const docker: Engine = {
  name: "docker",
  install: (ctx) =>
    Effect.gen(function* () {
      const now = yield* current(ctx.fs, ctx.at(DAEMON_JSON))
      const foreign = yield* attempt(() => foreignDockerEntry(textOf(now), ctx.runtimePath))
      if (foreign !== undefined && !ctx.o.force)
        return yield* fail(`${DAEMON_JSON}: runtimes.ascend runs ${foreign}, not ours${FORCE_HINT}`)
      return yield* editInstall(ctx, daemonJson(ctx))
    }),
  uninstall: (ctx) => editUninstall(ctx, daemonJson(ctx)),
  checks: DOCKER_CHECKS,
  restart: "dockerd"
}
