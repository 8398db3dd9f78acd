import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type { CliProtocol } from "../HookConfig.ts"
import { nodeFs } from "../platform/NodeFs.ts"
import { isBinary, selfDir } from "../platform/Self.ts"
import * as SyncFileSystem from "../platform/SyncFileSystem.ts"
import { cliProtocolOf } from "../schemas/CliProtocol.ts"
import { parseRuntimeConf, RUNTIME_CONF, renderRuntimeConf } from "../wrapper/RuntimeConf.ts"
import { type Flag, flagHelp, parseFlags } from "./Flags.ts"
import { hostFiles } from "./HostFiles.ts"
import { apply } from "./install/Apply.ts"
import * as Containerd from "./install/Containerd.ts"
import * as Crio from "./install/Crio.ts"
import * as Docker from "./install/Docker.ts"
import {
  backupChange,
  backupsOf,
  type Change,
  type Current,
  current,
  fileChange,
  freshBackupName,
  InstallError,
  ownerLike,
  textOf
} from "./install/Files.ts"
import { prepareAdminRun } from "./install/Lock.ts"

export { hooksdJson } from "./install/Crio.ts"

export const RUNTIMES = ["docker", "containerd", "crio", "podman"] as const
export type RuntimeName = (typeof RUNTIMES)[number]

/** In every binary we build (this text is): how install tells our binary from someone else's at our path. */
export const SELF_MARK = "usage: ascend-docker-hook install|uninstall"

const FLAGS: ReadonlyArray<Flag> = [
  { name: "--runtime", value: "NAME", oneOf: RUNTIMES, repeat: true, help: "register with this engine" },
  { name: "--default-runtime", help: "make ascend the default runtime of docker / containerd / CRI-O" },
  { name: "--prefix", value: "DIR", absolute: true, help: "where bin/ goes (default /usr/local)" },
  { name: "--root", value: "DIR", absolute: true, help: "act on a tree rooted at DIR instead of / (images, tests)" },
  {
    name: "--cli-protocol",
    value: "P",
    oneOf: ["2021", "2023"],
    help: "the CLI's protocol (default: read from the ascend-docker-cli in PREFIX/bin)"
  },
  {
    name: "--mode",
    value: "M",
    oneOf: ["hook", "cdi"],
    help: "how the wrapper gives NPUs: the hook (default) or CDI edits with no hook or CLI (runtime.conf)"
  },
  {
    name: "--unprivileged-env",
    value: "P",
    oneOf: ["accept", "ignore", "refuse"],
    help: "what an ASCEND_VISIBLE_DEVICES from a container without CAP_SYS_ADMIN gets (runtime.conf, hooks.d args)"
  },
  {
    name: "--dev-root",
    value: "DIR",
    absolute: true,
    help: "where the device nodes are, for the CDI spec Podman gets with a 2023 CLI (default /dev)"
  },
  { name: "--force", help: "replace files and entries at our paths that are not ours (a backup of each is kept)" },
  { name: "--dry-run", help: "print every change, write nothing" },
  { name: "--help", help: "this text" }
]

