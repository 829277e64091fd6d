# Helpers for guest test scripts: `. /lib/ixy-vm.sh` (scripts/vm/run.sh
# installs it). busybox ash; every function returns non-zero and says why
# on failure.
#
#   vm_bdf N              PCI address of NIC N (0..3)
#   vm_peer N             the NIC cabled to NIC N (0<->2, 1<->3)
#   vm_netdev BDF         kernel netdev name of a NIC bound to virtio-pci
#   vm_bind_vfio BDF      unbind from its driver, bind to vfio-pci; prints
#                         the IOMMU group; /dev/vfio/<group> is uid 1000's
#   vm_bind_kernel BDF    back to virtio-pci (kernel netdev again)
#   vm_run_as_user CMD... CMD as uid/gid 1000, memlock unlimited
#
# NIC N is virtio-net-pci at 0000:00:0(4+N).0 with MAC 52:54:00:00:00:0N;
# the host wires NIC 0 <-> NIC 2 and NIC 1 <-> NIC 3 (point-to-point).
. /etc/ixy-vm.conf

# shellcheck disable=SC2034 # for test scripts
VM_BDFS="0000:00:04.0 0000:00:05.0 0000:00:06.0 0000:00:07.0"
VM_USER_UID=1000
VM_USER_GID=1000

vm_bdf() {
    case $1 in
    0 | 1 | 2 | 3) echo "0000:00:0$(($1 + 4)).0" ;;
    *) echo "vm_bdf: no NIC $1 (0..3)" >&2; return 1 ;;
    esac
}

# The NIC at the other end of NIC N's cable.
vm_peer() {
    case $1 in
    0 | 1 | 2 | 3) echo $((($1 + 2) % 4)) ;;
    *) echo "vm_peer: no NIC $1 (0..3)" >&2; return 1 ;;
    esac
}

vm_netdev() {
    for n in /sys/bus/pci/devices/"$1"/virtio*/net/*; do
        [ -e "$n" ] && { basename "$n"; return 0; }
    done
    echo "vm_netdev: $1 has no kernel netdev (not bound to virtio-pci?)" >&2
    return 1
}

# Current driver of a device, empty if none.
vm_driver() {
    [ -e "/sys/bus/pci/devices/$1/driver" ] || return 0
    basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
}

vm_bind_vfio() {
    dev=/sys/bus/pci/devices/$1
    [ -d "$dev" ] || { echo "vm_bind_vfio: no PCI device $1" >&2; return 1; }
    [ -e "$dev/iommu_group" ] || {
        echo "vm_bind_vfio: $1 has no IOMMU group (run.sh --iommu; this kernel has no VFIO no-IOMMU mode)" >&2
        return 1
    }
    # driver_override rather than new_id: it binds this one device, not
    # every virtio-net of that vendor:device id.
    [ -n "$(vm_driver "$1")" ] && echo "$1" >"$dev/driver/unbind"
    echo vfio-pci >"$dev/driver_override"
    echo "$1" >/sys/bus/pci/drivers/vfio-pci/bind || {
        echo "vm_bind_vfio: vfio-pci refused $1 (dmesg says why)" >&2
        return 1
    }
    group=$(basename "$(readlink "$dev/iommu_group")")
    # devtmpfs creates the node asynchronously.
    i=0
    while [ ! -e "/dev/vfio/$group" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "/dev/vfio/$group" ] || { echo "vm_bind_vfio: no /dev/vfio/$group" >&2; return 1; }
    chown "$VM_USER_UID:$VM_USER_GID" "/dev/vfio/$group"
    echo "$group"
}

vm_bind_kernel() {
    dev=/sys/bus/pci/devices/$1
    [ -d "$dev" ] || { echo "vm_bind_kernel: no PCI device $1" >&2; return 1; }
    [ -n "$(vm_driver "$1")" ] && echo "$1" >"$dev/driver/unbind"
    # An empty write clears driver_override; drivers_probe then matches by id.
    echo >"$dev/driver_override"
    echo "$1" >/sys/bus/pci/drivers_probe
    [ "$(vm_driver "$1")" = virtio-pci ] || { echo "vm_bind_kernel: $1 did not bind to virtio-pci" >&2; return 1; }
}

vm_run_as_user() {
    /bin/ixy-vm-runas "$VM_USER_UID" "$VM_USER_GID" "$@"
}
