#!/bin/sh
# ixy-mp on virtio-net, inside the guest (supervisor/tests/virtio_vm.rs runs
# it through scripts/vm/run.sh and judges what it prints).
#
# NIC 0 and 1 are the DUT: ixy-supervisor --workers 2 --app forward over
# them. NIC 2 and 3 are the tester: ixy-pktgen sends into NIC 0's cable and
# verifies what comes out of NIC 1's. Phase 1: 20480 frames over 1024 flows.
# Phase 2: traffic while worker 1 is killed with SIGKILL. Phase 3: ixy-latency.
#
# IXY_MODE=sysfs (default): as root, devices unbound, physical addresses.
# IXY_MODE=vfio: devices bound to vfio-pci behind the guest's IOMMU
# (run.sh --iommu), everything of ixy-mp run as uid 1000.
#
# Output lines: "PKTGEN1 {json}", "STATS1 {json}", "KILLED <pid>",
# "PKTGEN2 {json}", "VICTIM_FILES <n>", "STATS2 {json}", "LATENCY {json}", "LATENCY_HW_EXIT
# <code> <message>", "SUPERVISOR_EXIT <code>",
# "HUGEPAGE_FILES <n>", and the supervisor's log as "SUPLOG ..." lines.
set -u
# The test has started (a boot that never gets here may be retried).
echo IXY-TEST-START
. /lib/ixy-vm.sh
mode=${IXY_MODE:-sysfs}
D0=$(vm_bdf 0) D1=$(vm_bdf 1) D2=$(vm_bdf 2) D3=$(vm_bdf 3)

as_ixy() {
    if [ "$mode" = vfio ]; then vm_run_as_user "$@"; else "$@"; fi
}

for n in 0 1 2 3; do
    b=$(vm_bdf $n)
    if [ "$mode" = vfio ]; then
        vm_bind_vfio "$b" >/dev/null || exit 3
    elif [ -e "/sys/bus/pci/devices/$b/driver" ]; then
        echo "$b" >"/sys/bus/pci/devices/$b/driver/unbind"
    fi
done
chmod 1777 /tmp

export RUST_LOG=info
# The shell execs the supervisor, so the pid it writes is the supervisor's.
as_ixy sh -c 'echo $$ >/tmp/sup.pid; exec ixy-supervisor --workers 2 --app forward \
    --device '"$D0"' --device '"$D1"' --cores 2,3 --idle sleep \
    --run-dir /tmp/ixy-run >/tmp/sup.log 2>&1' &
sup=$!
i=0
while [ "$(grep -c 'app forward' /tmp/sup.log 2>/dev/null)" != 2 ]; do
    i=$((i + 1))
    if [ $i -gt 600 ]; then
        echo "the workers did not start"
        sed 's/^/SUPLOG /' /tmp/sup.log
        exit 4
    fi
    sleep 0.1
done

pktgen() {
    as_ixy ixy-pktgen --device "$D2" --device "$D3" --flows 1024 --verify --json "$@"
}
stats() {
    as_ixy ixy-stats --json --interval 0.1 --run-dir /tmp/ixy-run
}

echo "PKTGEN1 $(pktgen --count 20480 --rate 0.005)"
echo "STATS1 $(stats)"

pktgen --rate 0.003 --duration 8 >/tmp/p2.json &
p2=$!
sleep 3
victim=$(sed -n 's/.*worker 1: forked as pid \([0-9]*\).*/\1/p' /tmp/sup.log | tail -n 1)
kill -9 "$victim" && echo "KILLED $victim"
wait $p2
echo "PKTGEN2 $(cat /tmp/p2.json)"
# The killed worker's hugepage files: reclaimed once its queue pair was
# reset (VIRTIO_F_RING_RESET), before the restart.
echo "VICTIM_FILES $(ls /dev/hugepages | grep -c -- "-$victim-" || true)"
echo "STATS2 $(stats)"

# Phase 3: latency with software timestamps (virtio has no 1588 clock;
# asking for hardware ones is refused).
echo "LATENCY $(as_ixy ixy-latency --device "$D2" --device "$D3" --software-timestamps --rate 200 --duration 2 --json)"
as_ixy ixy-latency --device "$D2" --device "$D3" --duration 1 2>/tmp/lat.err >/dev/null
echo "LATENCY_HW_EXIT $? $(tail -n 1 /tmp/lat.err)"

kill -TERM "$(cat /tmp/sup.pid)"
wait $sup
echo "SUPERVISOR_EXIT $?"
echo "HUGEPAGE_FILES $(ls /dev/hugepages | grep -c '^ixy-' || true)"
sed 's/^/SUPLOG /' /tmp/sup.log
exit 0
