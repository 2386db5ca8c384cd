#!/usr/bin/env bash
# Builds the real apiextensions-apiserver and takes etcd from Debian's packages, into a
# per-machine cache (default ~/.cache/k8s-apiext/bin). Installs nothing system-wide: apt is
# pointed at private state directories and reuses the machine's own Debian mirror.
# Idempotent: exits at once when both binaries are already cached, or when KUBEBUILDER_ASSETS
# holds kube-apiserver and etcd (the test bed then uses those).
# On failure: one line `provision-apiserver: FAILED: <step>: <cause>` on stderr, the same text in
# $OUT/last-failure (the test bed quotes it), exit status non-zero.
set -eEuo pipefail
OUT=${K8S_APIEXT_CACHE:-$HOME/.cache/k8s-apiext}
W=$OUT/work
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  exit 0
fi
if [ -x "$OUT/bin/apiextensions-apiserver" ] && [ -x "$OUT/bin/etcd" ]; then exit 0; fi

STEP="start"
LOG=$(mktemp)
fail() {
  # Report whatever happens from here on (an empty log must not end the script silently).
  trap - ERR
  set +e
  local cause
  cause=$(grep -v '^\s*$' "$LOG" | tail -1 | cut -c1-300)
  local line="provision-apiserver: FAILED: $STEP: ${cause:-exit status $1}"
  mkdir -p "$OUT"
  echo "$line" > "$OUT/last-failure"
  echo "$line" >&2
  rm -rf "$W" "$LOG"
  exit 1
}
trap 'fail $?' ERR
run() { "$@" >>"$LOG" 2>&1; }

STEP="preparing $W"
rm -rf "$W"
mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/debs" "$W/root" "$OUT/bin"
STEP="finding the machine's Debian apt source"
src=/etc/apt/sources.list.d/debian.sources
URI=""
[ -f "$src" ] && URI=$(awk '/^URIs:/{print $2; exit}' "$src")
[ -n "$URI" ] || URI=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
if [ -z "$URI" ]; then echo "no Debian apt source found on this machine" >>"$LOG"; false; fi
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI sid main" > "$W/sources.list"
A=(-o "Dir::State::Lists=$W/lists" -o "Dir::Etc::SourceList=$W/sources.list" -o Dir::Etc::SourceParts=/nonexistent
   -o "Dir::Cache=$W/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
STEP="apt-get update (Debian sid lists from $URI)"
run apt-get "${A[@]}" -qq update
STEP="resolving golang-k8s-apiextensions-apiserver-dev's Go dependencies"
PKGS=$(apt-cache "${A[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances golang-k8s-apiextensions-apiserver-dev golang-go 2>>"$LOG" \
  | grep -E '^(golang-.*-dev|golang-[0-9.]+-(go|src))$' | sort -u)
[ -n "$PKGS" ] || { echo "no packages resolved" >>"$LOG"; false; }
STEP="downloading the .debs"
# shellcheck disable=SC2086
(cd "$W/debs" && run apt-get "${A[@]}" -qq download $PKGS etcd-server)
STEP="extracting the .debs"
for f in "$W"/debs/*.deb; do run dpkg-deb -x "$f" "$W/root"; done
STEP="go build k8s.io/apiextensions-apiserver"
GOROOT=$(ls -d "$W"/root/usr/lib/go-1.* | sort -V | tail -1)
# Stamp the Kubernetes version (the staging module 0.X.Y is Kubernetes 1.X.Y) so /version
# answers like a release build; without it the server says v0.0.0-master.
LDFLAGS='-s -w'
DEB=$(ls "$W"/debs/golang-k8s-apiextensions-apiserver-dev_*.deb 2>/dev/null | head -1 || true)
PKGVER=$( { [ -n "$DEB" ] && dpkg-deb -f "$DEB" Version; } 2>/dev/null || true)
if [[ "$PKGVER" =~ ^0\.([0-9]+)\.([0-9]+) ]]; then
  MINOR=${BASH_REMATCH[1]}; PATCH=${BASH_REMATCH[2]}
  V=k8s.io/component-base/version
  LDFLAGS="$LDFLAGS -X $V.gitMajor=1 -X $V.gitMinor=$MINOR -X $V.gitVersion=v1.$MINOR.$PATCH -X $V.gitTreeState=clean"
fi
run env GOROOT="$GOROOT" PATH="$GOROOT/bin:$PATH" GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off GOFLAGS= \
  GOPATH="$W/gopath:$W/root/usr/share/gocode" GOCACHE="$W/gocache" \
  go build -trimpath -ldflags="$LDFLAGS" -o "$OUT/bin/apiextensions-apiserver.tmp" k8s.io/apiextensions-apiserver
STEP="installing etcd"
cp "$W/root/usr/bin/etcd" "$OUT/bin/etcd.tmp"
mv "$OUT/bin/etcd.tmp" "$OUT/bin/etcd"
mv "$OUT/bin/apiextensions-apiserver.tmp" "$OUT/bin/apiextensions-apiserver"
rm -rf "$W" "$LOG" "$OUT/last-failure"
