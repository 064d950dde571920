#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager) and the chart tools (helm,
# kubeconform) from pinned Go modules into a git-ignored cache:
#   .cache/controlplane/<KUBERNETES_VERSION>/bin/
# Idempotent: a binary is rebuilt only when its stamp (version, go.sum digest, Go version, flags) changes.
# Binaries given from outside are not built:
#   KUBEBUILDER_ASSETS=dir         envtest's folder: etcd and kube-apiserver (and kube-controller-manager if present)
#   TEST_ASSET_ETCD, TEST_ASSET_KUBE_APISERVER, TEST_ASSET_KUBE_CONTROLLER_MANAGER, TEST_ASSET_HELM,
#   TEST_ASSET_KUBECONFORM=path    one binary each
#   E2E_USE_EXISTING_CLUSTER=1     a real cluster is used: the control plane is not built (chart tools still are)
# Options: --only NAME[,NAME]  build only these (etcd, kube-apiserver, kube-controller-manager, helm, kubeconform)
#          --print-bin-dir     print the cache's bin folder and exit
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${CONTROLPLANE_CACHE_DIR:-$repo/.cache/controlplane}"
bin_dir="$cache_root/$KUBERNETES_VERSION/bin"

only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --print-bin-dir) echo "$bin_dir"; exit 0 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# The go command must not fetch another toolchain, and CGO is off so the binaries are static and need no C compiler.
export GOTOOLCHAIN=local CGO_ENABLED=0
# Not fatal yet: when every binary comes from the environment, Go is not needed.
go_version="$(go env GOVERSION 2>/dev/null || echo none)"
mkdir -p "$bin_dir"

log() { printf '[controlplane:build %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

wanted() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }

# external NAME VAR: prints the path of a binary given from outside, or nothing.
external() {
  local name="$1" var="$2" path="${!2:-}"
  if [[ -n "$path" ]]; then echo "$path"; return; fi
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$name" ]]; then echo "$KUBEBUILDER_ASSETS/$name"; fi
}

# build NAME VAR MODULE_DIR VERSION PACKAGE LDFLAGS
build() {
  local name="$1" var="$2" mod="$here/go/$3" version="$4" pkg="$5" ldflags="$6"
  wanted "$name" || return 0
  local ext
  ext="$(external "$name" "$var")"
  if [[ -n "$ext" ]]; then
    [[ -x "$ext" ]] || { log "$name: $ext (from the environment) is not an executable file" >&2; exit 1; }
    log "$name: using $ext from the environment, not building"
    return 0
  fi
  if [[ "$go_version" == none ]]; then
    log "$name: the go command is missing (Go >= 1.26 is needed to build the control plane)" >&2
    exit 1
  fi
  local stamp_want stamp_file="$bin_dir/$name.stamp"
  stamp_want="$name $version $(sha256sum "$mod/go.sum" | cut -c1-16) $go_version $ldflags"
  if [[ -x "$bin_dir/$name" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_want" ]]; then
    log "$name $version: up to date ($bin_dir/$name)"
    return 0
  fi
  log "$name $version: building $pkg (a cold build of the Kubernetes commands takes tens of minutes on 2 cores)"
  local start=$SECONDS
  rm -f "$stamp_file"
  (cd "$mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin_dir/$name.tmp" "$pkg")
  mv -f "$bin_dir/$name.tmp" "$bin_dir/$name"
  echo "$stamp_want" > "$stamp_file"
  log "$name $version: built in $((SECONDS - start))s, $(du -h "$bin_dir/$name" | cut -f1)"
}

skip_control_plane=""
[[ "${E2E_USE_EXISTING_CLUSTER:-}" == "1" ]] && skip_control_plane=1

total=$SECONDS
log "Go $go_version, cache $bin_dir"
kv="k8s.io/component-base/version"
cv="k8s.io/client-go/pkg/version"
minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
kube_ldflags=""
for p in "$kv" "$cv"; do
  kube_ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
kube_ldflags="${kube_ldflags# }"

if [[ -z "$skip_control_plane" ]]; then
  build etcd TEST_ASSET_ETCD etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 ""
  build kube-apiserver TEST_ASSET_KUBE_APISERVER kubernetes "$KUBERNETES_VERSION" \
    k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
  build kube-controller-manager TEST_ASSET_KUBE_CONTROLLER_MANAGER kubernetes "$KUBERNETES_VERSION" \
    k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
else
  log "E2E_USE_EXISTING_CLUSTER=1: not building the control plane"
fi
build helm TEST_ASSET_HELM charttools "$HELM_VERSION" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
build kubeconform TEST_ASSET_KUBECONFORM charttools "$KUBECONFORM_VERSION" \
  github.com/yannh/kubeconform/cmd/kubeconform ""
log "done in $((SECONDS - total))s"