export const INSTALL_USAGE = `${SELF_MARK} [--runtime NAME]... [--default-runtime] [--prefix DIR]
                                             [--root DIR] [--cli-protocol P] [--force] [--dry-run]

install places ascend-docker-hook (and ascend-docker-runtime, a link to it) in PREFIX/bin, a default
/etc/ascend-docker-runtime.d/base.list if there is none, and registers with each engine named:
  docker      /etc/docker/daemon.json: runtimes.ascend spliced in, every other byte kept
  containerd  /etc/containerd/conf.d/99-ascend.toml (the runtime), and one entry in config.toml's imports;
              k3s / RKE2: their config.toml.tmpl (config-v3.toml.tmpl) gets the runtime after {{ template "base" . }}
  crio        /etc/crio/crio.conf.d/99-ascend.conf (runtime handler ascend, the wrapper), and with a 2021 CLI
              /usr/share/containers/oci/hooks.d/ascend-docker-hook.json
  podman      /etc/containers/oci/hooks.d/ascend-docker-hook.json (2021 CLI); with a 2023 CLI the CDI spec
              /etc/cdi/ascend.com-npu.json instead, as cdi generate makes it (not with --root);
              uninstall removes it only when it is exactly what cdi generate makes then
With --mode, --cli-protocol or --unprivileged-env it also writes /etc/ascend-docker-runtime.d/runtime.conf,
the wrapper's settings (the daemon's env still wins), and gives the hooks.d hook the same policy.
Each file it changes keeps its mode, owner and group, and is first backed up as FILE.ascend-backup-<time>
(as private as the file). Files and entries at these paths that are not ours are left alone (--force
replaces them, keeping a backup). Nothing is written unless every change can be made. uninstall undoes
exactly that: a file install changed and nobody edited since is restored from its backup; one edited since
loses only our entries. Installing twice changes nothing.

${flagHelp(FLAGS)}

With a 2023 CLI (every CLI shipped since March 2023) device nodes must come from the wrapper (docker,
containerd, CRI-O's ascend handler: it detects the protocol itself) or from CDI; a hooks.d hook cannot add them.`

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
  /** The binary install places: its bytes and where they came from. */
  readonly source: { readonly path: string; readonly bytes: Uint8Array } | undefined
  /** The time in backup names. */
  readonly now: Date
}

export const BASE_LIST = "/etc/ascend-docker-runtime.d/base.list"

/**
 * The paths current Ascend drivers install, for the default mount list: what people mount today, with
 * npu-smi from whichever of /usr/local/bin and /usr/local/sbin has it (bin when neither does yet).
 */
export const defaultBaseList = (npuSmiDir: "/usr/local/bin" | "/usr/local/sbin"): string =>
  `# Host paths every NPU container gets (ascend-docker-hook). One absolute path a line; # for comments.
/usr/local/Ascend/driver/lib64
/usr/local/Ascend/driver/include
/usr/local/Ascend/driver/version.info
/etc/ascend_install.info
/usr/local/dcmi
${npuSmiDir}/npu-smi
`

const fail = (message: string) => Effect.fail(new InstallError(message))
const ROOT_OWNED = { mode: 0o644, uid: 0, gid: 0 }
const includes = (hay: Uint8Array, needle: string) => Buffer.from(hay).includes(needle)
const startsWithHeader = (text: string | undefined) =>
  text?.startsWith("# Written by ascend-docker-hook install") === true
const forceHint = "; --force replaces it, keeping a backup"

