#!/usr/bin/env bash
# Runs the end-to-end suites against a kind cluster instead of the local control plane, for users with Docker.
# Not run in CI (CI machines have no Docker engine; CI uses test/controlplane's local processes).
#   test/e2e/kind.sh                 create (or reuse) the cluster, run the e2e project, keep the cluster
#   KIND_CLUSTER=name                cluster name (default neon-operator-e2e)
#   KIND_DELETE=1                    delete the cluster afterwards
#   extra arguments go to vitest, e.g. test/e2e/kind.sh test/controlplane/smoke.e2e.test.ts
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster="${KIND_CLUSTER:-neon-operator-e2e}"
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind.sh: $tool is not installed" >&2; exit 1; }
done

if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 120s
fi
kubeconfig="$(mktemp)"
cleanup() {
  rm -f "$kubeconfig"
  if [[ "${KIND_DELETE:-}" == "1" ]]; then kind delete cluster --name "$cluster"; fi
}
trap cleanup EXIT
kind get kubeconfig --name "$cluster" > "$kubeconfig"
kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready nodes --all --timeout=120s

KUBECONFIG="$kubeconfig" E2E_USE_EXISTING_CLUSTER=1 npx vitest run --project e2e "$@"
