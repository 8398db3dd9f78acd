import * as Effect from "effect/Effect"
import { backupAny, type Changes, FORCE_HINT, fail, newestBackup, type Options, type PlanContext } from "./Core.ts"
import {
  type Change,
  type Current,
  current,
  fileIncludes,
  type InstallError,
  orFail,
  sameBytes,
  sizeOf
} from "./Files.ts"
import { containersUsingWrapper } from "./InUse.ts"

/**
 * The binary in PREFIX/bin and the wrapper, a link to it: placed by install (someone else's file at those
 * paths refused, or with --force set aside), removed by uninstall (what was set aside put back). The binary
 * is ~112 MB: it is compared and copied streamed, never held whole.
 */

/** In every binary we build (this text is): how install tells our binary from someone else's at our path. */
export const SELF_MARK = "usage: ascend-docker-hook install|uninstall"

const WRAPPER_TARGET = "ascend-docker-hook"

/** One of the two paths: how to tell ours, whether it is already what install wants, and what install writes. */
interface Placed {
  readonly path: string
  readonly what: string
  readonly isOurs: (now: Current) => Effect.Effect<boolean, InstallError>
  readonly wanted: (now: Current) => Effect.Effect<boolean, InstallError>
  readonly make: (action: "create" | "update") => Change
}

const describe = (now: Current): string =>
  now.kind === "link"
    ? `a link to ${now.target}`
    : now.kind === "file" || now.kind === "large"
      ? "a file we did not write"
      : now.kind

const placeInstall = (ctx: PlanContext, p: Placed): Changes =>
  Effect.gen(function* () {
    const now = yield* current(ctx.fs, ctx.at(p.path))
    if (yield* p.wanted(now)) return [{ action: "unchanged", path: ctx.at(p.path), why: p.what }]
    if (now.kind === "other") return yield* fail(`${p.path} is a ${now.type}, not a file; remove it first`)
    let backup: ReadonlyArray<Change> = []
    if (now.kind !== "missing" && !(yield* p.isOurs(now))) {
      if (!ctx.o.force) return yield* fail(`${p.path} is there and not ours (${describe(now)})${FORCE_HINT}`)
      backup = yield* backupAny(ctx, p.path, now, `backup of ${p.path}, which was not ours`)
    }
    return [...backup, p.make(now.kind === "missing" ? "create" : "update")]
  })

const placeUninstall = (ctx: PlanContext, p: Placed): Changes =>
  Effect.gen(function* () {
    const now = yield* current(ctx.fs, ctx.at(p.path))
    if (now.kind === "missing") return []
    if (!(yield* p.isOurs(now)))
      return [{ action: "keep", path: ctx.at(p.path), why: `${p.what}: not ours, left alone` }]
    const backup = yield* newestBackup(ctx, p.path)
    const set = backup?.now
    if (
      backup === undefined ||
      set === undefined ||
      (set.kind !== "file" && set.kind !== "large" && set.kind !== "link")
    )
      return [{ action: "remove", path: ctx.at(p.path), why: p.what }]
    // install --force set someone's file aside: it goes back.
    const why = `${p.what}: restored from ${ctx.shown(backup.path)}`
    const owner =
      set.kind === "link" ? undefined : { mode: set.mode & 0o100 ? 0o755 : 0o644, uid: set.uid, gid: set.gid }
    const back: Change =
      set.kind === "link"
        ? { action: "update", path: ctx.at(p.path), why, link: set.target }
        : set.kind === "file"
          ? { action: "update", path: ctx.at(p.path), why, content: set.bytes, ...owner! }
          : { action: "update", path: ctx.at(p.path), why, copyFrom: set.path, ...owner! }
    return [back, { action: "remove", path: backup.path, why: "the backup just restored" }]
  })

