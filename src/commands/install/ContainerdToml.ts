import { parse as parseToml, stringify as stringifyToml } from "smol-toml"
import { RUNTIME_NAME } from "./Docker.ts"

/**
 * containerd: the ascend runtime goes in a drop-in of ours, and the admin's config.toml gets one `imports`
 * entry, added by a text edit that keeps every other byte (comments included) and is checked by parsing
 * the result: exactly that entry added, nothing else different, or nothing is written.
 *
 * containerd 1.x (config version 2) merges an imported file by replacing each plugin's whole section (the
 * deep merge came with 2.0: containerd PR 9982; issue 5837), so a drop-in holding only
 * `runtimes.ascend` would reset the admin's CRI settings (sandbox_image, other runtimes, registry auth) to
 * the defaults - seen with containerd 1.6 here. So for version 2 the drop-in carries a copy of the CRI
 * section in effect (the config and its earlier imports, last one wins as containerd does) plus our
 * runtime, and is created no more readable than config.toml (that section can hold registry passwords).
 * For version 3 (containerd 2.x) the drop-in holds our runtime only.
 */

export const CONTAINERD_CONFIG = "/etc/containerd/config.toml"
export const CONTAINERD_DROP_IN = "/etc/containerd/conf.d/99-ascend.toml"
const CDI_ANNOTATIONS = "cdi.k8s.io/*"

type Toml = Record<string, unknown>
const isTable = (v: unknown): v is Toml =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date)

export const parse = (text: string, where: string): Toml => {
  try {
    return parseToml(text) as Toml
  } catch (e) {
    throw new Error(`${where}: not valid TOML (${(e as Error).message.split("\n")[0]})`)
  }
}

/** The config's version: 2 (containerd 1.x) or 3 (2.x); a v1 config (no version) is refused. */
export const versionOf = (config: Toml, where: string): 2 | 3 => {
  if (config.version === 2 || config.version === 3) return config.version
  if (config.version === undefined)
    throw new Error(
      `${where} has no "version" (containerd's v1 format): migrate it first with ` +
        "`containerd config migrate > config.toml.new` (containerd >= 1.7; on 1.6 add `version = 2` and rename " +
        'plugins.cri to plugins."io.containerd.grpc.v1.cri"), then run install again'
    )
  throw new Error(`${where}: version ${String(config.version)} is not one this installer knows (2 or 3)`)
}

/** The CRI plugin's name by config version. */
export const criPlugin = (version: 2 | 3): string =>
  version === 3 ? "io.containerd.cri.v1.runtime" : "io.containerd.grpc.v1.cri"

/** The CRI plugin's section of a parsed config, if it has one. */
export const criSection = (config: Toml, version: 2 | 3): Toml | undefined => {
  const plugins = config.plugins
  return isTable(plugins) && isTable(plugins[criPlugin(version)]) ? (plugins[criPlugin(version)] as Toml) : undefined
}

/** The `imports` of a parsed config (strings only). */
export const importsOf = (config: Toml): ReadonlyArray<string> =>
  Array.isArray(config.imports) ? config.imports.filter((i): i is string => typeof i === "string") : []

/**
 * The files containerd reads for `imports`, in order: a relative entry is under /etc/containerd, a `*` in
 * the file name matches as containerd's glob does (names sorted); `list` reads a directory's names.
 */
export const importedFiles = (
  imports: ReadonlyArray<string>,
  list: (dir: string) => ReadonlyArray<string>
): ReadonlyArray<string> =>
  imports.flatMap((i) => {
    const file = i.startsWith("/") ? i : `/etc/containerd/${i}`
    const slash = file.lastIndexOf("/")
    const name = file.slice(slash + 1)
    if (!name.includes("*")) return [file]
    const dir = file.slice(0, slash)
    const pattern = new RegExp(
      `^${name
        .split("*")
        .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`
    )
    return [...list(dir)]
      .sort()
      .filter((n) => pattern.test(n))
      .map((n) => `${dir}/${n}`)
  })

/** Whether `imports` already has containerd read `file` (an entry naming it, or a glob matching it). */
export const importsCover = (imports: ReadonlyArray<string>, file: string): boolean =>
  importedFiles(imports, (dir) =>
    dir === file.slice(0, file.lastIndexOf("/")) ? [file.slice(file.lastIndexOf("/") + 1)] : []
  ).includes(file)

