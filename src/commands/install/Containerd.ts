import * as Effect from "effect/Effect"
import { CONTAINERD_CHECKS } from "../doctor/Containerd.ts"
import { hostFiles } from "../HostFiles.ts"
import {
  addImport,
  CONTAINERD_CONFIG,
  CONTAINERD_DROP_IN,
  criSection,
  dropIn,
  foreignRuntime,
  importedFiles,
  importsOf,
  parse,
  RANCHER_DIRS,
  removeImport,
  templateBlock,
  templateName,
  versionOf,
  withBlock,
  withoutBlock
} from "./ContainerdToml.ts"
import {
  attempt,
  type Changes,
  type Edit,
  editInstall,
  editUninstall,
  exists,
  FORCE_HINT,
  fail,
  type Own,
  ownInstall,
  ownUninstall,
  type PlanContext,
  ROOT_OWNED,
  startsWithHeader
} from "./Core.ts"
import type { Engine } from "./Engine.ts"
import { type Change, type Current, current, ownerLike, textOf } from "./Files.ts"

/**
 * containerd: a standalone one gets a drop-in of ours holding the runtime (over a copy of the CRI section in
 * effect, for 1.x) and one `imports` entry in config.toml; k3s and RKE2, which regenerate config.toml, get the
 * runtime in their template instead (config.toml.tmpl / config-v3.toml.tmpl). The TOML work is in
 * ContainerdToml.ts; this file says what changes.
 */

/** The template of each k3s / RKE2 found (a generated config.toml is there), as an edit. */
const templates = (ctx: PlanContext) =>
  Effect.gen(function* () {
    const edits: Array<Edit> = []
    for (const d of RANCHER_DIRS) {
      if (!(yield* exists(ctx, `${d}/config.toml`))) continue
      const generated = yield* current(ctx.fs, ctx.at(`${d}/config.toml`))
      const parsed = yield* attempt(() => parse(textOf(generated) ?? "", `${d}/config.toml`))
      const version = parsed.version === 3 ? 3 : 2
      edits.push({
        path: `${d}/${templateName(version)}`,
        why: `${d.includes("rke2") ? "rke2" : "k3s"}: runtimes.ascend in containerd's template`,
        installed: (def) => (text) => withBlock(text, templateBlock(version, ctx.runtimePath, def)),
        uninstalled: (text) => withoutBlock(text),
        fresh: ownerLike(generated, 0o600)
      })
    }
    return edits
  })

/** A standalone containerd's config.toml as it is: refused unless a regular file or missing. */
const mainConfig = (ctx: PlanContext) =>
  Effect.flatMap(current(ctx.fs, ctx.at(CONTAINERD_CONFIG)), (main) =>
    main.kind === "link" || main.kind === "other" || main.kind === "large"
      ? fail(`${CONTAINERD_CONFIG} is not a regular file; install edits only a regular file`)
      : Effect.succeed(main)
  )

/** The config's version and the CRI section in effect without us: the config's, then each earlier import's (last wins). */
const sections = (ctx: PlanContext, main: Current) =>
  Effect.gen(function* () {
    const mainText = textOf(main)
    const config = mainText === undefined ? undefined : yield* attempt(() => parse(mainText, CONTAINERD_CONFIG))
    const version = config === undefined ? 2 : yield* attempt(() => versionOf(config, CONTAINERD_CONFIG))
    let inEffect = config === undefined ? undefined : criSection(config, version)
    const found: Array<{ file: string; cri: ReturnType<typeof criSection> }> = [
      { file: CONTAINERD_CONFIG, cri: inEffect }
    ]
    const host = hostFiles(ctx.fs)
    const files = importedFiles(config === undefined ? [] : importsOf(config), (d) => host.namesIn(ctx.at(d)))
    for (const file of files) {
      if (file === CONTAINERD_DROP_IN) continue
      const text = textOf(yield* current(ctx.fs, ctx.at(file)))
      if (text === undefined) continue
      const cri = criSection(yield* attempt(() => parse(text, file)), version)
      found.push({ file, cri })
      if (cri !== undefined) inEffect = cri
    }
    return { version, inEffect, found }
  })

const FRESH_MAIN = `version = 2\nimports = [${JSON.stringify(CONTAINERD_DROP_IN)}]\n`

/** config.toml's one `imports` entry (the whole file when install made it). */
const importEntry: Edit = {
  path: CONTAINERD_CONFIG,
  why: "containerd: the drop-in in imports",
  installed: () => (text) => (text === undefined ? FRESH_MAIN : addImport(text, CONTAINERD_DROP_IN)),
  uninstalled: (text, before) =>
    before === undefined && text === FRESH_MAIN ? undefined : removeImport(text, CONTAINERD_DROP_IN),
  fresh: ROOT_OWNED
}

/** The drop-in, created no more readable than config.toml (the CRI section it copies can hold passwords). */
const dropInFile = (main: Current): Own => ({
  path: CONTAINERD_DROP_IN,
  isOurs: (text) => startsWithHeader(text),
  why: "containerd: runtimes.ascend (the drop-in)",
  fresh: ownerLike(main, 0o644)
})

/**
 * The k3s / RKE2 templates' changes (by `each`), and the standalone config.toml as it is: undefined when
 * there is only a k3s / RKE2 (nothing is made for a containerd that is not there).
 */
const survey = (ctx: PlanContext, each: (t: Edit) => Changes) =>
  Effect.gen(function* () {
    const changes: Array<Change> = []
    const rancher = yield* templates(ctx)
    for (const t of rancher) changes.push(...(yield* each(t)))
    const main = yield* mainConfig(ctx)
    return { changes, main: rancher.length > 0 && main.kind === "missing" ? undefined : main }
  })

const install = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const { changes, main } = yield* survey(ctx, (t) => editInstall(ctx, t))
    if (main === undefined) return changes
    const { version, inEffect, found } = yield* sections(ctx, main)
    for (const s of found) {
      const foreign = foreignRuntime(s.cri, ctx.runtimePath)
      if (foreign !== undefined && !ctx.o.force)
        return yield* fail(`${s.file}: runtimes.ascend runs ${foreign}, not ours${FORCE_HINT}`)
    }
    const ours = dropIn(version, inEffect, ctx.runtimePath, ctx.o.makeDefault)
    changes.push(...(yield* ownInstall(ctx, dropInFile(main), ours)), ...(yield* editInstall(ctx, importEntry)))
    return changes
  })

const uninstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const { changes, main } = yield* survey(ctx, (t) => editUninstall(ctx, t))
    if (main === undefined) return changes
    // Parsed as install parses it, so a config install would refuse is refused here too.
    yield* sections(ctx, main)
    changes.push(...(yield* ownUninstall(ctx, dropInFile(main))), ...(yield* editUninstall(ctx, importEntry)))
    return changes
  })

/** containerd, standalone or inside k3s / RKE2. */
export const containerd: Engine = {
  name: "containerd",
  install,
  uninstall,
  checks: CONTAINERD_CHECKS,
  restart: "containerd"
}
