import { parse as parseToml } from "smol-toml"
import { CONTAINERD_CONFIG, CONTAINERD_DROP_IN, canonical, importedFiles } from "../install/ContainerdToml.ts"
import type { Check, DoctorCheck, DoctorContext } from "./Check.ts"

/** containerd: config.toml and what it imports, read as containerd reads them (never changed). */

type Toml = Record<string, unknown>

/** The config and the files it imports (our drop-in among them), parsed; throws on a file that is not TOML. */
const configs = (ctx: DoctorContext, text: string) => {
  const main = parseToml(text) as Toml
  const imports = (Array.isArray(main.imports) ? main.imports : []).filter((i): i is string => typeof i === "string")
  const files = importedFiles(imports, (dir) => ctx.host.namesIn(ctx.at(dir)))
  const texts = [text, ...files.map((f) => ctx.read(f) ?? "")]
  return { main, files, merged: texts.map((t) => JSON.stringify(parseToml(t))).join("\n") }
}

/** The CRI plugin's section of a containerd 1.x config, flattened to what the drop-in copies. */
const criOf = (config: Toml): Toml => {
  const cri = ((config.plugins as Toml | undefined)?.["io.containerd.grpc.v1.cri"] ?? {}) as Toml
  const { containerd, ...rest } = cri
  const { runtimes, ...inner } = (containerd ?? {}) as Toml
  return { ...rest, containerd: inner, runtimes }
}

/** containerd 1.x: our drop-in carries a copy of the CRI section; an edit of config.toml's since is hidden by it. */
const staleCopy = (ctx: DoctorContext, main: Toml, files: ReadonlyArray<string>): ReadonlyArray<Check> => {
  const dropIn = files.includes(CONTAINERD_DROP_IN) ? ctx.read(CONTAINERD_DROP_IN) : undefined
  if (dropIn === undefined || main.version !== 2) return []
  const { runtimes: copiedRuntimes, ...copied } = criOf(parseToml(dropIn))
  const { runtimes: mainRuntimes, ...own } = criOf(main)
  const { ascend: _, ...copiedOthers } = (copiedRuntimes ?? {}) as Toml
  const stale = canonical({ ...copied, runtimes: copiedOthers }) !== canonical({ ...own, runtimes: mainRuntimes ?? {} })
  const beforeUs = files
    .slice(0, files.indexOf(CONTAINERD_DROP_IN))
    .some((f) => JSON.stringify(parseToml(ctx.read(f) ?? "")).includes("io.containerd.grpc.v1.cri"))
  return stale && !beforeUs
    ? [
        {
          id: "containerd-drop-in",
          status: "warn",
          message: `containerd: the CRI section in ${CONTAINERD_DROP_IN} differs from config.toml's; containerd 1.x uses the drop-in's whole`,
          fix: "ascend-docker-hook install --runtime containerd (refreshes the copy)"
        }
      ]
    : []
}

const containerdLines = (ctx: DoctorContext, text: string): ReadonlyArray<Check> => {
  try {
    const { main, files, merged } = configs(ctx, text)
    const has = merged.includes('"ascend":{"runtime_type"') || /"BinaryName":"[^"]*ascend-docker-runtime"/.test(merged)
    const cdiOn = /"enable_cdi":true/.test(merged)
    const line: Check =
      has || cdiOn
        ? {
            id: "containerd",
            status: "ok",
            message: `containerd: ${has ? "runtime ascend configured" : "CDI enabled"}`
          }
        : {
            id: "containerd",
            status: "warn",
            message: "containerd: neither an ascend runtime nor enable_cdi",
            fix: "ascend-docker-hook install --runtime containerd"
          }
    return [line, ...staleCopy(ctx, main, files)]
  } catch {
    return [
      {
        id: "containerd",
        status: "fail",
        message: `containerd: ${CONTAINERD_CONFIG} (or a file it imports) is not valid TOML`,
        fix: "fix the file"
      }
    ]
  }
}

/** containerd's ascend runtime (or CDI), and a stale copy of the CRI section in our drop-in. */
export const containerdRuntime: DoctorCheck = {
  name: "containerd",
  looksAt: `${CONTAINERD_CONFIG} and the files it imports: runtimes.ascend, enable_cdi, our drop-in's CRI copy`,
  run: (ctx) => {
    const text = ctx.read(CONTAINERD_CONFIG)
    return text === undefined ? [] : containerdLines(ctx, text)
  }
}

/** containerd's checks, in the order doctor reports them. */
export const CONTAINERD_CHECKS: ReadonlyArray<DoctorCheck> = [containerdRuntime]
