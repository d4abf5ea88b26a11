#!/usr/bin/env bash
# Cost of a scrape: curl timings of /metrics over plain HTTP,
# over TLS with basic auth (a new connection each time: handshake + cached credentials), and
# of a wrong password (one bcrypt round at cost 10 each), against a sidecar holding a
# generated log's series. Medians and 90th percentiles are printed as markdown.
#
#   scripts/bench_scrape.sh [LINES] [DIR]      # defaults: 100000 target/bench-scrape; N=200, SKIP_BUILD=
#
# Needs: a Rust toolchain, curl and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-100000}"
dir="${2:-target/bench-scrape}"
n="${N:-200}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
target="${CARGO_TARGET_DIR:-target}"

# SKIP_BUILD=1: use the release binary already built (and any built gen_log).
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bin nginxlog-sidecar --example gen_log
bin="$target/release/nginxlog-sidecar"
gen="$target/release/examples/gen_log"
[ -x "$gen" ] || gen="$target/debug/examples/gen_log"
"$gen" "$lines" "$dir/access.log"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
# The demo user of deploy/compose/tls (password change-me-scrape-password, bcrypt cost 10).
hash="$(sed -n 's/^  prometheus: //p' deploy/compose/tls/web-config.yml)"
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: %s\n' \
  "$hash" > "$dir/web.yml"

"$bin" run --access-log "$dir/access.log" --from-start --format ws_timing --listen 127.0.0.1:19781 2>/dev/null &
plain=$!
"$bin" run --access-log "$dir/access.log" --from-start --format ws_timing --listen 127.0.0.1:19782 \
  --web.config.file "$dir/web.yml" 2>/dev/null &
tls=$!
trap 'kill $plain $tls 2>/dev/null' EXIT
sleep 1
want="nginxlog_lines_read_total"
until curl -s 127.0.0.1:19781/metrics | grep -q "^$want{.*} $lines\$"; do sleep 0.2; done
auth=(-u prometheus:change-me-scrape-password --cacert "$dir/cert.pem")
until curl -s "${auth[@]}" https://127.0.0.1:19782/metrics | grep -q "^$want{.*} $lines\$"; do sleep 0.2; done

stats() { sort -n | awk '{a[NR]=$1} END {printf "%.2f ms | %.2f ms", a[int(NR*0.5)+1]*1000, a[int(NR*0.9)+1]*1000}'; }
bytes=$(curl -s 127.0.0.1:19781/metrics | wc -c)
echo "| request ($n each, new connection) | median | p90 |"
echo "|---|---|---|"
echo "| plain HTTP /metrics ($bytes bytes) | $(for _ in $(seq "$n"); do curl -s -o /dev/null -w '%{time_total}\n' 127.0.0.1:19781/metrics; done | stats) |"
echo "| plain HTTP /metrics, OpenMetrics | $(for _ in $(seq "$n"); do curl -s -o /dev/null -H 'Accept: application/openmetrics-text;version=1.0.0' -w '%{time_total}\n' 127.0.0.1:19781/metrics; done | stats) |"
echo "| TLS + basic auth /metrics | $(for _ in $(seq "$n"); do curl -s -o /dev/null "${auth[@]}" -w '%{time_total}\n' https://127.0.0.1:19782/metrics; done | stats) |"
echo "| TLS, wrong password (401) | $(for _ in $(seq 20); do curl -s -o /dev/null -u prometheus:wrong --cacert "$dir/cert.pem" -w '%{time_total}\n' https://127.0.0.1:19782/metrics; done | stats) |"
echo "| TLS /healthz | $(for _ in $(seq "$n"); do curl -s -o /dev/null "${auth[@]}" -w '%{time_total}\n' https://127.0.0.1:19782/healthz; done | stats) |"
