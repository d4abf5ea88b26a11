#!/bin/sh
# Instructions per line of `run --once` over generated ws_timing lines, under callgrind (the
# stable measure on a noisy shared machine). Usage: scripts/bench_run_once_callgrind.sh [LINES] [DIR]
# BIN=path/to/nginxlog-sidecar measures another build (e.g. an older commit's) on the same log.
set -eu
lines=${1:-200000}
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$here/target/bench-run-once}
mkdir -p "$dir"
cd "$here"
cargo build --release --bin nginxlog-sidecar --example gen_log
target=${CARGO_TARGET_DIR:-$here/target}
bin=${BIN:-$target/release/nginxlog-sidecar}
log=$dir/ws_timing_$lines.log
[ -f "$log" ] || "$target/release/examples/gen_log" "$lines" "$log"
valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
    "$bin" run --once --format ws_timing --access-log "$log" >"$dir/metrics.prom" 2>"$dir/callgrind.err"
total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$dir/callgrind.err")
echo "instructions: $total for $lines lines: $((total / lines)) per line"
