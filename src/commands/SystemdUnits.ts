/**
 * The systemd units install can set up for a host that changes under it: a refresh of the CDI spec when
 * the driver or the mount lists change (and at boot), and the /dev/char links at boot. Pure text, so the
 * installer's plan can carry them as files like any other, and tests can verify them with systemd-analyze.
 */

/** Where install puts units: the admin's unit dir, so a package's units in /usr/lib/systemd never collide. */
export const UNIT_DIR = "/etc/systemd/system"
/** The refresh's settings, an admin's file once written (install writes it only where there is none). */
export const REFRESH_ENV = "/etc/ascend-docker-runtime.d/cdi-refresh.env"
export const REFRESH_SERVICE = "ascend-docker-hook-cdi-refresh.service"
export const REFRESH_PATH = "ascend-docker-hook-cdi-refresh.path"
export const DEV_LINKS_SERVICE = "ascend-docker-hook-dev-char-links.service"
/** The refresh writes to a tmpfs by default, so a spec never outlives the boot whose hardware it describes. */
export const DEFAULT_REFRESH_OUTPUT = "/var/run/cdi/ascend.com-npu.json"
/** What the driver's install and upgrade change: its version file and library dirs. */
export const DRIVER_WATCHED = [
  "/usr/local/Ascend/driver/version.info",
  "/usr/local/Ascend/driver/lib64",
  "/usr/local/Ascend/driver/lib64/driver",
  "/usr/local/Ascend/driver/lib64/common"
] as const

/** One unit (or settings) file install writes, and whether `multi-user.target` wants it (enabled). */
export interface UnitFile {
  readonly name: string
  readonly path: string
  readonly content: string
  readonly enable: boolean
}

const BEFORE_ENGINES = "Before=containerd.service docker.service crio.service kubelet.service"

/** The refresh service, its path unit and the env file, for the binary at `binary`. */
export const refreshUnits = (binary: string, configDir = "/etc/ascend-docker-runtime.d"): ReadonlyArray<UnitFile> => [
  {
    name: REFRESH_SERVICE,
    path: `${UNIT_DIR}/${REFRESH_SERVICE}`,
    enable: true,
    content: `# Written by ascend-docker-hook install --cdi-refresh; uninstall removes it.
[Unit]
Description=Regenerate the Ascend NPU CDI spec from the host's devices and driver (ascend-docker-hook)
After=local-fs.target systemd-modules-load.service systemd-udev-settle.service
${BEFORE_ENGINES}

[Service]
Type=oneshot
EnvironmentFile=-${REFRESH_ENV}
ExecStart=${binary} cdi generate --refresh $ASCEND_CDI_REFRESH_FLAGS

[Install]
WantedBy=multi-user.target
`
  },
  {
    name: REFRESH_PATH,
    path: `${UNIT_DIR}/${REFRESH_PATH}`,
    enable: true,
    content: `# Written by ascend-docker-hook install --cdi-refresh; uninstall removes it.
[Unit]
Description=Watch the Ascend driver, the mount lists and ascend-docker-hook, to refresh the NPU CDI spec

[Path]
${[...DRIVER_WATCHED, configDir, binary].map((p) => `PathChanged=${p}`).join("\n")}
Unit=${REFRESH_SERVICE}

[Install]
WantedBy=multi-user.target
`
  },
  {
    name: "cdi-refresh.env",
    path: REFRESH_ENV,
    enable: false,
    content: `# Settings of ${REFRESH_SERVICE}, written once by ascend-docker-hook install --cdi-refresh and then yours:
# install never rewrites it, uninstall removes it only as written. The flags of
# \`ascend-docker-hook cdi generate\` the refresh runs with (see cdi --help): --output, --mounts, --kind, --dev-root.
ASCEND_CDI_REFRESH_FLAGS=--output ${DEFAULT_REFRESH_OUTPUT}
`
  }
]

/** The oneshot service that makes the /dev/char links at boot, before the engines start containers. */
export const devLinkUnits = (binary: string): ReadonlyArray<UnitFile> => [
  {
    name: DEV_LINKS_SERVICE,
    path: `${UNIT_DIR}/${DEV_LINKS_SERVICE}`,
    enable: true,
    content: `# Written by ascend-docker-hook install --dev-char-links; uninstall removes it.
[Unit]
Description=Link /dev/char/MAJOR:MINOR to each Ascend NPU device node, so a daemon-reload keeps containers' NPUs
After=systemd-modules-load.service systemd-udev-settle.service
${BEFORE_ENGINES}

[Service]
Type=oneshot
ExecStart=${binary} dev-links

[Install]
WantedBy=multi-user.target
`
  }
]

/** Where `systemctl enable` puts the link that makes `multi-user.target` want a unit, and what it says. */
export const enableLink = (unit: UnitFile): { readonly path: string; readonly target: string } => ({
  path: `${UNIT_DIR}/multi-user.target.wants/${unit.name}`,
  target: unit.path
})
