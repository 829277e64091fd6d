# ixy-mp: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
# Tests start several simulated labs at once on a 2-core machine; the
# simulator's polling threads back off when idle, so parallel tests are fine.
TEST_FLAGS ?=

# Seconds `make fuzz` runs each fuzz target.
FUZZ_SECONDS ?= 30

.PHONY: all build test test-vm test-faults demo bench fuzz lint fmt doc hugepages clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## The main job: a simulated lab, the supervisor with workers, verified
## traffic, a latency histogram and the workers' stats (scripts/demo.sh).
demo:
	./scripts/demo.sh

## Every test of the workspace (unit, integration, doc).
test:
	@mkdir -p target
	set -o pipefail; $(CARGO) test --workspace $(TEST_FLAGS) 2>&1 | tee target/test.log
	@# The driver once more on the /dev/shm fallback instead of hugepages.
	set -o pipefail; IXY_HUGEPAGES=off $(CARGO) test -p ixy-driver --test sim_e2e $(TEST_FLAGS) 2>&1 | tee -a target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' target/test.log

## ixy-mp on QEMU's virtio-net in a TCG guest (scripts/vm/README.md): the
## rig's own smoke test, then the supervisor, pktgen and VFIO tests that
## `make test` also runs. Fetches QEMU and a kernel into a cache (no
## install); needs root.
test-vm:
	./scripts/vm/smoke.sh
	$(CARGO) test -p ixy-supervisor --test virtio_vm $(TEST_FLAGS)

## The fault suite's long form (RELIABILITY.md): a worker killed every 2 s
## for 20 s, a 5 s SIGSTOP, 10 s of bad frames; `make test` runs the short
## form of the same tests.
test-faults:
	IXY_FAULTS_LONG=1 $(CARGO) test -p ixy-supervisor --test faults $(TEST_FLAGS) -- --nocapture

## Benchmarks print figures; targets live here, never in tests. Cost per
## packet against batch size, end to end, scaling (ixy-bench), and the
## simulator's own throughput; tables, CSV and SVG under target/bench/.
bench:
	$(CARGO) build --release --workspace --bins
	./target/release/ixy-bench
	$(CARGO) bench -p ixy-sim --bench throughput

## Fuzzing (nightly; installs cargo-fuzz if missing): every target of
## fuzz/ for FUZZ_SECONDS seconds, from the committed corpus
## (fuzz/corpus/TARGET, which `make test` replays on stable); new inputs
## go to target/fuzz-corpus/TARGET, crashes to fuzz/artifacts/TARGET.
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	@cd fuzz && targets=$$($(CARGO) +nightly fuzz list) && failed= && \
	for t in $$targets; do \
		mkdir -p ../target/fuzz-corpus/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(CARGO) +nightly fuzz run $$t ../target/fuzz-corpus/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: findings in$$failed (inputs under fuzz/artifacts)"; exit 1; fi; \
	echo "fuzz: no findings in $$(echo $$targets | wc -w) targets"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

fmt:
	$(CARGO) fmt --all

doc:
	$(CARGO) doc --workspace --no-deps

## 512 hugepages of 2 MiB and a hugetlbfs mount on /mnt/huge (needs root).
hugepages:
	./scripts/setup-hugepages.sh

clean:
	$(CARGO) clean
