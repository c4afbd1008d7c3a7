#!/bin/bash
# fastpath kernel helper, run as root on the SUT by roles/fastpath_kernel.
#
#   fastpath-kernel.sh install-deb RELEASE DEBFILE
#   fastpath-kernel.sh install-raw RELEASE IMAGE [MODULES_TARBALL]
#   fastpath-kernel.sh restore                   # remove every test kernel fastpath installed
#
# Never touches the SUT's known-good default kernel (/var/lib/fastpath/kernels/original,
# recorded by roles/fastpath_bootloader) nor any kernel fastpath did not install.  Each
# installed kernel is recorded in /var/lib/fastpath/kernels/<release>/ (pkgtype, package).
# The last stdout line is one JSON object; on failure it carries "error".
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
STATE=/var/lib/fastpath/kernels
STAGING=${FASTPATH_KERNEL_STAGING:-/var/tmp/fastpath-kernel}

json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
fail() { echo "{\"error\": $(json_str "$*")}"; exit 1; }
log() { echo "fastpath-kernel: $*" >&2; }

original=$(cat "$STATE/original" 2>/dev/null || true)

check_release() {
  local rel=$1
  [[ "$rel" =~ ^[A-Za-z0-9._+~-]+$ ]] || fail "invalid kernel release '$rel'"
  [ -n "$original" ] || fail "the known-good default kernel is not recorded in $STATE/original"
  [ "$rel" != "$original" ] || fail "test kernel $rel is the SUT's known-good default kernel; fastpath never replaces it"
  mkdir -p "$STATE/$rel"
}

ours() { [ -f "$STATE/$1/pkgtype" ]; }

grub_has_entry() { grep -q -- "--id 'fastpath-$1'" /boot/grub/grub.cfg 2>/dev/null; }

install_deb() {
  local rel=$1 deb=$2 pkg listing
  check_release "$rel"
  pkg=$(dpkg-deb -f "$deb" Package) || fail "$deb is not a Debian package"
  listing=$(dpkg-deb -c "$deb") || fail "cannot list $deb"
  grep -q "boot/vmlinuz-$rel\$" <<<"$listing" || fail "$deb does not contain /boot/vmlinuz-$rel"
  if [ -e "/boot/vmlinuz-$rel" ] && ! ours "$rel"; then
    # Already on the SUT and not fastpath's: use it as is, never remove it later.
    echo preexisting >"$STATE/$rel/pkgtype"
    log "kernel $rel is already installed (package not fastpath's); using it as is"
  else
    echo DEB >"$STATE/$rel/pkgtype"
    echo "$pkg" >"$STATE/$rel/package"
    log "dpkg -i $deb"
    dpkg -i "$deb" >&2 || fail "dpkg -i $(basename "$deb") failed"
  fi
  # The kernel's postinst hook normally runs update-grub; make sure the entry exists.
  grub_has_entry "$rel" || update-grub >&2 || fail "update-grub failed"
  echo "{\"release\": $(json_str "$rel"), \"pkgtype\": \"DEB\", \"package\": $(json_str "$pkg"), \"preexisting\": $( [ "$(cat "$STATE/$rel/pkgtype")" = preexisting ] && echo true || echo false)}"
}