/** A `runtimes.ascend` in a CRI section that does not run `runtimePath`: someone else's. */
export const foreignRuntime = (cri: Toml | undefined, runtimePath: string): string | undefined => {
  const runtimes = cri?.containerd
  const entry = isTable(runtimes) && isTable(runtimes.runtimes) ? runtimes.runtimes[RUNTIME_NAME] : undefined
  if (!isTable(entry)) return undefined
  const binary = isTable(entry.options) ? entry.options.BinaryName : undefined
  return binary === runtimePath ? undefined : String(binary ?? entry.runtime_type ?? "another runtime")
}

const HEADER = (version: 2 | 3) =>
  version === 2
    ? `# Written by ascend-docker-hook install; uninstall removes it. containerd 1.x replaces a plugin's whole
# section with an imported one, so this file holds a copy of the CRI section in effect when install ran,
# plus the ascend runtime: after editing the CRI section of config.toml, run install again (it refreshes
# the copy), or make the edit here.
`
    : "# Written by ascend-docker-hook install; uninstall removes it.\n"

/**
 * The ascend runtime: the default runtime's entry when that is a runc shim (so SystemdCgroup, Root and
 * the like match what the kubelet expects of every pod on the node), with the wrapper as its binary.
 */
const ascendRuntime = (section: Toml | undefined, runtimePath: string): Toml => {
  const containerd = isTable(section?.containerd) ? section.containerd : {}
  const runtimes = isTable(containerd.runtimes) ? containerd.runtimes : {}
  const name = typeof containerd.default_runtime_name === "string" ? containerd.default_runtime_name : "runc"
  const base = name === RUNTIME_NAME ? runtimes.runc : runtimes[name]
  const like = isTable(base) && base.runtime_type === "io.containerd.runc.v2" ? structuredClone(base) : {}
  const options = isTable(like.options) ? like.options : {}
  // CDI annotations reach config.json (where the wrapper honours them) only if the runtime passes them on.
  const annotations = Array.isArray(like.container_annotations) ? like.container_annotations.map(String) : []
  return {
    ...like,
    runtime_type: "io.containerd.runc.v2",
    container_annotations: annotations.includes(CDI_ANNOTATIONS) ? annotations : [...annotations, CDI_ANNOTATIONS],
    options: { ...options, BinaryName: runtimePath }
  }
}

/** The drop-in's text: the runtime (and default) over the CRI section in effect (version 2) or alone (3). */
export const dropIn = (
  version: 2 | 3,
  inEffect: Toml | undefined,
  runtimePath: string,
  makeDefault: boolean
): string => {
  const cri: Toml = version === 2 && inEffect !== undefined ? structuredClone(inEffect) : {}
  const containerd = isTable(cri.containerd) ? cri.containerd : {}
  cri.containerd = containerd
  const runtimes = isTable(containerd.runtimes) ? containerd.runtimes : {}
  containerd.runtimes = runtimes
  runtimes[RUNTIME_NAME] = ascendRuntime(inEffect, runtimePath)
  if (makeDefault) containerd.default_runtime_name = RUNTIME_NAME
  return `${HEADER(version)}${stringifyToml({ version, plugins: { [criPlugin(version)]: cri } }).trimEnd()}\n`
}

// --- the minimal edit of config.toml's `imports` -------------------------------------------------------

/** End (exclusive) of the TOML string starting at `i`. */
const stringEnd = (text: string, i: number): number => {
  const q = text[i]!
  if (text.startsWith(q.repeat(3), i)) {
    const end = text.indexOf(q.repeat(3), i + 3)
    if (end < 0) return text.length
    let j = end + 3
    while (text[j] === q) j++ // """a"""" ends at the last quotes
    return j
  }
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === "\\" && q === '"') j++
    else if (text[j] === q || text[j] === "\n") return j + 1
  }
  return text.length
}