/** Works out every change, reading through `fs` and writing nothing. Paths in the result are under the root. */
export const plan = (fs: FileSystem.FileSystem, o: Options): Effect.Effect<ReadonlyArray<Change>, InstallError> =>
  Effect.gen(function* () {
    const at = (p: string) => (o.root === "/" ? p : `${o.root.replace(/\/+$/, "")}${p}`)
    const shown = (p: string) => (o.root === "/" ? p : p.slice(o.root.replace(/\/+$/, "").length))
    const hookPath = `${o.prefix.replace(/\/+$/, "")}/bin/ascend-docker-hook`
    const runtimePath = `${o.prefix.replace(/\/+$/, "")}/bin/ascend-docker-runtime`
    const changes: Array<Change> = []
    const push = (c: Change | undefined) => {
      if (c !== undefined) changes.push(c)
    }
    const install = o.mode === "install"
    const exists = (p: string) => fs.exists(at(p)).pipe(Effect.orElseSucceed(() => false))

    const protocol = yield* protocolOf(fs, o)

    /** The newest backup of `p` as it is, if any. */
    const newestBackup = (p: string) =>
      Effect.gen(function* () {
        const names = yield* backupsOf(fs, at(p))
        return names[0] === undefined ? undefined : { path: names[0], now: yield* current(fs, names[0]) }
      })

    /** A backup of whatever is at `p` (file or link), under a name nothing has yet. */
    const backupAny = (p: string, now: Current, why: string) =>
      Effect.map(freshBackupName(fs, at(p), o.now), (name): Change | undefined =>
        now.kind === "link" ? { action: "create", path: name, why, link: now.target } : backupChange(name, now, why)
      )

    // --- the binary and the wrapper link -------------------------------------------------------------------
    const placed = (
      p: string,
      isOurs: (now: Current) => boolean,
      wanted: (now: Current) => boolean,
      make: (action: "create" | "update") => Change,
      what: string
    ) =>
      Effect.gen(function* () {
        const now = yield* current(fs, at(p))
        const backup = yield* newestBackup(p)
        if (install) {
          if (wanted(now)) return push({ action: "unchanged", path: at(p), why: what })
          if (now.kind === "other") return yield* fail(`${p} is a ${now.type}, not a file; remove it first`)
          if (now.kind !== "missing" && !isOurs(now)) {
            if (!o.force) return yield* fail(`${p} is there and not ours (${describe(now)})${forceHint}`)
            push(yield* backupAny(p, now, `backup of ${p}, which was not ours`))
          }
          return push(make(now.kind === "missing" ? "create" : "update"))
        }
        if (now.kind === "missing") return
        if (!isOurs(now)) return push({ action: "keep", path: at(p), why: `${what}: not ours, left alone` })
        if (backup !== undefined && (backup.now.kind === "file" || backup.now.kind === "link")) {
          // install --force set someone's file aside: it goes back.
          const why = `${what}: restored from ${shown(backup.path)}`
          push(
            backup.now.kind === "link"
              ? { action: "update", path: at(p), why, link: backup.now.target }
              : {
                  action: "update",
                  path: at(p),
                  why,
                  content: backup.now.bytes,
                  mode: backup.now.mode & 0o100 ? 0o755 : 0o644,
                  uid: backup.now.uid,
                  gid: backup.now.gid
                }
          )
          return push({ action: "remove", path: backup.path, why: "the backup just restored" })
        }
        return push({ action: "remove", path: at(p), why: what })
      })

    const source = o.source
    if (install && source === undefined) return yield* fail("install needs the self-contained binary (npm run build)")
    yield* placed(
      hookPath,
      (now) => now.kind === "file" && includes(now.bytes, SELF_MARK),
      (now) => now.kind === "file" && source !== undefined && Buffer.from(now.bytes).equals(source.bytes),
      (action) => ({
        action,
        path: at(hookPath),
        why: `the hook binary, from ${source!.path}`,
        content: source!.bytes,
        mode: 0o755,
        uid: 0,
        gid: 0
      }),
      "the hook binary"
    )
    yield* placed(
      runtimePath,
      (now) => now.kind === "link" && now.target === "ascend-docker-hook",
      (now) => now.kind === "link" && now.target === "ascend-docker-hook",
      (action) => ({
        action,
        path: at(runtimePath),
        why: "the runtime wrapper (a link to the hook binary)",
        link: "ascend-docker-hook"
      }),
      "the runtime wrapper link"
    )

    // --- the default mount list ------------------------------------------------------------------------------
    const base = yield* current(fs, at(BASE_LIST))
    const defaults = [defaultBaseList("/usr/local/bin"), defaultBaseList("/usr/local/sbin")]
    if (install) {
      const npuSmiDir =
        !(yield* exists("/usr/local/bin/npu-smi")) && (yield* exists("/usr/local/sbin/npu-smi"))
          ? "/usr/local/sbin"
          : "/usr/local/bin"
      push(
        base.kind === "missing"
          ? fileChange(
              at(BASE_LIST),
              base,
              defaultBaseList(npuSmiDir),
              "the default mount list (current Ascend driver paths)",
              {
                mode: 0o644,
                uid: 0,
                gid: 0
              }
            )
          : { action: "keep", path: at(BASE_LIST), why: "an existing mount list is never overwritten" }
      )
    } else if (base.kind === "file" && defaults.includes(base.text))
      push({ action: "remove", path: at(BASE_LIST), why: "the default mount list, unedited" })
    else if (base.kind !== "missing")
      push({ action: "keep", path: at(BASE_LIST), why: "the mount list was edited; kept" })

    // --- the wrapper's settings file ----------------------------------------------------------------------------
    const confPath = `${BASE_LIST.slice(0, BASE_LIST.lastIndexOf("/"))}/${RUNTIME_CONF}`
    const conf = yield* current(fs, at(confPath))
    const confIsOurs = conf.kind === "file" && conf.text.startsWith(renderRuntimeConf({}))
    // Not given: what the settings file says now, so a reinstall keeps the hooks.d hook in step with it.
    const existing = confIsOurs && conf.kind === "file" ? parseRuntimeConf(conf.text) : {}
    const policy =
      o.unprivilegedEnv ?? (typeof existing === "string" ? undefined : existing.ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV)
    const gateArgs = policy === undefined || policy === "accept" ? [] : ["--unprivileged-env", policy]
    const settings = {
      ...(o.wrapperMode === undefined ? {} : { ASCEND_DOCKER_RUNTIME_MODE: o.wrapperMode }),
      ...(o.cliProtocol === undefined ? {} : { ASCEND_DOCKER_RUNTIME_CLI_PROTOCOL: o.cliProtocol }),
      ...(o.unprivilegedEnv === undefined ? {} : { ASCEND_DOCKER_RUNTIME_UNPRIVILEGED_ENV: o.unprivilegedEnv })
    }
    if (install && Object.keys(settings).length > 0) {
      if (conf.kind !== "missing" && !confIsOurs && !o.force)
        return yield* fail(`${confPath} is there and not ours${forceHint}`)
      if (conf.kind !== "missing" && !confIsOurs)
        push(yield* backupAny(confPath, conf, `backup of ${confPath}, which was not ours`))
      push(fileChange(at(confPath), conf, renderRuntimeConf(settings), "the wrapper's settings", ROOT_OWNED))
    } else if (install && conf.kind !== "missing")
      push({
        action: "keep",
        path: at(confPath),
        why: "the wrapper's settings, as they are (--mode, --cli-protocol, --unprivileged-env change them)"
      })
    else if (!install && confIsOurs) push({ action: "remove", path: at(confPath), why: "the wrapper's settings" })

    /**
     * A config file of an engine's, edited in place. install: a backup, then the edit (mode and owner
     * kept). uninstall: the newest backup back when the file is exactly what install made of it (nobody
     * edited it since), that backup then removed; otherwise only our entries out, backups kept.
     */
    const edit = (
      p: string,
      why: string,
      installed: ReadonlyArray<(text: string | undefined) => string>,
      uninstalled: (text: string, before: string | undefined) => string | undefined,
      fresh: { readonly mode: number; readonly uid: number; readonly gid: number }
    ) =>
      Effect.gen(function* () {
        const now = yield* current(fs, at(p))
        if (now.kind === "link" || now.kind === "other")
          return yield* fail(
            `${p} is a ${now.kind === "link" ? "symbolic link" : now.type}; install edits only a regular file`
          )
        const text = textOf(now)
        if (install) {
          const next = yield* attempt(() => installed[0]!(text))
          if (next !== text) push(yield* backupAny(p, now, `backup of ${p} before ${why}`))
          return push(fileChange(at(p), now, next, why, fresh))
        }
        if (text === undefined) return
        // Newest backup first: while the file is exactly what install made of a backup, that backup is
        // what it was before; each one walked back through is removed, the older ones are kept.
        let restored = text
        let from: string | undefined
        const used: Array<string> = []
        for (const name of yield* backupsOf(fs, at(p))) {
          const before = textOf(yield* current(fs, name))
          if (before === undefined || !installed.some((f) => yield_(() => f(before)) === restored)) break
          restored = before
          from = name
          used.push(name)
        }
        const older = (yield* backupsOf(fs, at(p))).find((n) => !used.includes(n))
        const olderText = older === undefined ? undefined : textOf(yield* current(fs, older))
        // What is left of ours (the file was edited since, or made by install): our entries out.
        const ours = from === undefined || installed.some((f) => yield_(() => f(restored)) === restored)
        const final = ours ? yield* attempt(() => uninstalled(restored, olderText)) : restored
        const why2 = from === undefined ? `${why} removed` : `${why} removed: restored from ${shown(from)}`
        if (final !== text) push(fileChange(at(p), now, final, why2, fresh))
        else push({ action: "unchanged", path: at(p), why: `${why}: none there` })
        for (const name of used) push({ action: "remove", path: name, why: "the backup just restored" })
      })

    /** A file wholly ours (a drop-in, a hooks.d file): written, or removed; someone else's is left alone. */
    const ours = (
      p: string,
      next: string | undefined,
      isOurs: (text: string) => boolean,
      why: string,
      fresh: { readonly mode: number; readonly uid: number; readonly gid: number }
    ) =>
      Effect.gen(function* () {
        const now = yield* current(fs, at(p))
        const foreign = now.kind !== "missing" && !(now.kind === "file" && isOurs(now.text))
        if (install) {
          if (foreign) {
            if (!o.force || now.kind === "other") return yield* fail(`${p} is there and not ours${forceHint}`)
            push(yield* backupAny(p, now, `backup of ${p}, which was not ours`))
          }
          return push(fileChange(at(p), now, next, why, fresh))
        }
        if (foreign) return push({ action: "keep", path: at(p), why: `${why}: not ours, left alone` })
        push(fileChange(at(p), now, undefined, why, fresh))
      })

    /** The hooks.d file of an engine: the hook for every container, prestart, with the policy's args. */
    const hooksd = (p: string, engine: string) =>
      ours(
        p,
        install ? Crio.hooksdJson(hookPath, gateArgs) : undefined,
        Crio.isOurHooksd,
        `${engine}: OCI hook for every container, prestart`,
        ROOT_OWNED
      )
    const variants = <A>(f: (makeDefault: boolean) => A) => (install ? [f(o.makeDefault)] : [f(false), f(true)])

    for (const runtime of o.runtimes) {
      if (runtime === "docker") {
        if (install) {
          const now = yield* current(fs, at(Docker.DAEMON_JSON))
          const foreign = yield* attempt(() => Docker.foreignDockerEntry(textOf(now), runtimePath))
          if (foreign !== undefined && !o.force)
            return yield* fail(`${Docker.DAEMON_JSON}: runtimes.ascend runs ${foreign}, not ours${forceHint}`)
        }
        yield* edit(
          Docker.DAEMON_JSON,
          "docker: runtimes.ascend",
          variants((d) => (text: string | undefined) => Docker.dockerInstall(text, runtimePath, d)),
          Docker.dockerUninstall,
          ROOT_OWNED
        )
      } else if (runtime === "containerd") {
        yield* containerd()
      } else if (runtime === "crio") {
        yield* crio()
      } else {
        // A 2023 CLI leaves the device nodes to the runtime wrapper, which Podman does not run: its route
        // is CDI. The spec describes this host's devices, so it is made after the files (runInstaller),
        // and only where the devices are.
        if (install && protocol === "2023") {
          if (o.root !== "/")
            return yield* fail(
              "podman: the CLI speaks the 2023 protocol, so Podman's route is CDI, and the spec describes the " +
                "devices of the host it is made on: run ascend-docker-hook cdi generate there (not with --root)"
            )
          yield* ours(
            Crio.PODMAN_HOOKS_D,
            undefined,
            Crio.isOurHooksd,
            "podman: no hooks.d hook with a 2023 CLI",
            ROOT_OWNED
          )
          continue
        }
        yield* hooksd(Crio.PODMAN_HOOKS_D, "podman")
      }
    }
    return changes

    function containerd() {
      return Effect.gen(function* () {
        const rancher: Array<string> = []
        for (const d of Containerd.RANCHER_DIRS) if (yield* exists(`${d}/config.toml`)) rancher.push(d)
        for (const d of rancher) {
          const generated = yield* current(fs, at(`${d}/config.toml`))
          const parsed = yield* attempt(() => Containerd.parse(textOf(generated) ?? "", `${d}/config.toml`))
          const version = parsed.version === 3 ? 3 : 2
          yield* edit(
            `${d}/${Containerd.templateName(version)}`,
            `${d.includes("rke2") ? "rke2" : "k3s"}: runtimes.ascend in containerd's template`,
            variants(
              (def) => (text: string | undefined) =>
                Containerd.withBlock(text, Containerd.templateBlock(version, runtimePath, def))
            ),
            (text) => Containerd.withoutBlock(text),
            ownerLike(generated, 0o600)
          )
        }
        const main = yield* current(fs, at(Containerd.CONTAINERD_CONFIG))
        if (rancher.length > 0 && main.kind === "missing") return
        if (main.kind === "link" || main.kind === "other")
          return yield* fail(`${Containerd.CONTAINERD_CONFIG} is not a regular file; install edits only a regular file`)
        const mainText = textOf(main)
        const freshMain = `version = 2\nimports = [${JSON.stringify(Containerd.CONTAINERD_DROP_IN)}]\n`
        const config =
          mainText === undefined
            ? undefined
            : yield* attempt(() => Containerd.parse(mainText, Containerd.CONTAINERD_CONFIG))
        const version =
          config === undefined ? 2 : yield* attempt(() => Containerd.versionOf(config, Containerd.CONTAINERD_CONFIG))

        // The CRI section in effect without us: the config's, then each earlier import's (last wins).
        let inEffect = config === undefined ? undefined : Containerd.criSection(config, version)
        const sections: Array<{ file: string; cri: ReturnType<typeof Containerd.criSection> }> = [
          { file: Containerd.CONTAINERD_CONFIG, cri: inEffect }
        ]
        const host = hostFiles(fs)
        const files = Containerd.importedFiles(config === undefined ? [] : Containerd.importsOf(config), (d) =>
          host.namesIn(at(d))
        )
        for (const file of files) {
          if (file === Containerd.CONTAINERD_DROP_IN) continue
          const text = textOf(yield* current(fs, at(file)))
          if (text === undefined) continue
          const cri = Containerd.criSection(yield* attempt(() => Containerd.parse(text, file)), version)
          sections.push({ file, cri })
          if (cri !== undefined) inEffect = cri
        }
        if (install)
          for (const s of sections) {
            const foreign = Containerd.foreignRuntime(s.cri, runtimePath)
            if (foreign !== undefined && !o.force)
              return yield* fail(`${s.file}: runtimes.ascend runs ${foreign}, not ours${forceHint}`)
          }
        const secretLike = ownerLike(main, 0o644)
        yield* ours(
          Containerd.CONTAINERD_DROP_IN,
          install ? Containerd.dropIn(version, inEffect, runtimePath, o.makeDefault) : undefined,
          (text) => startsWithHeader(text),
          "containerd: runtimes.ascend (the drop-in)",
          secretLike
        )
        yield* edit(
          Containerd.CONTAINERD_CONFIG,
          "containerd: the drop-in in imports",
          [(text) => (text === undefined ? freshMain : Containerd.addImport(text, Containerd.CONTAINERD_DROP_IN))],
          (text, before) =>
            before === undefined && text === freshMain
              ? undefined
              : Containerd.removeImport(text, Containerd.CONTAINERD_DROP_IN),
          ROOT_OWNED
        )
      })
    }

    function crio() {
      return Effect.gen(function* () {
        if (protocol === "2021") yield* hooksd(Crio.CRIO_HOOKS_D, "crio")
        else if (!install) yield* ours(Crio.CRIO_HOOKS_D, undefined, Crio.isOurHooksd, "crio: OCI hook", ROOT_OWNED)
        const main = yield* current(fs, at(Crio.CRIO_CONFIG))
        const configs = [textOf(main) ?? ""]
        const names = yield* fs
          .readDirectory(at(Crio.CRIO_DROP_IN_DIR))
          .pipe(Effect.orElseSucceed(() => [] as Array<string>))
        for (const n of [...names].sort())
          if (n.endsWith(".conf") && `${Crio.CRIO_DROP_IN_DIR}/${n}` !== Crio.CRIO_DROP_IN)
            configs.push(textOf(yield* current(fs, at(`${Crio.CRIO_DROP_IN_DIR}/${n}`))) ?? "")
        yield* ours(
          Crio.CRIO_DROP_IN,
          install ? Crio.crioDropIn(runtimePath, Crio.monitorSettings(configs), o.makeDefault) : undefined,
          (text) => startsWithHeader(text),
          "crio: runtime handler ascend (the wrapper)",
          ownerLike(main, 0o644)
        )
      })
    }
  })

