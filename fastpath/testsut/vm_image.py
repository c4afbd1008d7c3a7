"""Build the Debian 12 disk image of the QEMU VM SUT, offline from the host's Debian mirror.

The image boots through its own GRUB (so installing a kernel, updating grub and rebooting
really changes the booted kernel), runs openssh-server, sudo, python3 and docker.io, and has
the ``fpuser`` account of guide §1.2.2 with a key generated for this image.  Docker images
from the controller's daemon can be preloaded into the guest's Docker.

Images are cached under ``fastpath.paths.cache_dir()/vm/<key>/`` where ``key`` hashes the
recipe (the build script below, the package list, the mirror and the preloaded image ids),
so a rerun with the same inputs skips the build.  Building needs root (loop devices, mount,
chroot).

Also here: :func:`fetch_test_kernels` downloads the ``amd64`` and ``cloud-amd64`` kernel
.debs of the host apt's current ``linux-image-amd64`` version and extracts a RAW kernel
(vmlinuz) and a modules tarball from the ``amd64`` one, for tests and the demo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fastpath import paths
from fastpath.errors import InfraError, UserError

SUITE = "bookworm"
IMAGE_SIZE = "8G"
GUEST_USER = "fpuser"

# Packages installed into the guest with apt-get inside the chroot.
PACKAGES = [
    "systemd-sysv", "udev", "kmod", "initramfs-tools", "zstd", "xz-utils", "openssh-server",
    "sudo", "python3", "docker.io", "iptables", "apparmor", "dmidecode", "pciutils", "iproute2",
    "procps", "lsb-release", "linux-image-amd64", "grub-pc",
]

# Units that only slow the guest's boot down.
MASKED_UNITS = [
    "systemd-networkd-wait-online.service", "apt-daily.timer", "apt-daily-upgrade.timer",
    "getty@tty1.service", "systemd-timesyncd.service", "e2scrub_reap.service",
    "e2scrub_all.timer", "fstrim.timer",
]

# The build recipe.  Inputs come as environment variables; everything it writes lives in
# $WORK.  Its text is part of the cache key, so editing it rebuilds the image.
BUILD_SCRIPT = r"""
set -euo pipefail
: "${WORK:?}" "${MIRROR:?}" "${SUITE:?}" "${PACKAGES:?}" "${MASKED:?}" "${GUEST_USER:?}"
RAW=$WORK/disk.raw
MNT=$WORK/mnt
LOOP=""
UUID_LINK=""
DOCKERD_PID=""
cleanup() {
  set +e
  if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null; fi
  for m in run sys proc dev/pts dev ""; do
    mountpoint -q "$MNT/$m" && umount -l "$MNT/$m"
  done
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  [ -n "${UUID_LINK:-}" ] && rm -f "/dev/disk/by-uuid/$UUID"
}
trap cleanup EXIT

step() { echo "[$(date +%H:%M:%S)] $*"; }

step "partitioning $RAW"
rm -f "$RAW"; truncate -s "$IMAGE_SIZE" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$RAW"
LOOP=$(losetup -fP --show "$RAW")
PART=${LOOP}p1
for _ in $(seq 1 50); do
  [ -b "$PART" ] && break
  partx -a "$LOOP" 2>/dev/null || true
  sleep 0.1
done
[ -b "$PART" ] || { echo "partition node $PART did not appear" >&2; exit 1; }
mkfs.ext4 -q -L fastpath-root "$PART"
UUID=$(blkid -s UUID -o value "$PART")
mkdir -p "$MNT"; mount "$PART" "$MNT"

step "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$MNT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

mount --bind /dev "$MNT/dev"
mount -t devpts devpts "$MNT/dev/pts" 2>/dev/null || mount --bind /dev/pts "$MNT/dev/pts"
mount -t proc proc "$MNT/proc"; mount -t sysfs sys "$MNT/sys"; mount -t tmpfs tmpfs "$MNT/run"
# update-grub writes root=UUID=... only when /dev/disk/by-uuid/<uuid> exists; the build host
# has no udev, so make the link (inside the chroot's bind-mounted /dev) ourselves.
mkdir -p /dev/disk/by-uuid
if [ ! -e "/dev/disk/by-uuid/$UUID" ]; then ln -s "$PART" "/dev/disk/by-uuid/$UUID"; UUID_LINK=1; fi

