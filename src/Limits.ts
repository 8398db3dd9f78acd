/**
 * Every size the hook accepts, in one place. Each bound is checked before the work it would cost;
 * the README lists them. The container's env comes from untrusted images, the rest from admins.
 */
export const Limits = {
  /** Bytes of container state read from stdin (or --state). */
  stateBytes: 1024 * 1024,
  /** Bytes of the bundle's config.json. */
  specBytes: 16 * 1024 * 1024,
  /** Bytes of one mount-list file. */
  listFileBytes: 1024 * 1024,
  /** Lines of one mount-list file, blank and comment lines included. */
  listFileLines: 1024,
  /** UTF-8 bytes of each of ASCEND_VISIBLE_DEVICES, ASCEND_RUNTIME_MOUNTS, ASCEND_RUNTIME_OPTIONS. */
  envValueBytes: 4096,
  /** Entries of process.env in config.json. */
  envEntries: 65536,
  /** The highest NPU id accepted; ids are 0..maxDeviceId. */
  maxDeviceId: 1023,
  /** `--mount-file` arguments the native CLI accepts. */
  mountFiles: 512,
  /** `--mount-dir` arguments the native CLI accepts. */
  mountDirs: 512,
  /**
   * Characters of one string in the state or config.json. Nothing the hook reads is near it (an exec
   * argument is at most 128 KiB, a Kubernetes annotation set 256 KiB); without it, JSON.parse of one
   * 16 MiB string took ~60 ms before the document could be refused.
   */
  jsonStringChars: 1024 * 1024,
  /** Characters of a path (state bundle, root.path, list entry, CLI path): PATH_MAX. */
  pathChars: 4096,
  /** Characters of a mount-list name (it becomes `<name>.list`, within NAME_MAX). */
  mountNameChars: 250,
  /** Bytes of one execve argument, NUL included: the kernel's MAX_ARG_STRLEN. */
  argBytes: 128 * 1024,
  /** Bytes of the whole CLI argv, NULs included: half of the usual 2 MiB ARG_MAX, leaving room for env. */
  argvBytes: 1024 * 1024,
  /** Bytes of the one error line written to stderr. */
  errorLineBytes: 1024,
  /** Characters of an offending value quoted in an error message before it is cut. */
  quotedValueChars: 160
} as const
