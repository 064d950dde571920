#!/usr/bin/env bash
# Builds argocd-lua-health (runner/: gopher-lua, the Lua that Argo CD embeds) into the same git-ignored cache as
# the control-plane binaries (test/controlplane/build.sh --print-bin-dir). Idempotent: rebuilt only when the
# stamp (go.sum, sources, Go version) changes. TEST_ASSET_ARGOCD_LUA_HEALTH=path uses a given binary instead.
# Prints nothing but progress; the binary's path is <bin dir>/argocd-lua-health.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [[ -n "${TEST_ASSET_ARGOCD_LUA_HEALTH:-}" ]]; then
  [[ -x "$TEST_ASSET_ARGOCD_LUA_HEALTH" ]] || { echo "TEST_ASSET_ARGOCD_LUA_HEALTH is not an executable file" >&2; exit 1; }
  exit 0
fi
bin_dir="$(bash "$repo/test/controlplane/build.sh" --print-bin-dir)"
export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$bin_dir"
stamp_want="argocd-lua-health $(cat "$here/go.sum" "$here/go.mod" "$here"/runner/*.go | sha256sum | cut -c1-16) $(go env GOVERSION)"
stamp_file="$bin_dir/argocd-lua-health.stamp"
if [[ -x "$bin_dir/argocd-lua-health" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_want" ]]; then
  echo "[argocd:build] argocd-lua-health: up to date ($bin_dir/argocd-lua-health)"
  exit 0
fi
echo "[argocd:build] argocd-lua-health: building (gopher-lua from the Go module proxy)"
rm -f "$stamp_file"
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/argocd-lua-health.tmp" ./runner)
mv -f "$bin_dir/argocd-lua-health.tmp" "$bin_dir/argocd-lua-health"
echo "$stamp_want" > "$stamp_file"
echo "[argocd:build] argocd-lua-health: built"