step "configuring the guest"
printf '%s\n' "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
  >"$MNT/etc/apt/sources.list"
printf '#!/bin/sh\nexit 101\n' >"$MNT/usr/sbin/policy-rc.d"; chmod 755 "$MNT/usr/sbin/policy-rc.d"
echo fastpath-vm >"$MNT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 fastpath-vm\n' >"$MNT/etc/hosts"
echo "UUID=$UUID / ext4 errors=remount-ro 0 1" >"$MNT/etc/fstab"
mkdir -p "$MNT/etc/initramfs-tools/conf.d"
echo MODULES=list >"$MNT/etc/initramfs-tools/conf.d/fastpath-modules"
printf '%s\n' virtio_pci virtio_blk virtio_scsi virtio_net sd_mod ahci ext4 zstd \
  >>"$MNT/etc/initramfs-tools/modules"
mkdir -p "$MNT/etc/default"
cat >"$MNT/etc/default/grub" <<'EOF'
GRUB_DEFAULT=saved
GRUB_TIMEOUT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_DISTRIBUTOR="Debian"
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 net.ifnames=0"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
chroot "$MNT" debconf-set-selections <<'EOF'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
EOF

step "apt-get install ($(echo $PACKAGES | wc -w) packages)"
chroot "$MNT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 apt-get -q update \
  >"$WORK/apt.log" 2>&1
chroot "$MNT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
  apt-get -q -y --no-install-recommends install $PACKAGES >>"$WORK/apt.log" 2>&1 \
  || { tail -n 40 "$WORK/apt.log" >&2; exit 1; }
chroot "$MNT" apt-get clean

step "grub-install + update-grub"
grub_fail() { cat "$WORK/grub.log" >&2; exit 1; }
chroot "$MNT" grub-install --target=i386-pc "$LOOP" >"$WORK/grub.log" 2>&1 || grub_fail
chroot "$MNT" update-grub >>"$WORK/grub.log" 2>&1 || grub_fail
grep -q "root=UUID=$UUID" "$MNT/boot/grub/grub.cfg" || { echo "no root=UUID=$UUID" >&2; exit 1; }

step "network, sshd, users"
mkdir -p "$MNT/etc/systemd/network"
printf '[Match]\nName=eth* en*\n\n[Network]\nDHCP=ipv4\n' \
  >"$MNT/etc/systemd/network/10-fastpath.network"
chroot "$MNT" systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1
for u in $MASKED; do chroot "$MNT" systemctl mask "$u" >/dev/null 2>&1; done
# Key-only logins without PAM: no logind session, user manager or motd scripts per login,
# which under TCG cut a new SSH login from ~3 s to ~1 s.
printf 'UseDNS no\nGSSAPIAuthentication no\nPasswordAuthentication no\nUsePAM no\n' \
  >"$MNT/etc/ssh/sshd_config.d/fastpath.conf"
chroot "$MNT" groupadd -f docker
chroot "$MNT" groupadd "$GUEST_USER"
chroot "$MNT" useradd -g "$GUEST_USER" -m -s /bin/bash "$GUEST_USER"
chroot "$MNT" usermod -a -G docker,sudo "$GUEST_USER"
chroot "$MNT" usermod -p '*' "$GUEST_USER"
echo "$GUEST_USER ALL=(ALL) NOPASSWD: ALL" >"$MNT/etc/sudoers.d/$GUEST_USER"
chmod 440 "$MNT/etc/sudoers.d/$GUEST_USER"
install -d -m 700 "$MNT/home/$GUEST_USER/.ssh"
install -m 600 "$WORK/id_ed25519.pub" "$MNT/home/$GUEST_USER/.ssh/authorized_keys"
chroot "$MNT" chown -R "$GUEST_USER:$GUEST_USER" "/home/$GUEST_USER/.ssh"
chroot "$MNT" dpkg-query -W -f='${Version}' docker.io >"$WORK/guest-docker-version"
ls "$MNT/boot" | sed -n 's/^vmlinuz-//p' >"$WORK/guest-kernel"

