#!/usr/bin/env bash
# Two network namespaces on the simulator's TAP ports: the Linux stack on
# both sides of the framework (README "See it with real traffic").
#
#   scripts/netns-lab.sh up TAP_A TAP_B [NS_A NS_B]   # default namespaces ixy-a, ixy-b
#   scripts/netns-lab.sh down [NS_A NS_B]
#
# `up` moves the TAP devices a lab created (ixy-sim --tap 0:TAP_A --tap
# 1:TAP_B) into their own namespaces, NS_A with 10.10.0.1/24 on TAP_A and
# NS_B with 10.10.0.2/24 on TAP_B, and brings them up. IPv6 is off on them,
# so that only what you send crosses the DUT. ARP works through a
# forwarding DUT (it forwards broadcasts). Needs root. `down` deletes the
# namespaces; the TAP devices go when the lab stops.
set -euo pipefail

usage() {
    echo "usage: $0 up TAP_A TAP_B [NS_A NS_B] | down [NS_A NS_B]" >&2
    exit 2
}

cmd=${1:-}
case "$cmd" in
up)
    [ $# -ge 3 ] || usage
    tap_a=$2 tap_b=$3 ns_a=${4:-ixy-a} ns_b=${5:-ixy-b}
    for pair in "$ns_a $tap_a 10.10.0.1" "$ns_b $tap_b 10.10.0.2"; do
        set -- $pair
        ns=$1 tap=$2 addr=$3
        ip link show "$tap" >/dev/null 2>&1 || {
            echo "$0: no TAP device $tap: start ixy-sim with --tap first" >&2
            exit 2
        }
        ip netns add "$ns"
        ip link set "$tap" netns "$ns"
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1"
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$addr/24" dev "$tap"
        ip -n "$ns" link set "$tap" up
    done
    echo "$ns_a: $tap_a 10.10.0.1/24   $ns_b: $tap_b 10.10.0.2/24"
    ;;
down)
    ns_a=${2:-ixy-a} ns_b=${3:-ixy-b}
    for ns in "$ns_a" "$ns_b"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    ;;
*)
    usage
    ;;
esac