/** The source binary's size, read through the FileSystem when the caller did not hand its bytes in. */
const sourceSize = (ctx: PlanContext, source: NonNullable<Options["source"]>) =>
  source.bytes !== undefined
    ? Effect.succeed(source.bytes.length)
    : Effect.map(orFail(ctx.fs.stat(source.path), source.path), (info) => Number(info.size))

/** The binary at PREFIX/bin/ascend-docker-hook. */
const binary = (ctx: PlanContext, size: number): Placed => {
  const source = ctx.o.source
  return {
    path: ctx.hookPath,
    what: "the hook binary",
    isOurs: (now) => fileIncludes(ctx.fs, now, SELF_MARK),
    wanted: (now) => {
      if (source === undefined) return Effect.succeed(false)
      if (source.bytes !== undefined)
        return Effect.succeed(now.kind === "file" && Buffer.from(now.bytes).equals(source.bytes))
      const have = sizeOf(now)
      return have === undefined
        ? Effect.succeed(false)
        : sameBytes(ctx.fs, { path: ctx.at(ctx.hookPath), size: have }, { path: source.path, size })
    },
    make: (action) => ({
      action,
      path: ctx.at(ctx.hookPath),
      why: `the hook binary, from ${source!.path}`,
      ...(source!.bytes !== undefined ? { content: source!.bytes } : { copyFrom: source!.path }),
      mode: 0o755,
      uid: 0,
      gid: 0
    })
  }
}

/** The wrapper: PREFIX/bin/ascend-docker-runtime, a link to the binary beside it. */
const wrapperLink = (ctx: PlanContext): Placed => {
  const isLink = (now: Current) => Effect.succeed(now.kind === "link" && now.target === WRAPPER_TARGET)
  return {
    path: ctx.runtimePath,
    what: "the runtime wrapper link",
    isOurs: isLink,
    wanted: isLink,
    make: (action) => ({
      action,
      path: ctx.at(ctx.runtimePath),
      why: "the runtime wrapper (a link to the hook binary)",
      link: WRAPPER_TARGET
    })
  }
}

/** install: the binary and the link in place. */
export const binaryInstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const source = ctx.o.source
    if (source === undefined) return yield* fail("install needs the self-contained binary (npm run build)")
    const size = yield* sourceSize(ctx, source)
    return [...(yield* placeInstall(ctx, binary(ctx, size))), ...(yield* placeInstall(ctx, wrapperLink(ctx)))]
  })

/**
 * uninstall: the binary and the link gone, or what install set aside back; both kept, where they are ours,
 * while running containers were created through the wrapper (InUse.ts): their runtime calls it until each is
 * deleted. The engines' settings still go, so no new container gets it; an uninstall once they are gone
 * removes it.
 */
export const binaryUninstall = (ctx: PlanContext): Changes =>
  Effect.gen(function* () {
    const changes = [...(yield* placeUninstall(ctx, binary(ctx, 0))), ...(yield* placeUninstall(ctx, wrapperLink(ctx)))]
    if (!changes.some((c) => c.action === "remove" || c.action === "update")) return changes
    const inUse = yield* containersUsingWrapper(ctx)
    if (inUse.count === 0) return changes
    const one = inUse.count === 1
    const who = `${inUse.count} running container${inUse.count === 1 ? " was" : "s were"} created through the wrapper (${inUse.examples.join(", ")}${inUse.count > inUse.examples.length ? ", ..." : ""})`
    const kept: Array<Change> = []
    for (const p of [binary(ctx, 0), wrapperLink(ctx)]) {
      const now = yield* current(ctx.fs, ctx.at(p.path))
      if (now.kind !== "missing" && (yield* p.isOurs(now)))
        kept.push({
          action: "keep",
          path: ctx.at(p.path),
          why: `${p.what}: kept, ${who}, and ${one ? "its runtime calls it until it is" : "their runtime calls it until each is"} deleted; uninstall again once ${one ? "it is" : "they are"} gone`
        })
    }
    return kept
  })
