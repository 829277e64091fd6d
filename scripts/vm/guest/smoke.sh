#!/bin/sh
# The rig's own test, run in the guest by scripts/vm/smoke.sh (once with
# --iommu, once without), with the kernel's virtio-net driver: the four
# NICs at their documented addresses, 4 queue pairs and RSS offered, the
# two cables carrying frames (and only there); with the vIOMMU, a NIC
# goes to vfio-pci, uid 1000 drives it through VFIO (ixy-vm-vfio-check),
# and it comes back to the kernel.
. /lib/ixy-vm.sh

passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
bad() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
    what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

rx() { cat "/sys/class/net/$1/statistics/rx_packets"; }

# Feature bit B of a virtio device as its driver negotiated it (sysfs
# shows bit 0 first).
feature() { cut -c "$(($2 + 1))" "/sys/bus/virtio/devices/$1/features"; }

# ---- the NICs ----
for n in 0 1 2 3; do
    bdf=$(vm_bdf $n)
    dev=/sys/bus/pci/devices/$bdf
    if [ ! -d "$dev" ]; then bad "NIC $n at $bdf: no such device"; continue; fi
    id="$(cat "$dev/vendor"):$(cat "$dev/device")"
    # 0x1041: a modern-only (virtio 1.0) virtio-net function.
    check "NIC $n at $bdf is virtio-net 1af4:1041 ($id)" [ "$id" = "0x1af4:0x1041" ]
    check "NIC $n bound to virtio-pci" [ "$(vm_driver "$bdf")" = virtio-pci ]
    vdev=$(basename "$(echo "$dev"/virtio*)")
    net=$(vm_netdev "$bdf") || { bad "NIC $n has no netdev"; continue; }
    mac=$(cat "/sys/class/net/$net/address")
    check "NIC $n ($net) has MAC 52:54:00:00:00:0$n ($mac)" [ "$mac" = "52:54:00:00:00:0$n" ]
    check "NIC $n: VIRTIO_NET_F_MQ (bit 22) negotiated" [ "$(feature "$vdev" 22)" = 1 ]
    check "NIC $n: VIRTIO_NET_F_RSS (bit 60) negotiated" [ "$(feature "$vdev" 60)" = 1 ]
    if [ "$IXY_VM_IOMMU" = 1 ]; then
        check "NIC $n: VIRTIO_F_ACCESS_PLATFORM (bit 33) negotiated" [ "$(feature "$vdev" 33)" = 1 ]
    fi
    # The driver sets up every queue pair the device offers (one MSI-X
    # vector each way), whatever number it then enables.
    pairs=$(grep -cE " $vdev-input\.[0-9]+\$" /proc/interrupts)
    check "NIC $n offers 4 queue pairs ($pairs rx/tx vector pairs)" [ "$pairs" = 4 ]
done

# ---- what run.sh put in: hugepages, --bin with its libraries, --file ----
if [ "$IXY_VM_HUGEPAGES" -gt 0 ]; then
    total=$(awk '/^HugePages_Total/ {print $2}' /proc/meminfo)
    check "$IXY_VM_HUGEPAGES hugepages reserved ($total)" [ "$total" = "$IXY_VM_HUGEPAGES" ]
    free0=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
    vm_run_as_user fallocate -l 2097152 /dev/hugepages/smoke
    free1=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
    check "uid 1000 takes a hugepage in /dev/hugepages (free $free0 -> $free1)" [ "$free1" = $((free0 - 1)) ]
    rm -f /dev/hugepages/smoke
fi
if [ -e /bin/ixy-vm-hello ]; then
    if out=$(ixy-vm-hello 2>&1); then ok "a dynamically linked --bin runs: $out"; else bad "--bin ixy-vm-hello: $out"; fi
fi
if [ -e /srv/smoke-file ]; then
    check "--file copied: $(cat /srv/smoke-file)" grep -q smoke /srv/smoke-file
fi

# ---- VFIO (vIOMMU only) ----
if [ "$IXY_VM_IOMMU" = 1 ]; then
    bdf=$(vm_bdf 2)
    if group=$(vm_bind_vfio "$bdf"); then
        ok "NIC 2 bound to vfio-pci (IOMMU group $group)"
        check "/dev/vfio/$group exists and belongs to uid 1000" \
            [ "$(stat -c %u "/dev/vfio/$group" 2>/dev/null)" = 1000 ]
        check "uid 1000 opens the group, maps DMA, reads config space" \
            vm_run_as_user /bin/ixy-vm-vfio-check "$bdf"
    else
        bad "NIC 2 bound to vfio-pci"
    fi
    check "NIC 2 back on virtio-pci ($(vm_netdev "$bdf" 2>&1))" vm_bind_kernel "$bdf"
else
    check "no IOMMU groups without --iommu" [ ! -e "/sys/bus/pci/devices/$(vm_bdf 0)/iommu_group" ]
fi

# ---- the cables: frames from NIC a reach NIC b and nothing else ----
net() { vm_netdev "$(vm_bdf "$1")"; }
for n in 0 1 2 3; do ip link set "$(net $n)" up; done
# Nobody else sends: no IPv6 in the guest or on the host's TAPs (the
# driver tests rely on counting frames).
sleep 1
counts=$(for n in 0 1 2 3; do rx "$(net $n)"; done | tr '\n' ' ')
check "no stray frames on the cables (rx_packets: $counts)" [ "$counts" = "0 0 0 0 " ]

# cable A B C D: NIC A's frames reach NIC B (and B's answer A), never C
# or D.
cable() {
    a=$(net "$1") b=$(net "$2") c=$(net "$3") d=$(net "$4") na=$1 nb=$2
    ip addr add "10.0.$na.2/24" dev "$b"
    before="$(rx "$a") $(rx "$b") $(rx "$c") $(rx "$d")"
    # Duplicate-address probes (sender IP 0.0.0.0): NIC B answers one
    # for its own address with no route involved, over the same cable.
    out=$(arping -D -f -c 5 -w 5 -I "$a" "10.0.$na.2" 2>&1)
    after="$(rx "$a") $(rx "$b") $(rx "$c") $(rx "$d")"
    ip addr del "10.0.$na.2/24" dev "$b"
    # shellcheck disable=SC2086 # four numbers, then four more
    set -- $before $after
    echo "   rx_packets before->after: $a $1->$5, $b $2->$6, $c $3->$7, $d $4->$8"
    case $out in
    *"Received "[1-9]*) ok "NIC $na's probe answered by NIC $nb" ;;
    *) bad "NIC $na's probe answered by NIC $nb: $out" ;;
    esac
    [ "$6" -gt "$2" ] && [ "$5" -gt "$1" ] && [ "$7" = "$3" ] && [ "$8" = "$4" ]
}
check "cable NIC 0 -> NIC 2 (and back), NICs 1 and 3 untouched" cable 0 2 1 3
check "cable NIC 1 -> NIC 3 (and back), NICs 0 and 2 untouched" cable 1 3 0 2

echo "smoke (iommu=$IXY_VM_IOMMU): $passed passed, $failed failed"
[ "$failed" = 0 ]
