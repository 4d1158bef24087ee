#!/usr/bin/env bash
# Deploy one TradeSense build to one environment, safely:
#
#   deploy/k8s/deploy.sh <staging|production> <image>@sha256:<digest>
#
#   1. pin the image in the overlay (kustomize edit set image) and render it;
#   2. server-side dry run of everything except the migrate Job;
#   3. apply namespace, config, ServiceAccount, ExternalSecret and NetworkPolicies;
#   4. run the migrate Job and wait for it: a failed migration stops here, before
#      any pod runs the new code;
#   5. apply the rest and wait for `kubectl rollout status` on api and worker;
#   6. on a failed or timed-out rollout, `kubectl rollout undo` every Deployment
#      this run changed, wait for the undo, and exit non-zero.
#
# Used by .github/workflows/release.yml; works the same from a laptop with a
# kubeconfig. Needs kubectl and kustomize (KUSTOMIZE=... to override).
set -euo pipefail

usage() { echo "usage: $0 <overlay> <image@sha256:digest | image:immutable-tag>" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
overlay=$1 image=$2

KUSTOMIZE=${KUSTOMIZE:-kustomize}
KUBECTL=${KUBECTL:-kubectl}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-10m}
WORKER_ROLLOUT_TIMEOUT=${WORKER_ROLLOUT_TIMEOUT:-25m}   # pods may wait 330s for a job
MIGRATE_TIMEOUT_SECONDS=${MIGRATE_TIMEOUT_SECONDS:-900}

root=$(cd "$(dirname "$0")" && pwd)
dir="$root/overlays/$overlay"
[[ -f "$dir/kustomization.yaml" ]] || { echo "no overlay $dir" >&2; exit 2; }

# Only immutable references are deployable.
case "$image" in
  *@sha256:*) ;;
  *:latest | *:latest@* ) echo "refusing to deploy a 'latest' tag: $image" >&2; exit 2 ;;
  *:*) echo "warning: deploying by tag, prefer a digest: $image" >&2 ;;
  *) echo "image has neither tag nor digest: $image" >&2; exit 2 ;;
esac

ns=$(awk '$1 == "namespace:" { print $2; exit }' "$dir/kustomization.yaml")
[[ -n "$ns" ]] || { echo "overlay $overlay sets no namespace" >&2; exit 2; }
k() { "$KUBECTL" --namespace "$ns" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
manifests="$work/manifests.yaml"

echo "::group::render $overlay with $image"
(cd "$dir" && "$KUSTOMIZE" edit set image "tradesense=$image")
"$KUSTOMIZE" build "$dir" > "$manifests"
grep -E '^\s+image:' "$manifests" | sort -u
echo "::endgroup::"

echo "::group::server-side dry run"
# Catches schema, admission (Pod Security) and immutable-field errors before
# anything changes. On the very first deploy the namespace does not exist yet
# and a dry run of namespaced objects cannot succeed, so it is skipped.
if "$KUBECTL" get namespace "$ns" > /dev/null 2>&1; then
  "$KUBECTL" apply --dry-run=server -f "$manifests" -l 'app.kubernetes.io/component!=migrate'
else
  echo "namespace $ns not found (first deploy?): skipping the dry run"
fi
echo "::endgroup::"

deployments=(tradesense-api tradesense-worker)
revision() {
  k get deployment "$1" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null || true
}
declare -A before
for d in "${deployments[@]}"; do before[$d]=$(revision "$d"); done

echo "::group::config, secrets, network policies"
"$KUBECTL" apply -f "$manifests" -l 'app.kubernetes.io/component in (config,network)'
if grep -q '^kind: ExternalSecret' "$manifests"; then
  k wait --for=condition=Ready externalsecret/tradesense-secrets --timeout=120s
fi
echo "::endgroup::"

echo "::group::migrate"
# A Job's template is immutable: replace the previous run's Job.
k delete job tradesense-migrate --ignore-not-found --wait=true
"$KUBECTL" apply -f "$manifests" -l 'app.kubernetes.io/component=migrate'
deadline=$((SECONDS + MIGRATE_TIMEOUT_SECONDS))
while :; do
  complete=$(k get job tradesense-migrate -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')
  failed=$(k get job tradesense-migrate -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  if [[ "$complete" == "True" ]]; then break; fi
  if [[ "$failed" == "True" || $SECONDS -ge $deadline ]]; then
    echo "::error::migration failed or timed out; the running release is untouched" >&2
    k logs job/tradesense-migrate --all-containers --tail=200 >&2 || true
    exit 1
  fi
  sleep 5
done
k logs job/tradesense-migrate --all-containers --tail=50 || true
echo "::endgroup::"

echo "::group::apply and roll out"
"$KUBECTL" apply -f "$manifests" -l 'app.kubernetes.io/component!=migrate'
ok=true
k rollout status deployment/tradesense-api --timeout="$ROLLOUT_TIMEOUT" || ok=false
if $ok; then
  k rollout status deployment/tradesense-worker --timeout="$WORKER_ROLLOUT_TIMEOUT" || ok=false
fi
echo "::endgroup::"

if $ok; then
  echo "deployed $image to $overlay ($ns)"
  exit 0
fi

echo "::error::rollout failed; rolling back" >&2
k get pods -l app.kubernetes.io/name=tradesense -o wide >&2 || true
k get events --sort-by=.lastTimestamp >&2 | tail -30 || true
for d in "${deployments[@]}"; do
  after=$(revision "$d")
  # Undo only what this run changed: re-deploying the same digest creates no
  # revision, and an undo would then roll back to an older release.
  if [[ -n "${before[$d]}" && "$after" != "${before[$d]}" ]]; then
    k rollout undo "deployment/$d"
    k rollout status "deployment/$d" --timeout="$WORKER_ROLLOUT_TIMEOUT" || true
  fi
done
exit 1
