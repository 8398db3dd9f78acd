import { parse as parseYaml } from "yaml"
import { generatedRecord, generatedSpec } from "../Cdi.ts"
import { specDrift } from "../CdiDrift.ts"
import { type DevLink, devLinks, systemdCgroupUsers } from "../DevLinks.ts"
import {
  DEFAULT_REFRESH_OUTPUT,
  DEV_LINKS_SERVICE,
  REFRESH_ENV,
  REFRESH_PATH,
  REFRESH_SERVICE,
  UNIT_DIR
} from "../SystemdUnits.ts"
import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/**
 * A host that changes under its containers: CDI specs gone stale after a driver or NPU change, the refresh
 * units that should have followed it, and the /dev/char links a daemon-reload needs under the systemd cgroup
 * driver (README, "When the host changes").
 */

/** The specs this tool answers for: the ones it wrote (a digest beside them) and the two default paths. */
const ourSpecs = (ctx: DoctorContext): ReadonlyArray<string> => {
  const found = new Set<string>()
  for (const dir of ["/etc/cdi", "/var/run/cdi"])
    for (const name of ctx.host.namesIn(ctx.at(dir)))
      if (/\.(json|ya?ml)$/.test(name) && ctx.host.exists(generatedRecord(`${ctx.at(dir)}/${name}`)))
        found.add(`${dir}/${name}`)
  for (const p of ["/etc/cdi/ascend.com-npu.json", DEFAULT_REFRESH_OUTPUT]) if (ctx.host.exists(ctx.at(p))) found.add(p)
  return [...found].sort()
}

/** The flags the spec at `file` was made with: the refresh's settings where they name it, else the defaults. */
const flagsFor = (ctx: DoctorContext, file: string): ReadonlyArray<string> => {
  const env = ctx.read(REFRESH_ENV)
  const line = env === undefined ? undefined : /^ASCEND_CDI_REFRESH_FLAGS=(.*)$/m.exec(env)?.[1]
  const flags = line?.trim().split(/\s+/) ?? []
  const output = flags[flags.indexOf("--output") + 1]
  if (flags.includes("--output") && output === file) return flags
  return ["--output", file, "--dev-root", ctx.o.devRoot, "--config-dir", ctx.o.configDir]
}

const parseSpec = (file: string, text: string): unknown =>
  file.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 })

/** One spec against what generate would write now: a line per difference, or one saying it is current. */
const specLines = (ctx: DoctorContext, file: string): ReadonlyArray<Check> => {
  const id = `cdi-stale:${file}`
  const flags = flagsFor(ctx, file)
  const now = generatedSpec(flags, ctx.host)
  const fix = `ascend-docker-hook cdi generate --refresh ${flags.join(" ")} (or: systemctl start ${REFRESH_SERVICE})`
  if (typeof now === "string")
    return [{ id, status: "warn", message: `${file}: cannot tell whether it is current: ${now}` }]
  let drift: ReadonlyArray<string>
  try {
    drift = specDrift(parseSpec(file, ctx.host.readText(ctx.at(file))), now.spec)
  } catch (e) {
    return [{ id, status: "warn", message: `${file}: cannot be read: ${(e as Error).message.split("\n")[0]}` }]
  }
  if (drift.length === 0) return [{ id, status: "ok", message: `${file}: what cdi generate writes on this host now` }]
  return drift.map((d) => ({ id, status: "warn", message: `${file} is stale: ${d}`, fix }))
}

/** Stale CDI specs: engines inject what a spec says, whatever the host has now. */
export const staleSpecs: DoctorCheck = {
  name: "stale CDI specs",
  looksAt: "the specs cdi generate wrote (and the default paths) against what it would write now",
  // The spec's paths are the host's own; under another --root they cannot be compared.
  run: (ctx) => (ctx.o.root === "/" ? ourSpecs(ctx).flatMap((f) => specLines(ctx, f)) : [])
}

/** Our units installed under the root, with the state systemd gives each where it runs. */
export const refreshUnitState: DoctorCheck = {
  name: "refresh units",
  looksAt: `the units install --cdi-refresh / --dev-char-links put in ${UNIT_DIR}, and their state in systemd`,
  run: (ctx) =>
    [REFRESH_PATH, REFRESH_SERVICE, DEV_LINKS_SERVICE]
      .filter((u) => ctx.host.exists(ctx.at(`${UNIT_DIR}/${u}`)))
      .map((u): Check => {
        const state = ctx.unitState(u)
        if (state === "failed")
          return {
            id: `unit:${u}`,
            status: "fail",
            message: `${u} failed: the CDI spec or the device links may not follow the host`,
            fix: `journalctl -u ${u}; then systemctl restart ${u}`
          }
        const known = state === undefined ? "its state unknown (systemd does not run here)" : state
        return { id: `unit:${u}`, status: "ok", message: `${u}: installed, ${known}` }
      })
}

const named = (links: ReadonlyArray<DevLink>) =>
  links.map((l) => `${l.node.hostPath.slice(l.node.hostPath.lastIndexOf("/") + 1)} (${l.link})`).join(", ")

/** /dev/char links: without them a daemon-reload under the systemd cgroup driver drops containers' NPUs. */
export const devCharLinks: DoctorCheck = {
  name: "device links",
  looksAt: "a /dev/char/MAJOR:MINOR link per NPU node, and whether an engine uses the systemd cgroup driver",
  run: (ctx) => {
    let links: ReadonlyArray<DevLink>
    try {
      links = devLinks(ctx.host, ctx.at(ctx.o.devRoot))
    } catch {
      return []
    }
    const lacking = links.filter((l) => l.state !== "present")
    if (links.length === 0) return []
    if (lacking.length === 0)
      return [
        { id: "dev-char-links", status: "ok", message: `/dev/char links: all ${links.length} NPU nodes have one` }
      ]
    const users = systemdCgroupUsers(ctx.host, ctx.o.root)
    if (users.length === 0)
      return [
        {
          id: "dev-char-links",
          status: "ok",
          message: `/dev/char links: ${lacking.length} NPU nodes have none, needed only under the systemd cgroup driver, which no engine's config here selects`
        }
      ]
    return [
      {
        id: "dev-char-links",
        status: "warn",
        message:
          `${users.map((u) => `${u.engine} uses the systemd cgroup driver (${u.where})`).join("; ")}, and these NPU ` +
          `nodes have no /dev/char link: a systemctl daemon-reload cuts running containers off them: ${named(lacking)}`,
        fix: "ascend-docker-hook dev-links; and install --dev-char-links to make them at every boot"
      }
    ]
  }
}

/** The checks of a host that changes, in the order doctor reports them. */
export const HOST_CHECKS: ReadonlyArray<DoctorCheck> = [staleSpecs, refreshUnitState, devCharLinks]
