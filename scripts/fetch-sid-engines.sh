#!/usr/bin/env bash
# Fetches the engines clusters run now (containerd 2.x, dockerd and docker 28.x) from Debian's sid suite
# on the same mirror as this machine's apt sources, and unpacks them into a cache dir, for the Docker and
# CRI suites' second engine generation (test/support/engines.ts). Nothing is installed: apt runs with a
# private configuration (its own sources list, lists, cache and status), so the machine's apt setup and
# packages never change. Debian 12's runc stays the runtime (sid's runc wants a newer glibc; the Go
# engine binaries do not).
#
# Usage: scripts/fetch-sid-engines.sh [CACHE_DIR]   (default /var/cache/ascend-docker-hook-engines)
# Idempotent: a cache whose stamp names all the packages is left as it is.
set -euo pipefail

cache="${1:-${ADH_SID_ENGINES:-/var/cache/ascend-docker-hook-engines}}"
packages=(containerd docker.io docker-cli)
root="$cache/sid"
stamp="$root/.complete"

if [ -f "$stamp" ] && [ -x "$root/usr/bin/containerd" ] && [ -x "$root/usr/sbin/dockerd" ] && [ -x "$root/usr/bin/docker" ]; then
  echo "sid engines already in $root: $(tr '\n' ' ' <"$stamp")"
  exit 0
fi

# The mirror: the first Debian URI of the machine's own sources (deb822 or one-line), never -security.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' | head -n1)
fi
if [ -z "$mirror" ]; then
  echo "fetch-sid-engines: no Debian mirror found in /etc/apt/sources.list(.d)" >&2
  exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { echo "fetch-sid-engines: no $keyring (package debian-archive-keyring)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sid-engines.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/apt.conf.d" "$work/etc/preferences.d" \
  "$work/etc/sources.list.d" "$work/debs"
: >"$work/status"
echo "deb [signed-by=$keyring] $mirror sid main" >"$work/etc/sources.list"
cat >"$work/apt.conf" <<EOF
Dir::Etc "$work/etc";
Dir::Etc::SourceList "$work/etc/sources.list";
Dir::Etc::SourceParts "$work/etc/sources.list.d";
Dir::Etc::Parts "$work/etc/apt.conf.d";
Dir::Etc::PreferencesParts "$work/etc/preferences.d";
Dir::State "$work";
Dir::State::Lists "$work/lists";
Dir::State::status "$work/status";
Dir::Cache "$work/cache";
APT::Architecture "$(dpkg --print-architecture)";
Acquire::Languages "none";
// The mirror may serve a dated snapshot of sid; its signature is still checked.
Acquire::Check-Valid-Until "false";
APT::Sandbox::User "root";
EOF
# A proxy the machine's apt goes through is the one thing of its configuration carried over.
http_proxy_apt="" https_proxy_apt=""
eval "$(apt-config shell http_proxy_apt Acquire::http::Proxy https_proxy_apt Acquire::https::Proxy)"
[ -z "$http_proxy_apt" ] || echo "Acquire::http::Proxy \"$http_proxy_apt\";" >>"$work/apt.conf"
[ -z "$https_proxy_apt" ] || echo "Acquire::https::Proxy \"$https_proxy_apt\";" >>"$work/apt.conf"
export APT_CONFIG="$work/apt.conf"

echo "fetch-sid-engines: sid from $mirror"
apt-get update -qq
(cd "$work/debs" && apt-get download -qq "${packages[@]}")

rm -rf "$root.new"
mkdir -p "$root.new"
: >"$root.new/.complete"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root.new"
  dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$root.new/.complete"
done
for bin in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr usr/sbin/dockerd usr/bin/docker; do
  [ -x "$root.new/$bin" ] || { echo "fetch-sid-engines: $bin is not in the sid packages" >&2; exit 1; }
done
rm -rf "$root"
mv "$root.new" "$root"
echo "sid engines in $root: $(tr '\n' ' ' <"$stamp")"
