#!/bin/sh
# Before the package goes: refuse while an engine still names this package's runtime or hook (its config
# would point at a binary about to vanish, and every NPU container, or with --default-runtime every
# container, would fail to start). The package never edits an engine's config itself (Debian Policy 10.7.4:
# a package must not change another package's config files; and the engine must then be restarted, which a
# package manager mid-transaction should not do), so it names the uninstall to run first, which undoes
# exactly what install did. Called as dpkg's prerm (remove|upgrade|deconfigure|failed-upgrade) and as
# rpm's %preun (0 on erase, 1 or more on upgrade). "An engine names it" is what uninstall itself would take
# out of an engine's config: its dry run's plan, read line by line (docker: / containerd: / k3s: / rke2: /
# crio: / podman: changes). uninstall leaves the package's own files alone: it removes a binary only at
# its --prefix (default /usr/local), and the package's base.list is not the default it writes.
set -e
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
hook=/usr/bin/ascend-docker-hook
# Gone already (uninstall --prefix /usr removes it): nothing can run it, so removing changes nothing.
[ -x "$hook" ] || exit 0
runtimes="--runtime docker --runtime containerd --runtime crio --runtime podman"
# shellcheck disable=SC2086 # the flags are words
if ! plan=$("$hook" uninstall --dry-run $runtimes 2>&1); then
  echo "ascend-docker-hook: cannot tell whether an engine still names the ascend runtime ($plan); fix that first" >&2
  exit 1
fi
engines=""
add() {
  case " $engines " in
  *" $1 "*) ;;
  *) engines="${engines:+$engines }$1" ;;
  esac
}
old_ifs=$IFS
IFS='
'
for line in $plan; do
  case "$line" in
  "would keep"* | "would unchanged"*) ;;
  "would "*"  (docker: "*) add docker ;;
  "would "*"  (containerd: "* | "would "*"  (k3s: "* | "would "*"  (rke2: "*) add containerd ;;
  "would "*"  (crio: "*) add crio ;;
  "would "*"  (podman: "*) add podman ;;
  esac
done
IFS=$old_ifs
[ -z "$engines" ] && exit 0
flags=""
for e in $engines; do flags="$flags --runtime $e"; done
echo "ascend-docker-hook: $engines still named in the engine config; first run: ascend-docker-hook uninstall$flags, restart $engines, then remove the package" >&2
exit 1
