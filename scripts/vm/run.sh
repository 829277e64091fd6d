#!/usr/bin/env bash
# Boot a Linux guest under QEMU (TCG) with four virtio-net NICs, run a
# script in it, and exit with the script's exit code.
#
#   scripts/vm/run.sh [--iommu] [--smp N] [--mem MB] [--hugepages N]
#       [--bin PATH]... [--file SRC:DEST]... [--timeout S]
#       [--nic-features OPTS] --script FILE
#
# The guest (an initramfs: busybox, the kernel's virtio/VFIO modules, the
# --bin binaries in /bin with their shared libraries, the --file files,
# FILE as /test.sh) prints its console here, runs /test.sh and powers off.
# NIC N (0..3) is virtio-net-pci at 0000:00:0(4+N).0, MAC
# 52:54:00:00:00:0N, 4 queue pairs, RSS; NIC 0 <-> NIC 2 and NIC 1 <->
# NIC 3 are cabled through TAPs in a private network namespace. --iommu
# adds an Intel vIOMMU (intel_iommu=on, translating) so that the NICs can
# be bound to vfio-pci. --nic-features replaces the NICs' "mq=on,rss=on"
# (e.g. "mq=on,rss=off": a device without RSS, for the bad-input test).
# Helpers for the script: guest/ixy-vm.sh.
#
# Exit: the script's code; 124 the guest hung (killed after --timeout,
# default 120 s, 0 for none); 125 the rig failed (no QEMU, no cache, guest died
# without an exit code); 2 bad usage. Needs root (namespaces, TAPs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CACHE=${IXY_VM_CACHE:-$HOME/.cache/ixy-mp/vm}

usage() {
    sed -n '5,7p' "$0" | sed 's/^# *//' >&2
    exit 2
}
die() {
    echo "vm: $*" >&2
    exit 125
}

iommu=0 smp=2 mem=1024 hugepages=0 timeout=120 script= features="mq=on,rss=on"
bins=() files=()
while [ $# -gt 0 ]; do
    case $1 in
    --iommu) iommu=1 ;;
    --smp) smp=${2:?}; shift ;;
    --mem) mem=${2:?}; shift ;;
    --hugepages) hugepages=${2:?}; shift ;;
    --bin) bins+=("${2:?}"); shift ;;
    --file) files+=("${2:?}"); shift ;;
    --timeout) timeout=${2:?}; shift ;;
    --nic-features) features=${2:?}; shift ;;
    --script) script=${2:?}; shift ;;
    -h | --help) usage ;;
    *) echo "vm: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[ -n "$script" ] || usage
[ -f "$script" ] || { echo "vm: no script $script" >&2; exit 2; }
for n in "$smp" "$mem" "$hugepages" "$timeout"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "vm: not a number: $n" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || die "needs root (network namespace and TAP devices)"

# The cache: fetched on first use; fetch.sh says what it lacks.
"$here/fetch.sh" >&2 || die "no VM cache (scripts/vm/fetch.sh failed)"
kver=$(sed -n 's/^kernel=//p' "$CACHE/stamp")
bb="$CACHE/busybox"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ixy-vm.XXXXXX")
# Every exit path: the process group of `timeout` (it makes one: it,
# unshare, QEMU) goes, with it the network namespace and the TAPs in it,
# which nothing else holds; then the temp dir.
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local pg
    if [ -s "$tmp/timeout.pid" ] && pg=$(cat "$tmp/timeout.pid") && kill -0 -- "-$pg" 2>/dev/null; then
        kill -TERM -- "-$pg" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pg" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the initramfs ----
root="$tmp/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,etc,proc,sys,dev,tmp,root}
install -m 0755 "$bb" "$root/bin/busybox"
# /init makes the other applet links (busybox --install): ~400 ln here
# would cost seconds.
ln -s busybox "$root/bin/sh"
cp -a "$CACHE/kernel/lib/modules" "$root/lib/"

