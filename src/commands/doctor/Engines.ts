import { parse as parseToml } from "smol-toml"
import { CONTAINERD_CONFIG, importedFiles } from "../install/ContainerdToml.ts"
import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/**
 * Which generation of each engine this host runs, whether CDI is on in it and where it reads specs from,
 * and so which route doctor recommends (README, "Engine matrix"). The version comes from the program itself
 * (`containerd --version`, `dockerd --version`) where doctor may run it (root /); the CDI setting from the
 * engine's config, with each version's default where the config says nothing.
 */

type Toml = Record<string, unknown>
const isTable = (v: unknown): v is Toml => typeof v === "object" && v !== null && !Array.isArray(v)
const DEFAULT_SPEC_DIRS = ["/etc/cdi", "/var/run/cdi"]

/** A version's numbers from the first x.y[.z] in a program's --version line. */
export const versionNumbers = (line: string | undefined): readonly [number, number, number] | undefined => {
  const m =
    line === undefined ? null : /(\d+)\.(\d+)(?:\.(\d+))?/.exec(line.replace(/^containerd github\.com\/\S+/, ""))
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
}
const atLeast = (v: readonly [number, number, number], major: number, minor: number) =>
  v[0] > major || (v[0] === major && v[1] >= minor)
const shown = (v: readonly [number, number, number] | undefined) => (v === undefined ? "version unknown" : v.join("."))

/** The CRI plugin's table in a parsed containerd config: version 3's cri.v1.runtime, else version 2's grpc.v1.cri. */
const criTable = (config: Toml): Toml | undefined => {
  const plugins = isTable(config.plugins) ? config.plugins : {}
  const v3 = plugins["io.containerd.cri.v1.runtime"]
  const v2 = plugins["io.containerd.grpc.v1.cri"]
  return isTable(v3) ? v3 : isTable(v2) ? v2 : undefined
}

const tomlOf = (text: string | undefined): Toml | undefined => {
  try {
    return text === undefined ? undefined : (parseToml(text) as Toml)
  } catch {
    return undefined
  }
}

/** containerd: 1.6 has no CDI; 1.7 has it when enable_cdi is set; 2.x has it unless enable_cdi = false. */
const containerdLine = (ctx: DoctorContext): Check | undefined => {
  const text = ctx.read(CONTAINERD_CONFIG)
  const version = versionNumbers(ctx.versionOf("containerd"))
  if (text === undefined && version === undefined) return undefined
  const main = tomlOf(text) ?? {}
  const imports = (Array.isArray(main.imports) ? main.imports : []).filter((i): i is string => typeof i === "string")
  const tables = [
    main,
    ...importedFiles(imports, (d) => ctx.host.namesIn(ctx.at(d))).map((f) => tomlOf(ctx.read(f)) ?? {})
  ]
  const setting = tables
    .map(criTable)
    .reduce<{ enable?: unknown; dirs?: unknown }>(
      (acc, t) => ({ enable: t?.enable_cdi ?? acc.enable, dirs: t?.cdi_spec_dirs ?? acc.dirs }),
      {}
    )
  // A version 3 config is read by containerd 2 only; without the program, a version 2 one may be either.
  const generation2 = version !== undefined ? version[0] >= 2 : main.version === 3 ? true : undefined
  const cdi =
    version !== undefined && !atLeast(version, 1, 7)
      ? false
      : typeof setting.enable === "boolean"
        ? setting.enable
        : generation2
  const dirs = Array.isArray(setting.dirs) ? setting.dirs.map(String) : DEFAULT_SPEC_DIRS
  const off = "handler ascend (install --runtime containerd) gives NPUs from the device plugin's env"
  const route =
    cdi === undefined
      ? `CDI on by default in containerd 2.x, off in 1.x (enable_cdi not set): on 2.x a DRA driver or CDI device plugin with handler runc needs no wrapper; on 1.x ${off}`
      : cdi
        ? `CDI on (specs from ${dirs.join(", ")}): a DRA driver or CDI device plugin with handler runc needs no wrapper; handler ascend (install --runtime containerd) for the device plugin's env`
        : `CDI off: ${off}`
  return {
    id: "engine:containerd",
    status: "ok",
    message: `containerd ${shown(version)}, config version ${String(main.version ?? "1")}: ${route}`
  }
}

/** Docker: no CDI before 25; features.cdi from 25, on by default since 28.2. */
const dockerLine = (ctx: DoctorContext): Check | undefined => {
  const text = ctx.read("/etc/docker/daemon.json")
  const version = versionNumbers(ctx.versionOf("dockerd"))
  if (text === undefined && version === undefined) return undefined
  let daemon: Toml = {}
  try {
    const parsed: unknown = text === undefined ? {} : JSON.parse(text)
    daemon = isTable(parsed) ? parsed : {}
  } catch {}
  const features = isTable(daemon.features) ? daemon.features : {}
  const cdi =
    version !== undefined && version[0] < 25
      ? false
      : typeof features.cdi === "boolean"
        ? features.cdi
        : version === undefined
          ? undefined
          : atLeast(version, 28, 2)
  const dirs = Array.isArray(daemon["cdi-spec-dirs"]) ? daemon["cdi-spec-dirs"].map(String) : DEFAULT_SPEC_DIRS
  const on =
    "ascend-docker-hook cdi generate, then docker run --device ascend.com/npu=N; --runtime ascend for env requests"
  const route =
    cdi === undefined
      ? `CDI on by default since Docker 28.2 (features.cdi not set): from 28.2 ${on}; before, the wrapper (install --runtime docker)`
      : cdi
        ? `CDI on (specs from ${dirs.join(", ")}): ${on}`
        : version !== undefined && version[0] < 25
          ? "no CDI in this version: the wrapper (install --runtime docker, docker run --runtime ascend)"
          : 'CDI off: the wrapper (install --runtime docker), or "features": {"cdi": true} in daemon.json for the CDI route'
  return { id: "engine:docker", status: "ok", message: `dockerd ${shown(version)}: ${route}` }
}

/** Engine generations and the route each is best served by. */
export const engineGenerations: DoctorCheck = {
  name: "engine generations",
  looksAt: "containerd --version / dockerd --version (root / only), their configs' CDI settings and spec dirs",
  run: (ctx) => [containerdLine(ctx), dockerLine(ctx)].filter((c): c is Check => c !== undefined)
}

/** The engine checks of this file, in the order doctor reports them. */
export const ENGINE_CHECKS: ReadonlyArray<DoctorCheck> = [engineGenerations]
