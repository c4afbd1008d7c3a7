#!/usr/bin/env bash
# Build fastpath's base image offline (no registry): debootstrap a minimal Debian bookworm
# from the host's own Debian mirror, add python3 + python3-yaml, point the image's apt at
# the same mirror, and `docker import` it as fastpath/base:bookworm-1.
#
# Benchmark images build FROM this tag (see scripts/build-images.sh).  Bump the tag
# suffix whenever this script changes what goes into the image.
#
#   containers/base/build.sh [--force]     (uses the current DOCKER_HOST)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=${FASTPATH_BASE_TAG:-fastpath/base:bookworm-1}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base: $TAG exists (cached)"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "base: debootstrap missing (make setup)" >&2; exit 1; }
MIRROR=$(python3 "$HERE/apt_sources.py" --mirror)
SOURCES=$(python3 "$HERE/apt_sources.py")

WORK=$(mktemp -d /var/tmp/fastpath-base.XXXXXX)
cleanup() {
  # debootstrap may leave mounts behind when it fails half-way.
  for m in proc sys dev/pts dev; do umount -l "$WORK/rootfs/$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "base: debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-yaml,ca-certificates \
  bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  echo "base: debootstrap failed" >&2
  exit 1
}

R=$WORK/rootfs
printf '%s\n' "$SOURCES" >"$R/etc/apt/sources.list"
rm -f "$R"/etc/apt/sources.list.d/*
# Small images, quiet non-interactive installs in derived Dockerfiles.
cat >"$R/etc/apt/apt.conf.d/90fastpath" <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
CONF
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/var/log/* "$R"/tmp/*
: >"$R/etc/resolv.conf"
: >"$R/etc/hostname"
mkdir -p "$R/fastpath" "$R/fastpath-share"

tar --numeric-owner -C "$R" -c . | docker import \
  --change 'ENV DEBIAN_FRONTEND=noninteractive' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
  --change 'ENV PYTHONPATH=/fastpath' \
  --change 'WORKDIR /fastpath' \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >/dev/null
echo "base: built $TAG"
