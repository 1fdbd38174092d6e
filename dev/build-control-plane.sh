#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kube-scheduler (dev/controlplane/go.mod) and the
# helm CLIs (Helm 4 from dev/helm/go.mod, Helm 3 from dev/helm3/go.mod) from the Go module proxy, once per
# machine: the binaries land in cache folders outside the repo keyed by the pinned versions, and later runs
# reuse them. Safe to run again: it does nothing
# when they exist.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# The versions are read from the go.mod files, where they are pinned (either `mod ver` or `require mod ver`).
pinned() { awk -v m="$2" '$1 == "require" {$1 = ""; $0 = $0} $1 == m {print $2; exit}' "$here/$1/go.mod"; }
version=$(pinned controlplane k8s.io/kubernetes)
cache=${VIDEOGEN_DEV_CACHE_DIR:-$HOME/.cache/videogen}
bin="$cache/k8s-$version/bin"
# One build at a time per machine: a second `make controlplane` (another checkout, a parallel make) waits for
# the first and then finds the binaries cached, instead of building into the same folders at once.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
commands=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# Two helm majors: Helm 4 (dev/helm) is the one the tools use; Helm 3 (dev/helm3) checks the chart stays compatible.
build_helm() {  # folder module -> prints the binary's folder
  local v b
  v=$(pinned "$1" "$2")
  b="$cache/helm-$v/bin"
  if [ ! -x "$b/helm" ]; then
    echo "helm $v: building into $b (first time on this machine; a few minutes)" >&2
    mkdir -p "$b"
    (cd "$here/$1" && GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$b/helm.partial" "$2/cmd/helm")
    mv "$b/helm.partial" "$b/helm"
  fi
  echo "$b"
}
helm_bin=$(build_helm helm helm.sh/helm/v4)
helm3_bin=$(build_helm helm3 helm.sh/helm/v3)

missing=0
for c in "${commands[@]}"; do [ -x "$bin/$c" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "control plane $version: cached in $bin; helm: $helm_bin/helm and $helm3_bin/helm"
  exit 0
fi

echo "control plane $version: building into $bin (first time on this machine; about 15-25 minutes on 2 cores)"
mkdir -p "$bin"
tmp="$bin.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
cd "$here/controlplane"
start=$(date +%s)
# -trimpath and stripped symbols keep the cache small; GOFLAGS=-mod=mod lets go.sum be completed if the
# module cache is cold.
GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$tmp/" \
  ./etcd \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler
# Move into place only when every binary built, so an interrupted build is never mistaken for a cached one.
for c in "${commands[@]}"; do mv "$tmp/$c" "$bin/$c"; done
rmdir "$tmp"
echo "control plane $version: built in $(( $(date +%s) - start ))s"
