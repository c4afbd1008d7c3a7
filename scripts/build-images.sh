#!/usr/bin/env bash
# Build fastpath's benchmark images offline (no registry needed), with version tags.
#
#   scripts/build-images.sh [--force] [SUITE...]     (default: every containers/<suite>/)
#
# 1. makes sure a controller Docker daemon runs (scripts/controller-docker.sh),
# 2. builds the base image fastpath/base:bookworm-1 (containers/base/build.sh; cached by tag),
# 3. builds each containers/<suite>/Dockerfile FROM the base, with containers/ as the build
#    context, tagged with the name in containers/<suite>/TAG (the tag the fragments in
#    benchmarks/<suite>/ reference).
# An image is rebuilt only when its inputs changed: the hash of the base image id, the
# suite directory and containers/common/ is stored as the image label fastpath.inputs.
# Print `export DOCKER_HOST=...` with `scripts/controller-docker.sh env` to use the images.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONTAINERS=$ROOT/containers
FORCE=0
suites=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) suites+=("$arg") ;;
  esac
done

"$ROOT/scripts/controller-docker.sh" start
eval "$("$ROOT/scripts/controller-docker.sh" env)"

if [ "$FORCE" = 1 ]; then "$CONTAINERS/base/build.sh" --force; else "$CONTAINERS/base/build.sh"; fi
BASE_TAG=${FASTPATH_BASE_TAG:-fastpath/base:bookworm-1}
BASE_ID=$(docker image inspect -f '{{.Id}}' "$BASE_TAG")

if [ ${#suites[@]} -eq 0 ]; then
  for df in "$CONTAINERS"/*/Dockerfile; do suites+=("$(basename "$(dirname "$df")")"); done
fi

inputs_hash() {
  local suite=$1
  {
    echo "$BASE_ID"
    cd "$CONTAINERS"
    find "$suite" common -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z \
      | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

failed=()
for suite in "${suites[@]}"; do
  dir=$CONTAINERS/$suite
  [ -f "$dir/Dockerfile" ] || { echo "images: no $dir/Dockerfile" >&2; failed+=("$suite"); continue; }
  [ -f "$dir/TAG" ] || { echo "images: no $dir/TAG (image name:version)" >&2; failed+=("$suite"); continue; }
  tag=$(tr -d ' \n' <"$dir/TAG")
  want=$(inputs_hash "$suite")
  have=$(docker image inspect -f '{{index .Config.Labels "fastpath.inputs"}}' "$tag" 2>/dev/null || true)
  if [ "$FORCE" = 0 ] && [ "$have" = "$want" ]; then
    echo "images: $tag up to date"
    continue
  fi
  echo "images: building $tag"
  logfile=$(mktemp /tmp/fastpath-build-"$suite".XXXXXX.log)
  # The legacy builder (no buildx needed); host network so apt reaches the host's mirror.
  if DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE=$BASE_TAG" \
      --label "fastpath.inputs=$want" -t "$tag" -f "$dir/Dockerfile" "$CONTAINERS" \
      >"$logfile" 2>&1; then
    rm -f "$logfile"
    echo "images: built $tag"
  else
    tail -n 30 "$logfile" >&2
    echo "images: FAILED to build $tag (full log: $logfile)" >&2
    failed+=("$suite")
  fi
done

# Superseded builds of our images linger untagged: drop them (never anyone else's).
docker image prune -f --filter "label=fastpath.inputs" >/dev/null 2>&1 || true

if [ ${#failed[@]} -gt 0 ]; then
  echo "images: failed: ${failed[*]}" >&2
  exit 1
fi
