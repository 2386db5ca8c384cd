#!/usr/bin/env bash
# Builds the real apiextensions-apiserver and takes etcd from Debian's packages, into a
# per-machine cache (default ~/.cache/k8s-apiext/bin). Installs nothing system-wide: apt is
# pointed at private state directories and reuses the machine's own Debian mirror.
# Idempotent: exits at once when both binaries are already cached.
set -euo pipefail
OUT=${K8S_APIEXT_CACHE:-$HOME/.cache/k8s-apiext}
W=$OUT/work
if [ -x "$OUT/bin/apiextensions-apiserver" ] && [ -x "$OUT/bin/etcd" ]; then exit 0; fi
rm -rf "$W"
mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/debs" "$W/root" "$OUT/bin"
src=/etc/apt/sources.list.d/debian.sources
URI=""
[ -f "$src" ] && URI=$(awk '/^URIs:/{print $2; exit}' "$src")
[ -n "$URI" ] || URI=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
if [ -z "$URI" ]; then echo "provision: no Debian apt source found on this machine" >&2; exit 3; fi
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI sid main" > "$W/sources.list"
A=(-o "Dir::State::Lists=$W/lists" -o "Dir::Etc::SourceList=$W/sources.list" -o Dir::Etc::SourceParts=/nonexistent
   -o "Dir::Cache=$W/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
apt-get "${A[@]}" -qq update
PKGS=$(apt-cache "${A[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances golang-k8s-apiextensions-apiserver-dev golang-go \
  | grep -E '^(golang-.*-dev|golang-[0-9.]+-(go|src))$' | sort -u)
# shellcheck disable=SC2086
(cd "$W/debs" && apt-get "${A[@]}" -qq download $PKGS etcd-server)
for f in "$W"/debs/*.deb; do dpkg-deb -x "$f" "$W/root"; done
GOROOT=$(ls -d "$W"/root/usr/lib/go-1.* | sort -V | tail -1)
env GOROOT="$GOROOT" PATH="$GOROOT/bin:$PATH" GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off GOFLAGS= \
  GOPATH="$W/gopath:$W/root/usr/share/gocode" GOCACHE="$W/gocache" \
  go build -trimpath -ldflags='-s -w' -o "$OUT/bin/apiextensions-apiserver.tmp" k8s.io/apiextensions-apiserver
cp "$W/root/usr/bin/etcd" "$OUT/bin/etcd"
mv "$OUT/bin/apiextensions-apiserver.tmp" "$OUT/bin/apiextensions-apiserver"
rm -rf "$W"
