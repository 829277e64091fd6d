#!/usr/bin/env bash
# Fetch what the VM rig (scripts/vm/run.sh) needs into a cache, once:
#
#   scripts/vm/fetch.sh        # prints one line: where the cache is
#
# - QEMU 7.2 (Debian bookworm's qemu-system-x86) with its firmware
#   (qemu-system-data, seabios, ipxe-qemu) and the shared libraries the
#   host lacks. The .debs are downloaded and unpacked, never installed:
#   installing qemu-system-x86 would remove the host's qemu-utils 10.0.
# - The guest kernel: the package Debian's linux-image-amd64 points at,
#   of which only vmlinuz and the modules the rig loads are kept (the
#   whole tree is ~400 MB).
# - busybox-static: the guest's whole userland, and the host's cpio.
#
# Cache: ${IXY_VM_CACHE:-$HOME/.cache/ixy-mp/vm}. A complete cache (its
# stamp file names this script's LAYOUT) is used as it is: no network.
# Exit 0: ready. Exit 2: could not fetch; one line says why (under
# CI=true it is marked FATAL: CI must have the rig).
set -euo pipefail

CACHE=${IXY_VM_CACHE:-$HOME/.cache/ixy-mp/vm}
# Bump when the package lists or the cache layout change: a cache with
# another stamp is fetched anew.
LAYOUT=1

# qemu-system-common: the TCG accelerator is a loadable module in Debian's
# build (QEMU_MODULE_DIR points run.sh's QEMU at it).
QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu)
# Libraries qemu-system-x86_64 links that a Debian 12 host without QEMU
# lacks (found with ldd). They go to a private lib dir used through
# LD_LIBRARY_PATH; the check below names any that is still missing.
QEMU_LIBS=(libcapstone4 libfdt1 libpmem1 libndctl6 libdaxctl1 librdmacm1
    libibverbs1 libnl-route-3-200 libslirp0 libvdeplug2)
# Guest modules (with their dependencies, from modules.dep): virtio-net
# through virtio-pci for the kernel's own driver, VFIO for ours.
MODULES=(virtio_pci virtio_net vfio_pci vfio_iommu_type1)

fail() {
    if [ "${CI:-}" = true ]; then
        echo "vm-fetch: FATAL: $*" >&2
    else
        echo "vm-fetch: $* (the VM rig needs root, apt-get and access to Debian's package archive once; then it works offline)" >&2
    fi
    exit 2
}

stamp="$CACHE/stamp"
if [ -f "$stamp" ] && grep -qx "layout=$LAYOUT" "$stamp"; then
    echo "vm-fetch: ready in $CACHE ($(grep -E '^(qemu|kernel)=' "$stamp" | tr '\n' ' ' | sed 's/ $//'))"
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb depmod ldd flock xz; do
    command -v "$tool" >/dev/null || fail "missing host tool $tool"
done
mkdir -p "$CACHE" || fail "cannot create $CACHE"

# One fetch at a time (parallel `make test` jobs): the others wait, then
# find the stamp.
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$stamp" ] && grep -qx "layout=$LAYOUT" "$stamp"; then
    exec "$0"
fi

work=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/log"
debs="$work/debs"
new="$work/new"
mkdir -p "$debs" "$new"