/** Where the top-level part of the document ends: the first table header outside strings and arrays. */
const topLevelEnd = (text: string): number => {
  let depth = 0
  let lineStart = true
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === "\n") {
      lineStart = true
      continue
    }
    if (c === " " || c === "\t" || c === "\r") continue
    if (c === "#") {
      const nl = text.indexOf("\n", i)
      i = nl < 0 ? text.length : nl - 1
      continue
    }
    if (c === '"' || c === "'") i = stringEnd(text, i) - 1
    else if (c === "[" && lineStart && depth === 0) return text.lastIndexOf("\n", i) + 1
    else if (c === "[" || c === "{") depth++
    else if (c === "]" || c === "}") depth--
    lineStart = false
  }
  return text.length
}

/** The `imports = [...]` array in the top-level part: where its `]` is and the last significant char before it. */
const importsArray = (
  text: string
): { readonly close: number; readonly last: number; readonly open: number } | undefined => {
  const top = text.slice(0, topLevelEnd(text))
  const m = /^[ \t]*(?:imports|"imports"|'imports')[ \t]*=[ \t]*\[/m.exec(top)
  if (m === null) return undefined
  const open = m.index + m[0].length - 1
  let depth = 0
  let last = open
  for (let i = open; i < text.length; i++) {
    const c = text[i]!
    if (c === "#") {
      const nl = text.indexOf("\n", i)
      i = nl < 0 ? text.length : nl - 1
    } else if (c === '"' || c === "'") {
      i = stringEnd(text, i) - 1
      last = i
    } else if (c === "[") {
      depth++
      if (i > open) last = i
    } else if (c === "]") {
      depth--
      if (depth === 0) return { open, close: i, last }
      last = i
    } else if (!/\s/.test(c)) last = i
  }
  return undefined
}

/** A parsed TOML value as canonical text (keys sorted; smol-toml's tables have no prototype, so no deep-equal by prototype). */
export const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(",")}]`
    : v instanceof Date
      ? JSON.stringify(v.toISOString())
      : typeof v === "object" && v !== null
        ? `{${Object.keys(v)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical((v as Toml)[k])}`)
            .join(",")}}`
        : JSON.stringify(v)

/** Checks an edit by parsing: the result is `before` with imports changed as `expect` says, nothing else. */
const checked = (before: string, after: string, expect: (imports: ReadonlyArray<string>) => Toml): string => {
  const a = parse(after, CONTAINERD_CONFIG)
  const { imports: _, ...wanted } = parse(before, CONTAINERD_CONFIG)
  const goal = { ...wanted, ...expect(importsOf(parse(before, CONTAINERD_CONFIG))) }
  if (canonical(a) !== canonical(goal))
    throw new Error(
      `${CONTAINERD_CONFIG}: cannot edit its imports safely; add "${CONTAINERD_DROP_IN}" to imports by hand`
    )
  return after
}

/** config.toml with `entry` in its imports (extending an existing array, else a new line after version). */
export const addImport = (text: string, entry: string): string => {
  const config = parse(text, CONTAINERD_CONFIG)
  if (importsCover(importsOf(config), entry)) return text
  if (config.imports !== undefined && !Array.isArray(config.imports))
    throw new Error(`${CONTAINERD_CONFIG}: "imports" is not an array`)
  const quoted = JSON.stringify(entry)
  const found = importsArray(text)
  let next: string
  if (found !== undefined) {
    // After the last element, in the array's own style: a trailing comma stays trailing.
    const insert = found.last === found.open ? quoted : text[found.last] === "," ? ` ${quoted},` : `, ${quoted}`
    next = `${text.slice(0, found.last + 1)}${insert}${text.slice(found.last + 1)}`
  } else {
    const top = text.slice(0, topLevelEnd(text))
    const v = /^[ \t]*version[ \t]*=.*$/m.exec(top)
    const at = v === null ? 0 : v.index + v[0].length
    const nl = text.indexOf("\n", at)
    next =
      v === null
        ? `imports = [${quoted}]\n${text}`
        : nl < 0
          ? `${text}\nimports = [${quoted}]\n`
          : `${text.slice(0, nl + 1)}imports = [${quoted}]\n${text.slice(nl + 1)}`
  }
  return checked(text, next, (imports) => ({ imports: [...imports, entry] }))
}

/** config.toml without `entry` in its imports (and without the imports line if install added it alone). */
export const removeImport = (text: string, entry: string): string => {
  const config = parse(text, CONTAINERD_CONFIG)
  const imports = importsOf(config)
  if (!imports.includes(entry)) return text
  const quoted = JSON.stringify(entry)
  const line = `imports = [${quoted}]\n`
  let next: string
  if (imports.length === 1 && text.includes(line)) next = text.replace(line, "")
  else {
    const found = importsArray(text)
    const inside = found === undefined ? -1 : text.indexOf(quoted, found.open)
    if (found === undefined || inside < 0 || inside > found.close)
      throw new Error(`${CONTAINERD_CONFIG}: cannot find "${entry}" in its imports to remove; remove it by hand`)
    const before = text.slice(0, inside)
    const after = text.slice(inside + quoted.length)
    next = before.endsWith(", ")
      ? `${before.slice(0, -2)}${after}`
      : after.startsWith(", ")
        ? `${before}${after.slice(2)}`
        : `${before}${after}`
  }
  const rest = imports.filter((i) => i !== entry)
  return checked(text, next, () => (rest.length === 0 && !/^[ \t]*imports/m.test(next) ? {} : { imports: rest }))
}

// --- k3s and RKE2 ---------------------------------------------------------------------------------------

/**
 * k3s and RKE2 write their containerd's config.toml anew at every start, from a template when there is
 * one (`config.toml.tmpl`, or `config-v3.toml.tmpl` for their containerd 2.x). Their `base` template
 * is their own config; our runtime goes after it, in a block marked so uninstall takes out exactly it.
 */
export const RANCHER_DIRS = [
  "/var/lib/rancher/k3s/agent/etc/containerd",
  "/var/lib/rancher/rke2/agent/etc/containerd"
] as const

export const templateName = (version: 2 | 3): string => (version === 3 ? "config-v3.toml.tmpl" : "config.toml.tmpl")

const BEGIN = "# >>> ascend-docker-hook install (uninstall removes this block)"
const END = "# <<< ascend-docker-hook install"

/** Our block: the ascend runtime (and default), in the template's config version. */
export const templateBlock = (version: 2 | 3, runtimePath: string, makeDefault: boolean): string => {
  const at = `plugins.${JSON.stringify(criPlugin(version))}.containerd`
  return [
    BEGIN,
    ...(makeDefault ? [`[${at}]`, `  default_runtime_name = "${RUNTIME_NAME}"`] : []),
    `[${at}.runtimes.${RUNTIME_NAME}]`,
    `  runtime_type = "io.containerd.runc.v2"`,
    `[${at}.runtimes.${RUNTIME_NAME}.options]`,
    `  BinaryName = ${JSON.stringify(runtimePath)}`,
    // k3s/RKE2 fill this in from the node's cgroup driver, as their base template does for runc.
    "  SystemdCgroup = {{ .SystemdCgroup }}",
    END,
    ""
  ].join("\n")
}

/** A fresh template: theirs (`base`), then ours. */
export const freshTemplate = (block: string): string => `{{ template "base" . }}\n\n${block}`

const blockRange = (text: string): { start: number; end: number } | undefined => {
  const start = text.indexOf(BEGIN)
  if (start < 0) return undefined
  const endAt = text.indexOf(END, start)
  if (endAt < 0) return undefined
  const nl = text.indexOf("\n", endAt)
  return { start, end: nl < 0 ? text.length : nl + 1 }
}

/** The template with our block in (replacing an older block of ours). */
export const withBlock = (text: string | undefined, block: string): string => {
  if (text === undefined) return freshTemplate(block)
  const r = blockRange(text)
  if (r !== undefined) return `${text.slice(0, r.start)}${block}${text.slice(r.end)}`
  return `${text}${text.endsWith("\n") || text === "" ? "" : "\n"}\n${block}`
}

/** The template without our block; undefined when what is left is the fresh template we made. */
export const withoutBlock = (text: string): string | undefined => {
  const r = blockRange(text)
  if (r === undefined) return text
  if (text === freshTemplate(text.slice(r.start, r.end))) return undefined
  let before = text.slice(0, r.start)
  if (before.endsWith("\n\n")) before = before.slice(0, -1)
  return `${before}${text.slice(r.end)}`
}
