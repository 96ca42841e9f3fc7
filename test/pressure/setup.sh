#!/bin/sh
# Installs what `npm run test:pressure` needs, idempotently (root, Debian/Ubuntu):
#   qemu-system-x86, busybox-static: the VM and its userland (apt-get, no recommends)
#   runc: the OCI runtime the container tests run inside the VM (vm-container.test.ts)
#   mmdebstrap, cpio: the Debian 13 "trixie" root file system the systemd VM boots (vm-systemd.test.ts):
#     systemd 257 (DelegateSubgroup= and MemoryPressureWatch= are v254), built from Debian's
#     packages into .cache/pressure-vm/trixie-rootfs.tar (~140 MB, ~2 minutes, once)
#   the Debian 6.1 cloud kernel: `apt-get download`ed and unpacked under
#   .cache/pressure-vm/linux (never installed into this host)
# Nothing is fetched when everything is already there.
set -eu

cd "$(dirname "$0")/../.."
CACHE=.cache/pressure-vm
PACKAGES="qemu-system-x86 busybox-static runc mmdebstrap cpio"
# Override to pin another kernel package (it must have CONFIG_MEMCG, the 8250 console, gzip initrd).
KERNEL_PACKAGE=${PROCGUARD_VM_KERNEL_PACKAGE:-}

apt_updated=
apt_update_once() {
  if [ -z "$apt_updated" ]; then apt-get update -q; apt_updated=1; fi
}

missing=
for package in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $package"
done
if [ -n "$missing" ]; then
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

if ! ls "$CACHE"/linux/boot/vmlinuz-* >/dev/null 2>&1; then
  if [ -z "$KERNEL_PACKAGE" ]; then
    KERNEL_PACKAGE=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | cut -d' ' -f1 | sort -V | tail -n 1)
    if [ -z "$KERNEL_PACKAGE" ]; then
      apt_update_once
      KERNEL_PACKAGE=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | cut -d' ' -f1 | sort -V | tail -n 1)
    fi
  fi
  [ -n "$KERNEL_PACKAGE" ] || { echo "setup.sh: no linux-image-6.1.0-*-cloud-amd64 package in the apt sources" >&2; exit 1; }
  mkdir -p "$CACHE/download"
  # _apt cannot write into the checkout; download as root into a temporary directory.
  (cd "$CACHE/download" && apt-get download -q "$KERNEL_PACKAGE" 2>&1 | grep -v 'Download is performed unsandboxed' || true)
  deb=$(ls "$CACHE"/download/"$KERNEL_PACKAGE"_*.deb | tail -n 1)
  rm -rf "$CACHE/linux.partial"
  dpkg-deb -x "$deb" "$CACHE/linux.partial"
  config=$(ls "$CACHE"/linux.partial/boot/config-*)
  for option in CONFIG_MEMCG=y CONFIG_SERIAL_8250_CONSOLE=y CONFIG_BLK_DEV_INITRD=y CONFIG_RD_GZIP=y CONFIG_DEVTMPFS=y; do
    grep -qx "$option" "$config" || { echo "setup.sh: $KERNEL_PACKAGE lacks $option" >&2; exit 1; }
  done
  # Only the kernel image and its config are used; the modules are not.
  rm -rf "$CACHE/linux.partial/lib" "$CACHE/linux.partial/usr"
  rm -rf "$CACHE/linux"
  mv "$CACHE/linux.partial" "$CACHE/linux"
fi

if [ ! -f "$CACHE/trixie-rootfs.tar" ]; then
  # minbase + systemd as init; no documentation. The keys of trixie are in bookworm's debian-archive-keyring.
  mmdebstrap --quiet --format=tar --variant=minbase --include=systemd,systemd-sysv \
    --dpkgopt='path-exclude=/usr/share/{doc,man,locale,info}/*' \
    trixie "$CACHE/trixie-rootfs.tar.partial" "deb http://deb.debian.org/debian trixie main"
  mv "$CACHE/trixie-rootfs.tar.partial" "$CACHE/trixie-rootfs.tar"
fi

echo "pressure test setup: $(ls "$CACHE"/linux/boot/vmlinuz-*), $(command -v qemu-system-x86_64), $(command -v busybox), $(command -v runc), $CACHE/trixie-rootfs.tar"