# A binary and the loader and libraries ldd resolves for it, at the same
# paths (the loader's path is baked into the binary).
add_bin() {
    local src=$1 dest=$2 lib
    install -D -m 0755 "$src" "$root$dest"
    for lib in $(ldd "$src" 2>/dev/null | grep -oE '/[^ ]+' || true); do
        [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
}

# Helpers from guest/*.c (ixy-vm-runas, ixy-vm-vfio-check): static, so
# they need nothing in the guest; built once per source version.
for src in "$here"/guest/*.c; do
    name=ixy-vm-$(basename "$src" .c)
    out="$CACHE/helpers/$name-$(sha256sum "$src" | cut -c1-12)"
    if [ ! -x "$out" ]; then
        mkdir -p "$CACHE/helpers"
        gcc -O2 -Wall -static -o "$out.tmp.$$" "$src" || die "cannot build $src (needs gcc and a static libc)"
        mv "$out.tmp.$$" "$out"
        # Older builds of the same helper.
        find "$CACHE/helpers" -name "$name-*" ! -path "$out" -delete
    fi
    install -m 0755 "$out" "$root/bin/$name"
done

for b in "${bins[@]+"${bins[@]}"}"; do
    [ -f "$b" ] || die "no binary $b"
    add_bin "$b" "/bin/$(basename "$b")"
done
for f in "${files[@]+"${files[@]}"}"; do
    src=${f%%:*} dest=${f#*:}
    if [ "$src" = "$f" ] || [ ! -e "$src" ] || [[ $dest != /* ]]; then
        die "--file wants SRC:/ABS/DEST with an existing SRC, got $f"
    fi
    mkdir -p "$root$(dirname "$dest")"
    cp -a "$src" "$root$dest"
done

install -m 0755 "$script" "$root/test.sh"
install -m 0755 "$here/guest/init" "$root/init"
install -m 0644 "$here/guest/ixy-vm.sh" "$root/lib/ixy-vm.sh"
cat >"$root/etc/ixy-vm.conf" <<EOF
IXY_VM_IOMMU=$iommu
IXY_VM_SMP=$smp
IXY_VM_HUGEPAGES=$hugepages
IXY_VM_KERNEL=$kver
IXY_VM_MODULES="$(sed -n 's/^modules=//p' "$CACHE/stamp")"
EOF
printf 'root:x:0:0:root:/root:/bin/sh\nixy:x:1000:1000:ixy:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nixy:x:1000:\n' >"$root/etc/group"

# newc cpio (busybox's: the host has no cpio), gzip -1: decompressing in
# the emulated guest costs more than the bytes.
(cd "$root" && find . | LC_ALL=C sort | "$bb" cpio -o -H newc 2>/dev/null) | gzip -1 >"$tmp/initrd.gz"

# ---- QEMU ----
q="$CACHE/qemu"
# The unpacked kernel boots ~2 s faster (PVH entry; fetch.sh).
kernel="$CACHE/kernel/vmlinux"
[ -f "$kernel" ] || kernel="$CACHE/kernel/vmlinuz"
# quiet: the console is the test's output. IXY_VM_APPEND adds kernel
# arguments (e.g. loglevel=7 to see the boot).
append="console=ttyS0 quiet panic=-1 mitigations=off ${IXY_VM_APPEND:-}"
# shellcheck disable=SC2054 # the commas are QEMU's
qargs=(
    -nodefaults -no-user-config -display none -monitor none -serial stdio
    -machine q35 -accel tcg,thread=multi -cpu max -smp "$smp" -m "$mem"
    -no-reboot
    -L "$q/usr/share/qemu" -L "$q/usr/share/seabios" -L "$q/usr/lib/ipxe/qemu"
    -kernel "$kernel" -initrd "$tmp/initrd.gz"
)
# q35 in both modes: the same addresses with or without the vIOMMU.
# The vIOMMU comes before the devices it translates for; intremap=on
# because vfio_iommu_type1 refuses a group without interrupt remapping.
nicopt=
if [ "$iommu" = 1 ]; then
    qargs+=(-device "intel-iommu,intremap=on")
    append+=" intel_iommu=on"
    # Without it QEMU refuses a virtio device behind a vIOMMU.
    nicopt=",iommu_platform=on"
fi
for i in 0 1 2 3; do
    qargs+=(
        -netdev "tap,id=net$i,ifname=tap$i,script=no,downscript=no,queues=4,vhost=off"
        # Modern-only (disable-legacy=on): RSS (feature bit 60) and
        # iommu_platform need virtio 1.0; romfile=: no iPXE, faster boot.
        # vectors=10: 4 rx + 4 tx + control queue + config.
        -device "virtio-net-pci,netdev=net$i,$features,vectors=10,mac=52:54:00:00:00:0$i,addr=0x$((4 + i)),disable-legacy=on,romfile=$nicopt"
    )
done
qargs+=(-append "$append")

# Inside the private network namespace: the TAPs, the two cables, then
# QEMU itself (exec). tc mirred rather than a bridge: no learning or STP
# delay, every frame crosses, nothing else does. u32 rather than
# matchall: some host kernels (this one) lack cls_matchall.
cat >"$tmp/netns.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
# No IPv6 on the TAPs: the host stack would send router solicitations and
# MLD reports into the guest's NICs, and tests count frames.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null || true
for i in 0 1 2 3; do
    ip tuntap add dev "tap$i" mode tap multi_queue
    ip link set "tap$i" up
done
cable() {
    tc qdisc add dev "$1" ingress
    tc filter add dev "$1" parent ffff: protocol all u32 match u32 0 0 \
        action mirred egress redirect dev "$2"
}
cable tap0 tap2; cable tap2 tap0
cable tap1 tap3; cable tap3 tap1
exec env LD_LIBRARY_PATH="$QLIBS" QEMU_MODULE_DIR="$QMODS" "$@"
EOF
chmod +x "$tmp/netns.sh"

start=$(date +%s.%N)
# In the background so that a signal to this script runs its traps at
# once; stdin from /dev/null so QEMU neither reads nor reconfigures the
# terminal. \r stripped (the serial console ends lines with \r\n) by an
# unbuffered sed: the console streams, a hung guest's last words included.
# QEMU's stderr stays stderr, less libbpf's complaint that QEMU 7.2's eBPF
# RSS program is too old for it (QEMU then computes RSS itself).
set +e
(
    QLIBS="$q/usr/lib/x86_64-linux-gnu:$q/lib/x86_64-linux-gnu" \
        QMODS="$q/usr/lib/x86_64-linux-gnu/qemu" \
        timeout --kill-after=5 "$timeout" unshare --net -- "$tmp/netns.sh" \
        "$q/usr/bin/qemu-system-x86_64" "${qargs[@]}" </dev/null \
        2> >(grep --line-buffered -v '^libbpf: ' >&2) &
    echo $! >"$tmp/timeout.pid"
    wait $!
    echo $? >"$tmp/qemu.rc"
) | sed -u 's/\r$//' | tee "$tmp/console" &
wait $!
set -e
secs=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
qrc=$(cat "$tmp/qemu.rc" 2>/dev/null || echo 125)

rc=$(grep -aoE 'IXY-VM-EXIT=[0-9]+' "$tmp/console" | tail -n1 | cut -d= -f2 || true)
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    if [ -n "$rc" ]; then
        echo "vm: guest did not power off within ${timeout} s after its script ended (code $rc)" >&2
    else
        echo "vm: TIMEOUT: guest killed after ${timeout} s (--timeout)" >&2
        exit 124
    fi
elif [ -z "$rc" ]; then
    die "guest ended without IXY-VM-EXIT (QEMU exit code $qrc): see the console above"
fi
echo "vm: guest script exited $rc after ${secs} s (iommu=$iommu, QEMU $(sed -n 's/^qemu=//p' "$CACHE/stamp"), kernel $kver)" >&2
exit "$rc"