/** The protocol install works with: --cli-protocol, else read from the CLI in PREFIX/bin under the root. */
export const protocolOf = (fs: FileSystem.FileSystem, o: Options): Effect.Effect<CliProtocol, InstallError> =>
  o.cliProtocol !== undefined
    ? Effect.succeed(o.cliProtocol)
    : Effect.map(
        current(
          fs,
          `${o.root === "/" ? "" : o.root.replace(/\/+$/, "")}${o.prefix.replace(/\/+$/, "")}/bin/ascend-docker-cli`
        ),
        (cli): CliProtocol => (cli.kind === "file" ? cliProtocolOf(cli.bytes) : "2021")
      )

/** A pure step that may throw its one line: as an Effect. */
const attempt = <A>(f: () => A): Effect.Effect<A, InstallError> =>
  Effect.try({ try: f, catch: (e) => new InstallError(e instanceof Error ? e.message.split("\n")[0]! : String(e)) })

/** A pure step's value, or undefined if it throws. */
const yield_ = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch {
    return undefined
  }
}

const describe = (now: Current): string =>
  now.kind === "link" ? `a link to ${now.target}` : now.kind === "file" ? "a file we did not write" : now.kind

/** Where the binary to install comes from: this very executable, or the one built next to the bundle. */
const sourceBinary = (): { path: string; bytes: Uint8Array } | undefined => {
  const fs = nodeFs()
  const path = process.getBuiltinModule("node:path")
  const file = isBinary() ? fs.realpathSync(process.execPath) : path.join(selfDir(), "ascend-docker-hook")
  return fs.existsSync(file) ? { path: file, bytes: new Uint8Array(fs.readFileSync(file)) } : undefined
}

