#!/usr/bin/env bash
# Instructions and allocations per spawn+join, mayfly against raw may, load-insensitive:
# runtime/examples/spawn_cost.rs under valgrind (cachegrind, no cache simulation) twice per
# side, with N1 and N2 rounds; (I refs(N2) - I refs(N1)) / (N2 - N1) cancels the start-up.
#
#   benches/spawn_cost.sh            # N1=2000, N2=12000
#   N1=1000 N2=5000 benches/spawn_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-2000}
N2=${N2:-12000}
cargo build -q -p mayfly --release --example spawn_cost
bin=target/release/examples/spawn_cost
irefs() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
}
for side in may mayfly; do
    a=$(irefs "$side" "$N1")
    b=$(irefs "$side" "$N2")
    allocs=$("$bin" "$side" "$N2" | awk -F'rounds, ' '{ split($2, w, " "); print w[1] }')
    echo "$side: $(( (b - a) / (N2 - N1) )) instructions and $allocs allocations per spawn+join"
done
