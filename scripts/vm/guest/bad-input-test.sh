#!/bin/sh
# Virtio devices that cannot do what is asked, inside the guest
# (supervisor/tests/virtio_vm.rs judges the output). As root, through
# sysfs.
#
# IXY_CASE=pairs: devices with 4 queue pairs and RSS; 8 workers are asked.
# IXY_CASE=norss: devices started with rss=off; 2 workers are asked (an
# error), then 1 (the single-queue fallback), which must forward.
#
# Output lines: "EXIT <code>" and "MESSAGE <last line of stderr>" per
# refused run; for the fallback "PKTGEN {json}" and "FALLBACK_EXIT <code>".
set -u
# The test has started (a boot that never gets here may be retried).
echo IXY-TEST-START
. /lib/ixy-vm.sh
D0=$(vm_bdf 0) D1=$(vm_bdf 1) D2=$(vm_bdf 2) D3=$(vm_bdf 3)
for n in 0 1 2 3; do
    b=$(vm_bdf $n)
    [ -e "/sys/bus/pci/devices/$b/driver" ] && echo "$b" >"/sys/bus/pci/devices/$b/driver/unbind"
done

refused() {
    ixy-supervisor --workers "$1" --app forward --device "$D0" --device "$D1" \
        --oversubscribe --idle sleep --duration 5 --run-dir /tmp/ixy-bad 2>/tmp/err.txt
    echo "EXIT $?"
    echo "MESSAGE $(tail -n 1 /tmp/err.txt)"
}

case ${IXY_CASE:-pairs} in
pairs) refused 8 ;;
norss)
    refused 2
    ixy-supervisor --workers 1 --app forward --device "$D0" --device "$D1" \
        --cores 2 --idle sleep --run-dir /tmp/ixy-one >/tmp/sup.log 2>&1 &
    sup=$!
    i=0
    while ! grep -q 'app forward' /tmp/sup.log 2>/dev/null && [ $i -lt 600 ]; do
        sleep 0.1; i=$((i + 1))
    done
    echo "PKTGEN $(ixy-pktgen --device "$D2" --device "$D3" --flows 64 --count 2000 --rate 0.005 --verify --json)"
    kill -TERM $sup
    wait $sup
    echo "FALLBACK_EXIT $?"
    ;;
esac
exit 0