/** How a change is printed; paths as the host will see them (the root taken off). */
export const describeChange = (c: Change, root: string, dryRun: boolean): string => {
  const shown = root === "/" ? c.path : c.path.slice(root.replace(/\/+$/, "").length) || "/"
  return `${dryRun ? "would " : ""}${c.action.padEnd(9)} ${shown}  (${c.why})`
}

/** `install` / `uninstall`: prints each change (`create`, `update`, `remove`, `unchanged`, `keep`), then makes them all or none. */
export const runInstaller = (mode: "install" | "uninstall", args: ReadonlyArray<string>): number => {
  const files = nodeFs()
  const out = (line: string) => files.writeSync(1, `${line}\n`)
  const err = (line: string) => files.writeSync(2, `ascend-docker-hook ${mode}: ${line}\n`)
  if (args.includes("--help")) {
    out(INSTALL_USAGE)
    return 0
  }
  const flags = parseFlags(args, FLAGS)
  if (typeof flags === "string") {
    err(flags)
    return 1
  }
  const options: Options = {
    mode,
    runtimes: flags.all("--runtime") as ReadonlyArray<RuntimeName>,
    makeDefault: flags.has("--default-runtime"),
    prefix: flags.one("--prefix") ?? "/usr/local",
    root: flags.one("--root") ?? "/",
    cliProtocol: flags.one("--cli-protocol") as CliProtocol | undefined,
    wrapperMode: flags.one("--mode") as Options["wrapperMode"],
    unprivilegedEnv: flags.one("--unprivileged-env") as Options["unprivilegedEnv"],
    force: flags.has("--force"),
    source: mode === "install" ? sourceBinary() : undefined,
    now: new Date()
  }
  const dryRun = flags.has("--dry-run")
  if (!dryRun && !prepareAdminRun(options.root, options.prefix, err)) return 1
  /** How install makes Podman's spec, and uninstall checks one: cdi generate's defaults, this dev root. */
  const podmanGenerate = ["generate", "--dev-root", flags.one("--dev-root") ?? "/dev"]
  const judgePodmanSpec = (): { readonly file: string; readonly ours: boolean } | undefined => {
    const host = hostFiles(SyncFileSystem.make(files))
    const file = `${options.root === "/" ? "" : options.root.replace(/\/+$/, "")}/etc/cdi/ascend.com-npu.json`
    if (!host.exists(file)) return undefined
    const { generatedSpec } = require("./Cdi.ts") as typeof import("./Cdi.ts")
    const made = options.root === "/" ? generatedSpec(podmanGenerate.slice(1), host) : undefined
    return { file, ours: typeof made === "object" && made.output === file && host.readText(file) === made.text }
  }
  // uninstall: the spec install made for Podman's CDI route (a file of cdi generate's, not in the plan) is
  // removed when it is exactly what cdi generate makes on this host, else left in place, saying why. Judged
  // before the plan runs, while the mount lists it was made from are still there.
  const podmanSpec = mode === "uninstall" && options.runtimes.includes("podman") ? judgePodmanSpec() : undefined
  const program = Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const protocol = yield* protocolOf(fs, options)
    const changes = yield* plan(fs, options)
    for (const c of changes) out(describeChange(c, options.root, dryRun))
    if (!dryRun) yield* apply(fs, changes)
    return { changes, protocol }
  })
  const result = Effect.runSync(Effect.result(Effect.provide(program, SyncFileSystem.layer)))
  if (result._tag === "Failure") {
    err(result.failure.message)
    return 1
  }
  const { changes, protocol } = result.success
  const changed = changes.filter((c) => c.action !== "unchanged" && c.action !== "keep").length
  out(
    `${mode}: ${changed === 0 ? "nothing to change" : `${changed} change${changed === 1 ? "" : "s"}${dryRun ? " (dry run, nothing written)" : ""}`}`
  )
  if (mode === "install" && options.runtimes.includes("podman") && protocol === "2023") {
    if (dryRun) out("podman: would generate the CDI spec (ascend-docker-hook cdi generate) after the files")
    else {
      // Podman's route with a 2023 CLI: the CDI spec, made from the mount lists just installed (a spec
      // already there that differs is kept as a backup by cdi generate itself).
      const { runCdi } = require("./Cdi.ts") as typeof import("./Cdi.ts")
      if (runCdi(podmanGenerate) !== 0)
        out(
          "podman: no CDI spec yet (see above); run ascend-docker-hook cdi generate once the NPUs and driver are in place"
        )
      else out("podman: podman run --device ascend.com/npu=0 ... (rerun cdi generate after a driver update)")
    }
  }
  if (podmanSpec !== undefined) {
    const { file, ours } = podmanSpec
    if (!ours)
      out(
        `podman: ${file} left in place: it is not what cdi generate makes on this host now (edited, or the ` +
          "devices or driver changed); remove it if Podman should no longer offer ascend.com/npu devices"
      )
    else if (dryRun) out(`podman: would remove ${file} (what cdi generate makes on this host)`)
    else {
      files.rmSync(file)
      out(`podman: removed ${file} (what cdi generate makes on this host)`)
    }
  }
  if (mode === "install" && !dryRun && changed > 0) {
    for (const r of options.runtimes)
      if (r === "docker" || r === "containerd" || r === "crio")
        out(`${r}: restart ${r === "docker" ? "dockerd" : r} (or k3s / rke2) to pick up the runtime`)
  }
  return 0
}
