import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * Local images for the engine tests, made with no registry: a busybox-static rootfs, as a plain tar (for
 * `docker import`) or as an OCI image archive (for `ctr images import`), whose config runs `cmd`.
 */

export const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p))

/** A rootfs dir with /bin/busybox and the applets the tests use as links. */
export const busyboxRootfs = (dir: string): string => {
  const rootfs = path.join(dir, "rootfs")
  for (const d of ["bin", "proc", "sys", "dev", "etc", "tmp"]) fs.mkdirSync(path.join(rootfs, d), { recursive: true })
  fs.copyFileSync(BUSYBOX!, path.join(rootfs, "bin/busybox"))
  fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755)
  for (const applet of ["sh", "sleep", "cat", "ls", "echo", "test"])
    fs.symlinkSync("busybox", path.join(rootfs, "bin", applet))
  return rootfs
}

/** The rootfs as a tar file (what `docker import -` reads). */
export const rootfsTar = (dir: string): string => {
  const rootfs = busyboxRootfs(dir)
  const tar = path.join(dir, "rootfs.tar")
  execFileSync("tar", ["-C", rootfs, "-cf", tar, "."])
  return tar
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex")

/**
 * An OCI image archive of the busybox rootfs named `name` (e.g. docker.io/local/pause:1), running `cmd`.
 * Layout: oci-layout, index.json (with the name ctr reads), blobs/sha256/{layer, config, manifest}.
 */
export const ociArchive = (dir: string, name: string, cmd: ReadonlyArray<string>): string => {
  const layer = fs.readFileSync(rootfsTar(dir))
  const layerDigest = sha(layer)
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === "arm64" ? "arm64" : "amd64",
      os: "linux",
      config: { Cmd: cmd, Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] }
    })
  )
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${sha(config)}`,
        size: config.length
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${layerDigest}`, size: layer.length }
      ]
    })
  )
  const layout = path.join(dir, "oci")
  const blobs = path.join(layout, "blobs/sha256")
  fs.mkdirSync(blobs, { recursive: true })
  for (const b of [layer, config, manifest]) fs.writeFileSync(path.join(blobs, sha(b)), b)
  fs.writeFileSync(path.join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}')
  fs.writeFileSync(
    path.join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${sha(manifest)}`,
          size: manifest.length,
          annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.split(":").pop() }
        }
      ]
    })
  )
  const archive = path.join(dir, "image.oci.tar")
  execFileSync("tar", ["-C", layout, "-cf", archive, "."])
  return archive
}
