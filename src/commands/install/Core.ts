import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import type { CliProtocol } from "../../HookConfig.ts"
import {
  backupChange,
  backupsOf,
  type Change,
  type Current,
  current,
  fileChange,
  freshBackupName,
  InstallError,
  textOf
} from "./Files.ts"

/**
 * The engine-blind part of a plan: what every unit is given (the options, the paths as the host sees them,
 * the CLI's protocol, the hooks.d policy) and the three ways install touches a file - a config of an
 * engine's edited in place, a file wholly ours, a backup - each as an install half and an uninstall half.
 * Units return their changes as values; nothing here writes.
 */

/** The engines install knows, as --runtime names them (and in the order doctor reports them). */
export const RUNTIMES = ["docker", "containerd", "crio", "podman"] as const
/** One of RUNTIMES. */
export type RuntimeName = (typeof RUNTIMES)[number]

/** What install or uninstall is asked to do, from its command line (or a caller such as a node setup). */
export interface Options {
  readonly mode: "install" | "uninstall"
  readonly runtimes: ReadonlyArray<RuntimeName>
  readonly makeDefault: boolean
  readonly prefix: string
  readonly root: string
  readonly cliProtocol: CliProtocol | undefined
  readonly wrapperMode?: "hook" | "cdi" | undefined
  readonly unprivilegedEnv?: "accept" | "ignore" | "refuse" | undefined
  readonly force: boolean
  /** Set up the systemd units that regenerate the CDI spec when the driver changes (SystemdUnits.ts). */
  readonly cdiRefresh?: boolean | undefined
  /** Set up the oneshot unit that makes the /dev/char links at boot. */
  readonly devCharLinks?: boolean | undefined
  /**
   * The binary install places: where it is and, when a caller already holds them (tests on in-memory trees),
   * its bytes. Without bytes it is read through the FileSystem at `path`, streamed, never whole.
   */
  readonly source: { readonly path: string; readonly bytes?: Uint8Array | undefined } | undefined
  /** The time in backup names. */
  readonly now: Date
}

/** What every unit is given: the options and what is worked out once from them. */
export interface PlanContext {
  readonly fs: FileSystem.FileSystem
  readonly o: Options
  /** A path as the host sees it, under the root. */
  readonly at: (p: string) => string
  /** A path under the root as the host sees it. */
  readonly shown: (p: string) => string
  readonly hookPath: string
  readonly runtimePath: string
  readonly protocol: CliProtocol
  /** The hooks.d hook's extra args: the unprivileged-env policy (given, or runtime.conf's). */
  readonly gateArgs: ReadonlyArray<string>
}

/** Some changes, in order, or the one line that says why none can be made. */
export type Changes = Effect.Effect<ReadonlyArray<Change>, InstallError>

/** An owner and mode for a file install creates. */
export type Owner = { readonly mode: number; readonly uid: number; readonly gid: number }

/** A new file of root's that everyone may read: the configs install creates where the engine made none. */
export const ROOT_OWNED: Owner = { mode: 0o644, uid: 0, gid: 0 }
/** The end of every "not ours" refusal: how to go ahead anyway. */
export const FORCE_HINT = "; --force replaces it, keeping a backup"

/** Stops the plan with one line for stderr. */
export const fail = (message: string) => Effect.fail(new InstallError(message))

/** A pure step that may throw its one line: as an Effect. */
export const attempt = <A>(f: () => A): Effect.Effect<A, InstallError> =>
  Effect.try({ try: f, catch: (e) => new InstallError(e instanceof Error ? e.message.split("\n")[0]! : String(e)) })

/** A pure step's value, or undefined if it throws. */
const orUndefined = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch {
    return undefined
  }
}

const only = (c: Change | undefined): ReadonlyArray<Change> => (c === undefined ? [] : [c])

/** Whether a file starts with the header install writes in files wholly its own. */
export const startsWithHeader = (text: string | undefined) =>
  text?.startsWith("# Written by ascend-docker-hook install") === true

/** The context of a plan over `fs` for `o`, once the CLI's protocol and the hooks.d policy are known. */
export const planContext = (
  fs: FileSystem.FileSystem,
  o: Options,
  protocol: CliProtocol,
  gateArgs: ReadonlyArray<string>
): PlanContext => {
  const root = o.root.replace(/\/+$/, "")
  const prefix = o.prefix.replace(/\/+$/, "")
  return {
    fs,
    o,
    at: (p) => (o.root === "/" ? p : `${root}${p}`),
    shown: (p) => (o.root === "/" ? p : p.slice(root.length)),
    hookPath: `${prefix}/bin/ascend-docker-hook`,
    runtimePath: `${prefix}/bin/ascend-docker-runtime`,
    protocol,
    gateArgs
  }
}

/** Whether something is at `p` (under the root). */
export const exists = (ctx: PlanContext, p: string) => ctx.fs.exists(ctx.at(p)).pipe(Effect.orElseSucceed(() => false))

/** The newest backup of `p` as it is, if any. */
export const newestBackup = (ctx: PlanContext, p: string) =>
  Effect.gen(function* () {
    const names = yield* backupsOf(ctx.fs, ctx.at(p))
    return names[0] === undefined ? undefined : { path: names[0], now: yield* current(ctx.fs, names[0]) }
  })