if [ -n "${PRELOAD:-}" ]; then
  step "preloading Docker images: $PRELOAD"
  SOCK=$WORK/preload.sock
  dockerd --host "unix://$SOCK" --data-root "$MNT/var/lib/docker" --exec-root "$WORK/dexec" \
    --pidfile "$WORK/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
    >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 120); do
    DOCKER_HOST="unix://$SOCK" docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  # shellcheck disable=SC2086
  docker save $PRELOAD | DOCKER_HOST="unix://$SOCK" docker load
  kill "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null || true; DOCKERD_PID=""
fi
rm -f "$MNT/usr/sbin/policy-rc.d"
sync
step "unmounting"
for m in run sys proc dev/pts dev; do umount "$MNT/$m"; done
umount "$MNT"
[ -n "${UUID_LINK:-}" ] && rm -f "/dev/disk/by-uuid/$UUID"; UUID_LINK=""
losetup -d "$LOOP"; LOOP=""
step "converting to qcow2"
qemu-img convert -O qcow2 "$RAW" "$WORK/base.qcow2.tmp"
rm -f "$RAW"
step "done"
"""


@dataclass(frozen=True)
class VmImage:
    """A built, cached guest image and how to log into it."""

    key: str
    path: str  # base qcow2 (never written: runs use an overlay)
    keyfile: str  # private key of GUEST_USER
    user: str
    guest_kernel: str  # the image's own (known-good, default) kernel release
    guest_docker: str  # docker.io version inside the guest
    preloaded: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def debian_mirror() -> str:
    """The Debian archive URI the host's apt uses for the main suite (never hard-coded)."""
    candidates: list[tuple[str, list[str]]] = []
    apt = Path("/etc/apt")
    for f in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if not f.is_file():
            continue
        for line in f.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 3 and parts[0] == "deb":
                rest = [p for p in parts[1:] if not p.startswith("[")]
                rest = [p for p in rest if not p.endswith("]")]
                if len(rest) >= 2:
                    candidates.append((rest[0], [rest[1]]))
    for f in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    candidates.append((uri, fields.get("suites", "").split()))
    for uri, suites in candidates:
        if SUITE in suites and "security" not in uri:
            return uri.rstrip("/")
    raise InfraError(
        f"no Debian '{SUITE}' mirror found in /etc/apt/sources.list*",
        hint="the VM image is built from the mirror the host's apt uses; add one",
    )


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def _controller_docker_env() -> dict[str, str]:
    """Environment for the docker client to reach the controller daemon.

    Uses ``scripts/controller-docker.sh`` (starts a private dockerd when none is usable).
    """
    env = dict(os.environ)
    script = paths.data_root() / "scripts" / "controller-docker.sh"
    if script.is_file():
        subprocess.run([str(script), "start"], check=True)
        out = _run([str(script), "env"]).stdout
        m = re.search(r"DOCKER_HOST=(\S+)", out)
        if m:
            env["DOCKER_HOST"] = m.group(1)
    return env


def _image_ids(tags: list[str]) -> list[str]:
    if not tags:
        return []
    env = _controller_docker_env()
    ids = []
    for tag in tags:
        r = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", tag], text=True, capture_output=True,
            env=env,
        )
        if r.returncode != 0:
            raise InfraError(
                f"Docker image {tag} is not in the controller's Docker daemon",
                hint="build it first (scripts/build-images.sh)",
            )
        ids.append(f"{tag}={r.stdout.strip()}")
    return ids


