#!/usr/bin/env bash
# The rig's smoke test: the guest checks of guest/smoke.sh, once without
# and once with the vIOMMU (scripts/vm/README.md).
#
#   scripts/vm/smoke.sh
#
# Exit 0: both passed; 1: a check failed; 2: no rig here (fetch.sh could
# not fetch and says why; fatal under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

"$here/fetch.sh" || exit 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ixy-vm-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A dynamically linked binary: run.sh must bring the loader and libc.
cat >"$tmp/hello.c" <<'C'
#include <gnu/libc-version.h>
#include <stdio.h>
int main(void) { printf("glibc %s\n", gnu_get_libc_version()); return 0; }
C
gcc -O2 -o "$tmp/ixy-vm-hello" "$tmp/hello.c"
echo "smoke file" >"$tmp/file"

passed=0 failed=0
for mode in plain iommu; do
    args=(--hugepages 16 --bin "$tmp/ixy-vm-hello" --file "$tmp/file:/srv/smoke-file"
        --script "$here/guest/smoke.sh")
    [ $mode = iommu ] && args=(--iommu "${args[@]}")
    echo "== vm smoke: $mode"
    if "$here/run.sh" "${args[@]}"; then
        passed=$((passed + 1))
    else
        echo "vm smoke: $mode FAILED (exit $?)"
        failed=$((failed + 1))
    fi
done
echo "vm smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