/** A backup of whatever is at `p` (file or link), under a name nothing has yet. */
export const backupAny = (ctx: PlanContext, p: string, now: Current, why: string) =>
  Effect.map(
    freshBackupName(ctx.fs, ctx.at(p), ctx.o.now),
    (name): ReadonlyArray<Change> =>
      only(now.kind === "link" ? { action: "create", path: name, why, link: now.target } : backupChange(name, now, why))
  )

/**
 * A config file of an engine's, edited in place. `installed` makes the file with our entries from its text
 * (one variant per --default-runtime setting), `uninstalled` takes them out again (given the older backup's
 * text, for what install replaced).
 */
export interface Edit {
  readonly path: string
  readonly why: string
  readonly installed: (makeDefault: boolean) => (text: string | undefined) => string
  readonly uninstalled: (text: string, before: string | undefined) => string | undefined
  readonly fresh: Owner
}

/** The file at an edit's path, refused unless it is a regular file (or missing). */
const editable = (ctx: PlanContext, e: Edit) =>
  Effect.flatMap(current(ctx.fs, ctx.at(e.path)), (now) =>
    now.kind === "link" || now.kind === "other" || now.kind === "large"
      ? fail(
          `${e.path} is a ${now.kind === "link" ? "symbolic link" : now.kind === "large" ? `file of ${now.size} bytes` : now.type}; install edits only a regular file`
        )
      : Effect.succeed(now)
  )

/** install of an edit: a backup, then the edit (mode and owner kept). */
export const editInstall = (ctx: PlanContext, e: Edit): Changes =>
  Effect.gen(function* () {
    const now = yield* editable(ctx, e)
    const text = textOf(now)
    const next = yield* attempt(() => e.installed(ctx.o.makeDefault)(text))
    const backup = next !== text ? yield* backupAny(ctx, e.path, now, `backup of ${e.path} before ${e.why}`) : []
    return [...backup, ...only(fileChange(ctx.at(e.path), now, next, e.why, e.fresh))]
  })

/**
 * uninstall of an edit: the newest backup back when the file is exactly what install made of it (nobody
 * edited it since), that backup then removed; otherwise only our entries out, backups kept.
 */
export const editUninstall = (ctx: PlanContext, e: Edit): Changes =>
  Effect.gen(function* () {
    const now = yield* editable(ctx, e)
    const text = textOf(now)
    if (text === undefined) return []
    const variants = [e.installed(false), e.installed(true)]
    const madeFrom = (before: string, after: string) => variants.some((f) => orUndefined(() => f(before)) === after)
    // Newest backup first: while the file is exactly what install made of a backup, that backup is
    // what it was before; each one walked back through is removed, the older ones are kept.
    let restored = text
    let from: string | undefined
    const used: Array<string> = []
    for (const name of yield* backupsOf(ctx.fs, ctx.at(e.path))) {
      const before = textOf(yield* current(ctx.fs, name))
      if (before === undefined || !madeFrom(before, restored)) break
      restored = before
      from = name
      used.push(name)
    }
    const older = (yield* backupsOf(ctx.fs, ctx.at(e.path))).find((n) => !used.includes(n))
    const olderText = older === undefined ? undefined : textOf(yield* current(ctx.fs, older))
    // What is left of ours (the file was edited since, or made by install): our entries out.
    const ours = from === undefined || madeFrom(restored, restored)
    const final = ours ? yield* attempt(() => e.uninstalled(restored, olderText)) : restored
    const why = from === undefined ? `${e.why} removed` : `${e.why} removed: restored from ${ctx.shown(from)}`
    const change: Change =
      final !== text
        ? fileChange(ctx.at(e.path), now, final, why, e.fresh)!
        : { action: "unchanged", path: ctx.at(e.path), why: `${e.why}: none there` }
    return [change, ...used.map((name): Change => ({ action: "remove", path: name, why: "the backup just restored" }))]
  })

/** A file wholly ours (a drop-in, a hooks.d file): `isOurs` tells ours from someone else's. */
export interface Own {
  readonly path: string
  readonly isOurs: (text: string) => boolean
  readonly why: string
  readonly fresh: Owner
}

const foreign = (own: Own, now: Current) => now.kind !== "missing" && !(now.kind === "file" && own.isOurs(now.text))

/** install of a file wholly ours: written as `next` (or removed when undefined); someone else's refused, or with --force set aside. */
export const ownInstall = (ctx: PlanContext, own: Own, next: string | undefined): Changes =>
  Effect.gen(function* () {
    const now = yield* current(ctx.fs, ctx.at(own.path))
    let backup: ReadonlyArray<Change> = []
    if (foreign(own, now)) {
      if (!ctx.o.force || now.kind === "other") return yield* fail(`${own.path} is there and not ours${FORCE_HINT}`)
      backup = yield* backupAny(ctx, own.path, now, `backup of ${own.path}, which was not ours`)
    }
    return [...backup, ...only(fileChange(ctx.at(own.path), now, next, own.why, own.fresh))]
  })

/** uninstall of a file wholly ours: removed; someone else's left alone. */
export const ownUninstall = (ctx: PlanContext, own: Own): Changes =>
  Effect.map(
    current(ctx.fs, ctx.at(own.path)),
    (now): ReadonlyArray<Change> =>
      foreign(own, now)
        ? [{ action: "keep", path: ctx.at(own.path), why: `${own.why}: not ours, left alone` }]
        : only(fileChange(ctx.at(own.path), now, undefined, own.why, own.fresh))
  )
