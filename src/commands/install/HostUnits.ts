import * as Effect from "effect/Effect"
import { devLinkUnits, enableLink, REFRESH_ENV, refreshUnits, UNIT_DIR, type UnitFile } from "../SystemdUnits.ts"
import {
  type Changes,
  type Options,
  type Own,
  ownInstall,
  ownUninstall,
  type PlanContext,
  ROOT_OWNED,
  startsWithHeader
} from "./Core.ts"
import { type Change, current, fileChange } from "./Files.ts"

/**
 * The systemd units for a host that changes (install --cdi-refresh, --dev-char-links): engine-blind, written
 * under the admin's unit dir and enabled the way `systemctl enable` does it (a link in
 * multi-user.target.wants), so they are part of the all-or-nothing plan like every other file and work
 * under --root. The env file is the admin's once written: never rewritten, removed only as written.
 */

const asOwn = (u: UnitFile): Own => ({ path: u.path, isOurs: startsWithHeader, why: u.name, fresh: ROOT_OWNED })

/** The units the options ask for, each with its content for this prefix. */
const wanted = (ctx: PlanContext): ReadonlyArray<UnitFile> => [
  ...(ctx.o.cdiRefresh === true ? refreshUnits(ctx.hookPath) : []),
  ...(ctx.o.devCharLinks === true ? devLinkUnits(ctx.hookPath) : [])
]

/** Every unit install may write, whatever was asked: what uninstall looks for. */
const every = (ctx: PlanContext): ReadonlyArray<UnitFile> => [
  ...refreshUnits(ctx.hookPath),
  ...devLinkUnits(ctx.hookPath)
]

const enableInstall = (ctx: PlanContext, u: UnitFile): Changes =>
  Effect.map(current(ctx.fs, ctx.at(enableLink(u).path)), (now): ReadonlyArray<Change> => {
    const { path, target } = enableLink(u)
    if (now.kind === "link" && now.target === target)
      return [{ action: "unchanged", path: ctx.at(path), why: `${u.name} enabled` }]
    if (now.kind !== "missing") return [{ action: "keep", path: ctx.at(path), why: `not ours, left alone` }]
    return [{ action: "create", path: ctx.at(path), why: `${u.name} enabled (as systemctl enable does)`, link: target }]
  })

const enableUninstall = (ctx: PlanContext, u: UnitFile): Changes =>
  Effect.map(
    current(ctx.fs, ctx.at(enableLink(u).path)),
    (now): ReadonlyArray<Change> =>
      now.kind === "link" && now.target === enableLink(u).target
        ? [{ action: "remove", path: ctx.at(enableLink(u).path), why: `${u.name} disabled` }]
        : []
  )

/** The env file: written where there is none; one already there is the admin's. */
const envInstall = (ctx: PlanContext, u: UnitFile): Changes =>
  Effect.map(
    current(ctx.fs, ctx.at(u.path)),
    (now): ReadonlyArray<Change> =>
      now.kind === "missing"
        ? [fileChange(ctx.at(u.path), now, u.content, "the CDI refresh's settings", ROOT_OWNED)!]
        : [{ action: "keep", path: ctx.at(u.path), why: "existing settings are never overwritten" }]
  )

const envUninstall = (ctx: PlanContext, u: UnitFile): Changes =>
  Effect.map(current(ctx.fs, ctx.at(u.path)), (now): ReadonlyArray<Change> => {
    if (now.kind === "missing") return []
    return now.kind === "file" && now.text === u.content
      ? [{ action: "remove", path: ctx.at(u.path), why: "the CDI refresh's settings, unedited" }]
      : [{ action: "keep", path: ctx.at(u.path), why: "the CDI refresh's settings were edited; kept" }]
  })

/** install: the asked-for units written and enabled, the env file where there is none. */
export const hostUnitsInstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const changes: Array<Change> = []
    for (const u of wanted(ctx)) {
      if (u.path === REFRESH_ENV) changes.push(...(yield* envInstall(ctx, u)))
      else changes.push(...(yield* ownInstall(ctx, asOwn(u), u.content)))
      if (u.enable) changes.push(...(yield* enableInstall(ctx, u)))
    }
    return changes
  })

/** uninstall: every unit of ours disabled and removed (someone else's at those paths left), the env file as written. */
export const hostUnitsUninstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const changes: Array<Change> = []
    for (const u of every(ctx)) {
      if (u.enable) changes.push(...(yield* enableUninstall(ctx, u)))
      if (u.path === REFRESH_ENV) changes.push(...(yield* envUninstall(ctx, u)))
      else if ((yield* current(ctx.fs, ctx.at(u.path))).kind !== "missing")
        changes.push(...(yield* ownUninstall(ctx, asOwn(u))))
    }
    return changes
  })

/** What to tell systemd after a plan changed units (nothing runs it here: --root trees and hosts without systemd alike). */
export const unitsHint = (o: Options, changes: ReadonlyArray<Change>): string | undefined => {
  const root = o.root === "/" ? "" : o.root.replace(/\/+$/, "")
  const touched = changes.some(
    (c) => c.path.startsWith(`${root}${UNIT_DIR}/`) && c.action !== "unchanged" && c.action !== "keep"
  )
  if (!touched) return undefined
  if (o.mode === "uninstall") return "systemd: systemctl daemon-reload (units of ours removed)"
  const start = [
    ...(o.cdiRefresh === true ? ["ascend-docker-hook-cdi-refresh.path", "ascend-docker-hook-cdi-refresh.service"] : []),
    ...(o.devCharLinks === true ? ["ascend-docker-hook-dev-char-links.service"] : [])
  ]
  return `systemd: systemctl daemon-reload && systemctl start ${start.join(" ")}`
}
