#!/usr/bin/env bash
# Benchmark of `compare` and `backfill` against `mtail --one_shot`, in one run, on the
# same generated ws_timing log, plain and gzip. Prints a markdown table for BENCHMARKS.md.
#
#   scripts/bench_history.sh [LINES] [DIR]      # defaults: 5000000 target/bench-history
#   RUNS=3 (runs per sidecar measurement; the median is reported), THREADS= (--threads)
#
# Needs: a Rust toolchain, gzip, GNU time at /usr/bin/time (Debian: apt-get install time),
# python3 (to cross-check the counts), and mtail for the comparison (Debian:
# apt-get install mtail); without mtail the sidecar rows are still measured.
# Not part of `cargo test`: it writes ~1.6 GB and takes a few minutes (mtail alone ~100 s).
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-5000000}"
dir="${2:-target/bench-history}"
runs="${RUNS:-3}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

cargo build --release --quiet --bin nginxlog-sidecar --example gen_log
bin="$PWD/target/release/nginxlog-sidecar"
log="$dir/access.log"
if [ "$(cat "$dir/lines" 2>/dev/null || true)" != "$lines" ] || [ ! -s "$log.gz" ]; then
  echo "generating $lines lines ..." >&2
  ./target/release/examples/gen_log "$lines" "$log"
  gzip -c "$log" > "$log.gz"
  echo "$lines" > "$dir/lines"
fi
# The generator starts at 1795830000 and writes 1,000 lines per second: split in the middle.
split=$((1795830000 + lines / 2000))
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")

# measure NAME CMD... -> appends "NAME wall_s rss_kb cpu%" (median wall of $runs) to results
results="$dir/results.txt"
: > "$results"
measure() {
  local name="$1" n="$2"; shift 2
  local rows=()
  for _ in $(seq "$n"); do
    /usr/bin/time -f "%e %M %P" -o "$dir/time.txt" "$@" > "$dir/stdout.txt" 2> "$dir/stderr.txt" \
      || { echo "$name failed:" >&2; cat "$dir/stderr.txt" >&2; exit 1; }
    rows+=("$(cat "$dir/time.txt")")
  done
  printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(( (n + 1) / 2 ))p" | sed "s/^/$name /" >> "$results"
}

cmp_args=(compare --log-format ws_timing --split "$split" --window 7d --format json "${threads[@]}")
bf_args=(backfill --format ws_timing --step 60s "${threads[@]}")
measure compare-plain "$runs" "$bin" "${cmp_args[@]}" --access-log "$log" --output "$dir/compare.json"
measure compare-gzip "$runs" "$bin" "${cmp_args[@]}" --access-log "$log.gz" --output "$dir/compare-gz.json"
measure backfill-plain "$runs" "$bin" "${bf_args[@]}" --access-log "$log" --output "$dir/backfill.om"
measure backfill-gzip "$runs" "$bin" "${bf_args[@]}" --access-log "$log.gz" --output "$dir/backfill-gz.om"
cmp -s "$dir/backfill.om" "$dir/backfill-gz.om" || { echo "plain and gzip backfills differ" >&2; exit 1; }

have_mtail=0
if command -v mtail >/dev/null 2>&1; then
  have_mtail=1
  mkdir -p "$dir/mtail"
  # The same counters: requests by path/method/status, upgrade attempts by path/status, and the
  # handshake histogram; ids in paths collapsed (the sidecar's :id) so cardinality is equal.
  cat > "$dir/mtail/ws_timing.mtail" <<'MTAIL'
counter http_requests_total by path, method, status
counter ws_upgrade_requests_total by path, status
histogram ws_handshake_duration_seconds by path buckets 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10

/^\S+ - \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>[^ ?"]*?)(\/\d+)?(\?[^ "]*)? [^"]*" (?P<status>\d{3}) \d+ "[^"]*" "[^"]*" rt=[\d.]+ uct="[^"]*" uht="(?P<uht>[^"]*)" urt="[^"]*" upgrade="(?P<upgrade>[^"]*)"$/ {
  http_requests_total[$path][$method][$status]++
  $upgrade != "-" {
    ws_upgrade_requests_total[$path][$status]++
    $uht != "-" {
      ws_handshake_duration_seconds[$path] = float($uht)
    }
  }
}
MTAIL
  measure mtail-plain 1 mtail --one_shot --one_shot_format=prometheus --progs "$dir/mtail" --logs "$log"
  cp "$dir/stdout.txt" "$dir/mtail.prom"
  # Both must have counted the same upgrades.
  python3 - "$dir/compare.json" "$dir/mtail.prom" <<'PY'
import json, re, sys
rep = json.load(open(sys.argv[1]))
ours = {s: sum(p[ph][k] for p in rep["paths"] for ph in ("before", "after"))
        for s, k in (("101", "switched_101"), ("403", "forbidden_403"))}
theirs = {"101": 0, "403": 0}
for line in open(sys.argv[2]):
    m = re.match(r'ws_upgrade_requests_total\{.*status="(\d+)".*\} (\d+)', line)
    if m and m.group(1) in theirs:
        theirs[m.group(1)] += int(m.group(2))
if ours != theirs:
    sys.exit(f"counts differ: sidecar {ours}, mtail {theirs}")
print(f"cross-check: sidecar and mtail both counted {ours['101']} x 101 and {ours['403']} x 403", file=sys.stderr)
PY
else
  echo "mtail not installed (Debian: apt-get install mtail): no comparison rows" >&2
fi

bytes=$(stat -c %s "$log")
gzbytes=$(stat -c %s "$log.gz")
echo
echo "$lines lines, $((bytes / lines)) bytes/line, plain $((bytes / 1048576)) MiB, gzip $((gzbytes / 1048576)) MiB; $(nproc) cores; median of $runs runs"
echo
echo "| run | wall s | lines/s | peak RSS MiB | CPU | vs mtail (wall) |"
echo "|---|---:|---:|---:|---:|---:|"
mtail_wall=$(awk '$1 == "mtail-plain" {print $2}' "$results")
while read -r name wall rss cpu; do
  lps=$(awk -v l="$lines" -v w="$wall" 'BEGIN {printf "%.0f", l / w}')
  mib=$(awk -v r="$rss" 'BEGIN {printf "%.1f", r / 1024}')
  ratio="-"
  if [ "$have_mtail" = 1 ] && [ "$name" != mtail-plain ]; then
    ratio=$(awk -v m="$mtail_wall" -v w="$wall" 'BEGIN {printf "%.1fx", m / w}')
  fi
  echo "| $name | $wall | $lps | $mib | $cpu | $ratio |"
done < "$results"