def recipe_key(mirror: str, preload_ids: list[str]) -> str:
    h = hashlib.sha256()
    for part in (BUILD_SCRIPT, " ".join(PACKAGES), " ".join(MASKED_UNITS), SUITE, IMAGE_SIZE,
                 GUEST_USER, mirror, *sorted(preload_ids)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def vm_cache_dir() -> Path:
    return paths.cache_dir() / "vm"


def build_image(preload: list[str] | tuple[str, ...] = (), *, force: bool = False,
                log=print) -> VmImage:
    """Return the cached image for this recipe, building it first if needed (needs root)."""
    mirror = debian_mirror()
    preload_ids = _image_ids(list(preload))
    key = recipe_key(mirror, preload_ids)
    out = vm_cache_dir() / key
    manifest = out / "image.json"
    if manifest.is_file() and not force:
        return VmImage(**{k: tuple(v) if k == "preloaded" else v
                          for k, v in json.loads(manifest.read_text()).items()})
    if os.geteuid() != 0:
        raise InfraError("building the VM image needs root (loop devices, mount, chroot)")
    for tool in ("debootstrap", "sfdisk", "losetup", "mkfs.ext4", "qemu-img", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise InfraError(f"{tool} is missing", hint="run 'make setup' (scripts/setup-host.sh)")
    vm_cache_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"build-{key}-", dir=vm_cache_dir()))
    started = time.monotonic()
    try:
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"fastpath-vm-{key}",
              "-f", str(work / "id_ed25519")])
        env = dict(_controller_docker_env() if preload else os.environ)
        env.update(WORK=str(work), MIRROR=mirror, SUITE=SUITE, PACKAGES=" ".join(PACKAGES),
                   MASKED=" ".join(MASKED_UNITS), GUEST_USER=GUEST_USER, IMAGE_SIZE=IMAGE_SIZE,
                   PRELOAD=" ".join(preload))
        log(f"vm-image: building {key} from {mirror} (log: {work}/build.log)")
        with open(work / "build.log", "w") as logf:
            proc = subprocess.Popen(["bash", "-c", BUILD_SCRIPT], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                logf.write(line)
                logf.flush()
                if line.startswith("["):
                    log(f"vm-image: {line.rstrip()}")
            rc = proc.wait()
        if rc != 0:
            tail = (work / "build.log").read_text().splitlines()[-25:]
            raise InfraError("building the VM image failed:\n" + "\n".join(tail),
                             where=str(work / "build.log"))
        out.mkdir(parents=True, exist_ok=True)
        os.replace(work / "base.qcow2.tmp", out / "base.qcow2")
        os.chmod(out / "base.qcow2", 0o444)
        for name in ("id_ed25519", "id_ed25519.pub", "build.log"):
            shutil.copy2(work / name, out / name)
        os.chmod(out / "id_ed25519", 0o600)
        kernels = (work / "guest-kernel").read_text().split()
        image = VmImage(
            key=key, path=str(out / "base.qcow2"), keyfile=str(out / "id_ed25519"),
            user=GUEST_USER, guest_kernel=kernels[-1] if kernels else "",
            guest_docker=(work / "guest-docker-version").read_text().strip(),
            preloaded=tuple(preload),
        )
        manifest.write_text(image.to_json())
        log(f"vm-image: built {key} in {time.monotonic() - started:.0f}s")
        return image
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Test kernels from the host's apt


@dataclass(frozen=True)
class TestKernels:
    """Two real kernels of one version: a DEB (cloud-amd64) and a RAW one (amd64)."""

    version: str  # e.g. 6.1.0-57 (ABI part shared by both flavours)
    deb_amd64: str
    deb_cloud: str
    cloud_release: str  # uname -r of the cloud DEB
    raw_release: str  # uname -r of the RAW kernel
    raw_image: str  # vmlinuz extracted from the amd64 .deb
    raw_modules: str  # modules tarball (lib/modules/<release>/...) from the amd64 .deb


# Module directories a QEMU guest never loads: left out of the RAW modules tarball so the
# test copies and depmods less (the kernel still boots and runs Docker without them).
_UNNEEDED_MODULE_DIRS = (
    "kernel/drivers/gpu", "kernel/drivers/media", "kernel/drivers/net/wireless",
    "kernel/drivers/infiniband", "kernel/drivers/staging", "kernel/drivers/isdn",
    "kernel/drivers/iio", "kernel/drivers/hid", "kernel/drivers/input", "kernel/drivers/usb",
    "kernel/drivers/bluetooth", "kernel/net/bluetooth", "kernel/net/wireless",
    "kernel/net/mac80211", "kernel/sound", "kernel/drivers/net/ethernet",
    "kernel/drivers/mtd", "kernel/drivers/nfc", "kernel/drivers/w1",
)


def fetch_test_kernels(log=print) -> TestKernels:
    """Download (cached) the host apt's amd64 + cloud-amd64 .debs; extract a RAW kernel."""
    out = paths.cache_dir() / "kernels"
    out.mkdir(parents=True, exist_ok=True)
    deps = _run(["apt-cache", "depends", "linux-image-amd64"]).stdout
    m = re.search(r"Depends:\s*linux-image-(\d[\w.+~-]*?)-amd64\b", deps)
    if not m:
        raise InfraError("cannot find the kernel linux-image-amd64 depends on",
                         hint="run apt-get update on the controller")
    abi = m.group(1)
    names = {"amd64": f"linux-image-{abi}-amd64", "cloud": f"linux-image-{abi}-cloud-amd64"}
    debs: dict[str, Path] = {}
    for flavour, pkg in names.items():
        found = sorted(out.glob(f"{pkg}_*_amd64.deb"))
        if not found:
            log(f"test-kernels: apt-get download {pkg}")
            subprocess.run(["apt-get", "download", "-q", pkg], cwd=out, check=True,
                           capture_output=True)
            found = sorted(out.glob(f"{pkg}_*_amd64.deb"))
        if not found:
            raise InfraError(f"apt-get download {pkg} produced no .deb in {out}")
        debs[flavour] = found[-1]
    raw_release = f"{abi}-amd64"
    raw_dir = out / f"raw-{raw_release}"
    image = raw_dir / f"vmlinuz-{raw_release}"
    # the name changes with the trimming rules above, so a cached tarball matches them
    trim = hashlib.sha256(" ".join(_UNNEEDED_MODULE_DIRS).encode()).hexdigest()[:8]
    modules = raw_dir / f"modules-{raw_release}-{trim}.tar.gz"
    if not (image.is_file() and modules.is_file()):
        log(f"test-kernels: extracting RAW kernel + modules from {debs['amd64'].name}")
        tmp = Path(tempfile.mkdtemp(dir=out))
        try:
            _run(["dpkg-deb", "-x", str(debs["amd64"]), str(tmp)])
            raw_dir.mkdir(exist_ok=True)
            shutil.copy2(tmp / "boot" / f"vmlinuz-{raw_release}", str(image) + ".tmp")
            mroot = tmp / "lib" / "modules" / raw_release
            for d in _UNNEEDED_MODULE_DIRS:
                shutil.rmtree(mroot / d, ignore_errors=True)
            for f in mroot.glob("modules.*"):  # depmod output: the SUT regenerates it
                if f.name not in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
                    f.unlink()
            _run(["tar", "-C", str(tmp), "-czf", str(modules) + ".tmp",
                  f"lib/modules/{raw_release}"], env={**os.environ, "GZIP": "-1"})
            os.replace(str(image) + ".tmp", image)
            os.replace(str(modules) + ".tmp", modules)
            for stale in raw_dir.glob("modules-*.tar.gz"):
                if stale != modules:
                    stale.unlink()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return TestKernels(
        version=abi, deb_amd64=str(debs["amd64"]), deb_cloud=str(debs["cloud"]),
        cloud_release=f"{abi}-cloud-amd64", raw_release=raw_release, raw_image=str(image),
        raw_modules=str(modules),
    )


def truncated_kernel(src: str | Path, dest: str | Path,
                     keep_bytes: int = 2 * 1024 * 1024) -> Path:
    """Write the first ``keep_bytes`` of a kernel image: a kernel that cannot boot.

    GRUB loads it and jumps into it; the x86 guest then crashes and resets by itself (the
    VM harness turns that reset into a cold restart), so it comes back on its default.
    """
    data = Path(src).read_bytes()
    if len(data) <= keep_bytes:
        raise UserError(f"{src} is smaller than {keep_bytes} bytes; cannot truncate it")
    Path(dest).write_bytes(data[:keep_bytes])
    return Path(dest)


def hanging_kernel(src: str | Path, dest: str | Path,
                   keep_bytes: int = 2 * 1024 * 1024) -> Path:
    """A truncated x86 bzImage whose boot-sector flag (0xAA55 at 0x1FE) is cleared.

    fastpath still reads its release from the setup header, but GRUB refuses to load it
    ("invalid magic number") and retries its one-shot entry for ever: the SUT never comes
    back without a power-cycle.
    """
    data = bytearray(Path(src).read_bytes()[:keep_bytes])
    if data[0x202:0x206] != b"HdrS":
        raise UserError(f"{src} is not an x86 bzImage")
    data[0x1FE:0x200] = b"\0\0"
    Path(dest).write_bytes(bytes(data))
    return Path(dest)
