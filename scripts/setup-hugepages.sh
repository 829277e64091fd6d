#!/usr/bin/env bash
# Sets up 2 MiB hugepages and a hugetlbfs mount for ixy-mp's DMA memory.
# Idempotent: does nothing that is already done. Exits 1 with an
# explanation when it cannot (not root, no hugetlbfs in the kernel, ...);
# the simulator then falls back to /dev/shm, real hardware refuses to start.
#
# Usage: scripts/setup-hugepages.sh [PAGES] [MOUNTPOINT]   (default 512 /mnt/huge)
set -u
pages=${1:-${IXY_HUGEPAGES:-512}}
mnt=${2:-${IXY_HUGE_MOUNT:-/mnt/huge}}
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages

fail() { echo "setup-hugepages: $*" >&2; exit 1; }

[ -e "$nr" ] || fail "this kernel has no 2 MiB hugepages ($nr is missing); the simulator will use /dev/shm instead"
current=$(cat "$nr")
if [ "$current" -lt "$pages" ]; then
    [ "$(id -u)" -eq 0 ] || fail "need root to reserve $pages hugepages (have $current): run 'sudo $0'"
    echo "$pages" > "$nr" 2>/dev/null || fail "cannot write $nr"
    current=$(cat "$nr")
    [ "$current" -ge "$pages" ] || echo "setup-hugepages: warning: only $current of $pages hugepages could be reserved (memory fragmented?)" >&2
fi
if ! grep -qs " $mnt hugetlbfs " /proc/mounts; then
    [ "$(id -u)" -eq 0 ] || fail "need root to mount hugetlbfs on $mnt: run 'sudo $0'"
    mkdir -p "$mnt" || fail "cannot create $mnt"
    mount -t hugetlbfs nodev "$mnt" || fail "cannot mount hugetlbfs on $mnt"
fi
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
echo "setup-hugepages: $current hugepages of 2 MiB reserved ($free free), hugetlbfs mounted on $mnt"