# Package lists: apt-get download needs them. A fresh machine may have
# none (apt-cache then knows no package); old ones may name .debs the
# archive has since replaced (a kernel security update): one
# `apt-get update` and a second try then.
updated=0
update_lists() {
    updated=1
    apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed: $(grep -E '^(E|W):' "$log" | sed -n 1p)"
}
apt-cache show qemu-system-x86 >/dev/null 2>&1 || update_lists
download() {
    local kpkg
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
    [ -n "$kpkg" ] || fail "apt-cache knows no linux-image-amd64 (not a Debian 12 host?)"
    rm -f "$debs"/*.deb
    # APT::Sandbox::User=root: the temp dir is not readable by _apt.
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root \
        "${QEMU_PKGS[@]}" "${QEMU_LIBS[@]}" busybox-static "$kpkg") >"$log" 2>&1
}
if ! download; then
    [ $updated = 1 ] || { update_lists && download; } ||
        fail "apt-get download failed: $(grep -E '^E:' "$log" | sed -n 1p)"
fi

# QEMU, firmware and libraries: one tree, as the packages lay it out.
for deb in "$debs"/*.deb; do
    case $(basename "$deb") in
    busybox-static_* | linux-image-*) ;;
    *) dpkg-deb -x "$deb" "$new/qemu" ;;
    esac
done
qemu="$new/qemu/usr/bin/qemu-system-x86_64"
libs="$new/qemu/usr/lib/x86_64-linux-gnu:$new/qemu/lib/x86_64-linux-gnu"
missing=$(LD_LIBRARY_PATH=$libs ldd "$qemu" | awk '/not found/ {print $1}' | tr '\n' ' ')
[ -z "$missing" ] || fail "qemu-system-x86_64 still lacks: $missing(add their packages to QEMU_LIBS)"
qver=$(LD_LIBRARY_PATH=$libs "$qemu" --version | awk 'NR == 1 {print $4}')
[ -n "$qver" ] || fail "the unpacked qemu-system-x86_64 does not run"
# Starts with TCG (loads the module) and quits from its monitor.
echo quit | LD_LIBRARY_PATH=$libs QEMU_MODULE_DIR="$new/qemu/usr/lib/x86_64-linux-gnu/qemu" \
    "$qemu" -machine none -accel tcg -nodefaults -display none -monitor stdio >"$log" 2>&1 ||
    fail "the unpacked QEMU cannot start TCG: $(grep -v '^(qemu)' "$log" | grep . | tail -n1)"

# busybox: a static binary, runs in the guest and on the host.
dpkg-deb -x "$debs"/busybox-static_*.deb "$work/bb"
install -m 0755 "$work/bb/bin/busybox" "$new/busybox"

# Kernel: vmlinuz, and the closure of MODULES under modules.dep.
dpkg-deb -x "$debs"/linux-image-*.deb "$work/k"
kver=$(ls "$work/k/lib/modules")
kdeb=$(dpkg-deb -f "$debs"/linux-image-*.deb Version)
depmod -b "$work/k" "$kver"
mkdir -p "$new/kernel/lib/modules/$kver"
install -m 0644 "$work/k/boot/vmlinuz-$kver" "$new/kernel/vmlinuz"
install -m 0644 "$work/k/boot/config-$kver" "$new/kernel/config"
# The kernel unpacked too (an ELF with a PVH entry note): QEMU then boots
# it straight into 64-bit mode, skipping the real-mode setup and the xz
# decompression, which cost ~2 s per boot under TCG. run.sh falls back
# to vmlinuz where this fails.
# (No pipe into a reader that stops early, like grep -q or xz
# --single-stream: under pipefail the writer's SIGPIPE fails the pipe.)
xzat=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$new/kernel/vmlinuz" | cut -d: -f1 | sed -n 1p || true)
if [ -n "$xzat" ] &&
    tail -c +$((xzat + 1)) "$new/kernel/vmlinuz" >"$work/vmlinux.xz" &&
    xz -dcq --single-stream "$work/vmlinux.xz" >"$new/kernel/vmlinux" 2>/dev/null &&
    readelf -n "$new/kernel/vmlinux" 2>/dev/null | grep 'Xen.*(0x00000012)' >/dev/null; then
    :
else
    rm -f "$new/kernel/vmlinux"
fi
kmods="$work/k/lib/modules/$kver"
want=" ${MODULES[*]} "
paths=$(awk -v want="$want" '
    { sub(/:$/, "", $1); name = $1; sub(/.*\//, "", name); sub(/\.ko.*/, "", name); gsub(/-/, "_", name) }
    index(want, " " name " ") { for (i = 1; i <= NF; i++) { sub(/:$/, "", $i); print $i } }
' "$kmods/modules.dep" | sort -u)
[ "$(echo "$paths" | grep -c .)" -ge "${#MODULES[@]}" ] || fail "modules ${MODULES[*]} not all in $kpkg"
for p in $paths; do
    install -D -m 0644 "$kmods/$p" "$new/kernel/lib/modules/$kver/$p"
done
cp "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$kmods"/modules.order \
    "$new/kernel/lib/modules/$kver/"
depmod -b "$new/kernel" "$kver"

printf 'layout=%s\nqemu=%s\nkernel=%s\nkernel_deb=%s\nmodules=%s\n' \
    "$LAYOUT" "$qver" "$kver" "$kdeb" "${MODULES[*]}" >"$new/stamp"

# Swap the new parts in; the stamp goes last, so a cache killed half-way
# is never taken for complete.
rm -f "$stamp"
for part in qemu kernel busybox; do
    rm -rf "${CACHE:?}/$part"
    mv "$new/$part" "$CACHE/$part"
done
mv "$new/stamp" "$stamp"
echo "vm-fetch: ready in $CACHE (qemu=$qver kernel=$kver)"