install_raw() {
  local rel=$1 image=$2 modules=${3:-} top
  check_release "$rel"
  if [ -e "/boot/vmlinuz-$rel" ] && ! ours "$rel"; then
    fail "/boot/vmlinuz-$rel exists and was not installed by fastpath; refusing to overwrite it"
  fi
  echo RAW >"$STATE/$rel/pkgtype"
  [ -s "$image" ] || fail "kernel image $image is missing or empty"
  install -m 0644 "$image" "/boot/vmlinuz-$rel.fastpath-new"
  mv -f "/boot/vmlinuz-$rel.fastpath-new" "/boot/vmlinuz-$rel"
  if [ -n "$modules" ]; then
    local unpack="$STAGING/modules-unpack"
    rm -rf "$unpack"; mkdir -p "$unpack"
    log "unpacking modules $(basename "$modules")"
    tar -xf "$modules" -C "$unpack" --no-same-owner || fail "cannot unpack modules tarball $(basename "$modules")"
    # Accept lib/modules/<rel>/, usr/lib/modules/<rel>/, modules/<rel>/ or <rel>/ at the top.
    top=""
    for cand in "$unpack/lib/modules/$rel" "$unpack/usr/lib/modules/$rel" "$unpack/modules/$rel" "$unpack/$rel"; do
      if [ -d "$cand" ]; then top=$cand; break; fi
    done
    [ -n "$top" ] || fail "modules tarball has no lib/modules/$rel/ directory (kernel release $rel)"
    rm -rf "/lib/modules/$rel"
    mv "$top" "/lib/modules/$rel"
    rm -rf "$unpack"
    log "depmod $rel"
    depmod -a "$rel" || fail "depmod -a $rel failed"
  fi
  rm -f "/boot/initrd.img-$rel"
  if [ -d "/lib/modules/$rel" ]; then
    # initramfs-tools reads /boot/config-<release> to pick a compressor the kernel can
    # unpack.  A RAW kernel comes without one: use the build tree's if shipped, else
    # declare only gzip (every kernel that boots from an initramfs supports it).
    if [ ! -e "/boot/config-$rel" ]; then
      if [ -f "/lib/modules/$rel/build/.config" ]; then
        cp "/lib/modules/$rel/build/.config" "/boot/config-$rel"
      else
        printf '# Written by fastpath: the kernel config of RAW kernel %s is unknown.\n%s\n' \
          "$rel" "CONFIG_RD_GZIP=y" >"/boot/config-$rel"
      fi
    fi
    log "building initramfs for $rel"
    if command -v update-initramfs >/dev/null; then
      update-initramfs -c -k "$rel" >&2 || fail "update-initramfs -c -k $rel failed"
    elif command -v dracut >/dev/null; then
      dracut --force "/boot/initrd.img-$rel" "$rel" >&2 || fail "dracut for $rel failed"
    else
      fail "neither update-initramfs nor dracut is installed"
    fi
  fi
  log "update-grub"
  update-grub >&2 || fail "update-grub failed"
  echo "{\"release\": $(json_str "$rel"), \"pkgtype\": \"RAW\", \"modules\": $( [ -d "/lib/modules/$rel" ] && echo true || echo false), \"initrd\": $( [ -f "/boot/initrd.img-$rel" ] && echo true || echo false)}"
}

restore() {
  local running removed=() rel kind pkg
  running=$(uname -r)
  [ -d "$STATE" ] || { echo '{"grub_stale": false, "removed": []}'; return; }
  local debs=() grub_stale=false
  for dir in "$STATE"/*/; do
    [ -d "$dir" ] || continue
    rel=$(basename "$dir")
    kind=$(cat "$dir/pkgtype" 2>/dev/null || echo none)
    if [ "$rel" = "$running" ] && { [ "$kind" = DEB ] || [ "$kind" = RAW ]; }; then
      fail "the SUT runs test kernel $rel: boot the default kernel before removing it"
    fi
  done
  # RAW kernels first (plain files), then DEB purges: the last purge's update-grub hook
  # then writes the final grub.cfg, so update-grub runs once.
  for dir in "$STATE"/*/; do
    [ -d "$dir" ] || continue
    rel=$(basename "$dir")
    kind=$(cat "$dir/pkgtype" 2>/dev/null || echo none)
    case "$kind" in
      RAW)
        rm -f "/boot/vmlinuz-$rel" "/boot/initrd.img-$rel" "/boot/System.map-$rel" \
          "/boot/config-$rel"
        rm -rf "/lib/modules/$rel"
        removed+=("$rel"); grub_stale=true
        ;;
      DEB)
        pkg=$(cat "$dir/package")
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
          debs+=("$pkg")
        fi
        removed+=("$rel")
        ;;
      *) grub_stale=true ;;
    esac
    rm -rf "$dir"
  done
  if [ ${#debs[@]} -gt 0 ]; then
    log "dpkg --purge ${debs[*]}"
    dpkg --purge "${debs[@]}" >&2 || fail "dpkg --purge ${debs[*]} failed"
    grub_stale=false
  fi
  rm -rf "$STAGING"
  printf '{"grub_stale": %s, ' "$grub_stale"
  printf '"removed": ['
  local sep=""
  for rel in "${removed[@]}"; do printf '%s%s' "$sep" "$(json_str "$rel")"; sep=", "; done
  printf ']}\n'
}

action=${1:-}
case "$action" in
  install-deb) [ $# -eq 3 ] || fail "usage: $0 install-deb RELEASE DEBFILE"; install_deb "$2" "$3" ;;
  install-raw) [ $# -ge 3 ] || fail "usage: $0 install-raw RELEASE IMAGE [MODULES]"; install_raw "$2" "$3" "${4:-}" ;;
  restore) restore ;;
  *) fail "usage: $0 install-deb|install-raw|restore ..." ;;
esac
