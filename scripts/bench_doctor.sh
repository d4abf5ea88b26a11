#!/usr/bin/env bash
# Benchmark of `doctor` against `compare` on the same generated ws_timing log,
# and of parsing a 10,000-line nginx config. Runs alternate (doctor, compare, doctor, ...) so
# both see the same machine noise; the medians and their ratio are printed as markdown.
#
#   scripts/bench_doctor.sh [LINES] [DIR]      # defaults: 1000000 target/bench-doctor
#   RUNS=5 (paired runs)
#
# Needs: a Rust toolchain and GNU time at /usr/bin/time (Debian: apt-get install time).
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
dir="${2:-target/bench-doctor}"
runs="${RUNS:-5}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

cargo build --release --quiet --bin nginxlog-sidecar --example gen_log
bin="$PWD/target/release/nginxlog-sidecar"
log="$dir/access.log"
if [ "$(cat "$dir/lines" 2>/dev/null || true)" != "$lines" ]; then
  ./target/release/examples/gen_log "$lines" "$log"
  echo "$lines" > "$dir/lines"
fi

# The config the log could have come from: the /ws/ location lacks the upgrade headers.
cat > "$dir/nginx.conf" <<EOF
http {
    upstream app { server 127.0.0.1:8000; }
    server {
        listen 443;
        server_name api.example.com;
        access_log $log;
        location / { proxy_pass http://app; }
        location /api/ { proxy_pass http://app; }
        location /ws/ { proxy_pass http://app; }
    }
}
EOF

# A 10,000-line config: 1,000 servers of 10 lines, each with a WebSocket location.
big="$dir/big.conf"
{
  echo "http {"
  echo "    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }"
  for i in $(seq 1 1000); do
    cat <<EOF
    server {
        listen 80;
        server_name s$i.example.com;
        location /api/$i/ { proxy_pass http://127.0.0.1:8000; }
        location /ws/$i/ {
            proxy_pass http://127.0.0.1:8000;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
        }
    }
EOF
  done
  echo "}"
} > "$big"

split=$((1795830000 + lines / 2000))
wall() { /usr/bin/time -f "%e" "$@" >/dev/null 2>"$dir/time.txt" || true; tail -1 "$dir/time.txt"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$dir/doctor.txt"; : > "$dir/compare.txt"; : > "$dir/config.txt"
for _ in $(seq "$runs"); do
  wall "$bin" doctor --config "$dir/nginx.conf" --access-log "$log" --nginx-version 1.22.1 >> "$dir/doctor.txt"
  wall "$bin" compare --access-log "$log" --split "$split" >> "$dir/compare.txt"
  wall "$bin" doctor --config "$big" --nginx-version 1.22.1 >> "$dir/config.txt"
done
d=$(median < "$dir/doctor.txt"); c=$(median < "$dir/compare.txt"); g=$(median < "$dir/config.txt")
echo "| run | median wall s (of $runs) |"
echo "|---|---|"
echo "| doctor, $lines-line access log | $d |"
echo "| compare, same file | $c |"
echo "| doctor / compare | $(awk -v a="$d" -v b="$c" 'BEGIN {printf "%.2f", a / b}') |"
echo "| doctor, $(wc -l < "$big")-line config, no logs | $g |"
