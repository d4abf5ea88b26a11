#!/usr/bin/env bash
# Memory per series: `run --once` peak RSS over a log with N distinct label sets minus the same
# number of lines on one label set, divided by N; and the exposition's bytes per series.
# Prints the figures for BENCHMARKS.md.
#
#   scripts/bench_series.sh [SERIES] [DIR]      # defaults: 200000 target/bench-series
#
# Needs: a release build (cargo build --release), GNU time at /usr/bin/time, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200000}"
dir="${2:-target/bench-series}"
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/nginxlog-sidecar}"
mkdir -p "$dir"
# combined: every path has one request row per (method, status) plus a bytes series; 10
# methods x 20 registered statuses = 200 rows per path.
python3 - "$n" "$dir" <<'PY'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
methods = ["GET","HEAD","POST","PUT","DELETE","PATCH","OPTIONS","CONNECT","TRACE","PROPFIND"]
statuses = [200,201,202,204,301,302,304,400,401,403,404,405,409,429,500,501,502,503,504,101]
line = '10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "{m} /api/p{p}x/item HTTP/1.1" {s} 512 "-" "bench"\n'
with open(f"{d}/many.log", "w") as many, open(f"{d}/one.log", "w") as one:
    for i in range(n):
        p, r = divmod(i, 200)
        many.write(line.format(m=methods[r % 10], p=p, s=statuses[r // 10]))
        one.write(line.format(m="GET", p=0, s=200))
PY
paths=$(( n / 200 + 1 ))
rss() {
  /usr/bin/time -f '%M' "$bin" run --once --format combined --max-paths "$paths" \
    --max-series 100000000 --access-log "$1" 2>"$dir/time" >"$dir/out"
  tail -1 "$dir/time"
}
one=$(rss "$dir/one.log")
many=$(rss "$dir/many.log")
samples=$(grep -vc '^#' "$dir/out")
bytes=$(wc -c <"$dir/out")
echo "series $samples; peak RSS one label set ${one} KiB, $n label sets ${many} KiB"
python3 -c "
one, many, n, b = $one, $many, $samples, $bytes
print(f'registry + one render: {(many - one) * 1024 / n:.0f} B per series; exposition {b / n:.0f} B per series')"
