#!/usr/bin/env bash
# make demo: the whole framework on a simulated lab, in under a minute.
#
#   tester port 2 ──cable── DUT port 0 ─┐  ixy-supervisor, 2 workers,
#   tester port 3 ──cable── DUT port 1 ─┘  app forward, RSS over 2 queues
#
# ixy-sim runs four simulated 82599 ports; ixy-supervisor forwards between
# DUT ports 0 and 1; ixy-pktgen sends 1024 flows both ways from the tester
# ports and verifies every frame; ixy-latency measures the latency through
# the DUT with IEEE 1588 hardware timestamps under background load;
# ixy-stats shows the workers. Everything stops cleanly at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

say "building (release)"
cargo build --release --quiet --bin ixy-sim --bin ixy-supervisor --bin ixy-pktgen --bin ixy-latency --bin ixy-stats
./scripts/setup-hugepages.sh 2>&1 || echo "(no hugepages: simulated DMA memory falls back to /dev/shm)"

bin=target/release
lab="demo-$$"
run_dir="${TMPDIR:-/tmp}/ixy-demo-$$"
mkdir -p "$run_dir"
sim_pid=""
sup_pid=""
cleanup() {
    [ -n "$sup_pid" ] && kill -TERM "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null || true
    [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
    rm -rf "$run_dir"
}
trap cleanup EXIT

wait_for() { # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "demo: timed out waiting for: $*" >&2; return 1; }
        sleep 0.1
    done
}

say "starting the simulated lab '$lab' (ports 0-3, cables 0-2 and 1-3, 10 Gbit/s)"
RUST_LOG=warn "$bin/ixy-sim" --lab "$lab" > "$run_dir/sim.log" 2>&1 &
sim_pid=$!
wait_for 10 test -S "/dev/shm/ixy-sim/$lab/control"

say "starting ixy-supervisor: 2 workers forwarding between DUT ports 0 and 1"
RUST_LOG=warn "$bin/ixy-supervisor" --workers 2 --app forward \
    --device "sim:$lab/0" --device "sim:$lab/1" \
    --oversubscribe --idle yield --rx-ring 2048 --tx-ring 2048 \
    --run-dir "$run_dir/run" > "$run_dir/supervisor.log" 2>&1 &
sup_pid=$!
workers_alive() { "$bin/ixy-stats" --run-dir "$run_dir/run" --json --interval 0.1 2>/dev/null | grep -q '"alive":2'; }
wait_for 20 workers_alive
echo "workers up: each owns one rx/tx queue pair on both ports and its own mempool"

say "ixy-pktgen: 1024 flows both ways for 4 s at 0.1 Mpps per direction, every frame verified"
"$bin/ixy-pktgen" --device "sim:$lab/2" --device "sim:$lab/3" --bidirectional --verify \
    --flows 1024 --rate 0.1 --duration 4

say "ixy-pktgen flat out for 3 s: what this machine forwards (loss allowed, order and duplicates checked)"
"$bin/ixy-pktgen" --device "sim:$lab/2" --device "sim:$lab/3" --bidirectional --verify \
    --flows 1024 --rate line --duration 3 | tee "$run_dir/flat-out.log"
achieved=$(awk '/ -> .* rx [0-9.]+ Mpps/ { for (i = 1; i < NF; i++) if ($i == "rx") r = $(i + 1); printf "%s%s", sep, r; sep = " and " }' "$run_dir/flat-out.log")
echo "forwarded ${achieved:-?} Mpps per direction through the workers on $(nproc) cores shared by the"
echo "simulator, 2 workers and pktgen (the target is 1 Mpps per direction where the cores allow)"

say "ixy-latency: PTP probes through the DUT, hardware timestamps, 0.05 Mpps background load"
echo "(on a 2-core machine the simulator, two workers and the tester share the cores:"
echo " the median shows the path through the DUT, the tail shows the OS scheduler)"
"$bin/ixy-latency" --device "sim:$lab/2" --device "sim:$lab/3" --rate 1000 --duration 3 --load 0.05

say "ixy-stats: what each worker did (rates are 0 now that the traffic stopped)"
"$bin/ixy-stats" --run-dir "$run_dir/run" --interval 0.2

say "stopping: SIGTERM to the supervisor (workers detach their queues, NICs reset)"
kill -TERM "$sup_pid"
wait "$sup_pid"
sup_pid=""
sed -n '/summary/,$p' "$run_dir/supervisor.log"
kill -TERM "$sim_pid"
wait "$sim_pid" || true
sim_pid=""
say "demo done: nothing lost, nothing reordered, latency measured, everything shut down"
